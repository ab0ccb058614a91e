//! Loads run from a process of their own: what a separate client sees, as a user's tool on
//! the same machine would (the server's process pays nothing for the load generator's work,
//! and the two are scheduled as two programs are). The bench runs itself with `--load`, and
//! the child prints one line of JSON when it is done.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};

use crate::figure::lat_extra;
use crate::load::{tcp_bulk, tcp_pingpong, tcp_pingpong_each, udp_echo};
use crate::servers::this_bench;

/// One load from another process: `shape` is `tcp-pingpong:N`, `tcp-bulk` or `udp-echo:N`.
/// Returns its rate and its extra figures (latency percentiles, loss).
pub(crate) async fn outside(
    shape: &str,
    target: SocketAddr,
    run: Duration,
) -> (f64, BTreeMap<String, f64>) {
    outside_each(shape, &[target], run).await
}

/// [`outside`] against several targets (`tcp-pingpong-each`: one connection to each).
pub(crate) async fn outside_each(
    shape: &str,
    targets: &[SocketAddr],
    run: Duration,
) -> (f64, BTreeMap<String, f64>) {
    let millis = run.as_millis().to_string();
    let targets = targets
        .iter()
        .map(SocketAddr::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let (mut child, line) =
        this_bench(&["--load", shape, "--target", &targets, "--millis", &millis]).await;
    let _ = child.wait().await;
    let v: Value = serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("the {shape} load said {line:?}: {e}"));
    let mut extra = BTreeMap::new();
    let mut rate = f64::NAN;
    for (k, x) in v.as_object().into_iter().flatten() {
        let Some(x) = x.as_f64() else { continue };
        if k == "rate" {
            rate = x;
        } else {
            extra.insert(k.clone(), x);
        }
    }
    (rate, extra)
}

/// The child's side: runs the load and prints its result.
pub(crate) async fn load_child(shape: &str, target: &str, millis: u64) {
    let targets: Vec<SocketAddr> = target
        .split(',')
        .map(|t| t.parse().expect("--target ADDR[,ADDR...]"))
        .collect();
    let target = targets[0];
    let run = Duration::from_millis(millis);
    let (kind, n) = match shape.split_once(':') {
        Some((k, n)) => (k, n.parse::<usize>().expect("a count after ':'")),
        None => (shape, 1),
    };
    let out = match kind {
        "tcp-pingpong" => {
            let (rate, lat) = tcp_pingpong(target, n, run).await;
            with(json!({ "rate": rate }), lat_extra(lat))
        }
        "tcp-pingpong-each" => {
            let (rate, lat) = tcp_pingpong_each(&targets, run).await;
            with(json!({ "rate": rate }), lat_extra(lat))
        }
        "tcp-bulk" => json!({ "rate": tcp_bulk(target, run).await }),
        "udp-echo" => {
            let (rate, loss, lat) = udp_echo(target, n, run).await;
            with(json!({ "rate": rate, "loss": loss }), lat_extra(lat))
        }
        other => panic!("no load {other:?}"),
    };
    println!("{out}");
}

fn with(mut v: Value, extra: BTreeMap<String, f64>) -> Value {
    for (k, x) in extra {
        v[k] = json!(x);
    }
    v
}
