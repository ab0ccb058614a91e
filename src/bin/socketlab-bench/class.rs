//! A class on one server: many workspaces, each with an echo server, a viewer and a client
//! doing round trips; the same beside one workspace flooding at full speed; the same with a
//! lab handed out to every workspace and its steps checked against every call; and what an
//! idle workspace costs in memory. The class server runs alone in a child process, so its
//! resident memory is its own.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::Plan;
use crate::figure::{Figure, cpu_us_of, lat_extra, order, rss_of};
use crate::load::tcp_bulk;
use crate::outside::{outside, outside_each};
use crate::servers::{CLASS_TOKEN, Child, Who, http_as};
use crate::viewer::Viewer;

/// A student of the benchmark's class: its credential and its echo server's address.
pub(crate) struct Student {
    pub(crate) cred: String,
    server: Option<SocketAddr>,
}

pub(crate) async fn join(addr: SocketAddr, code: &str, name: &str) -> Student {
    let (st, v) = http_as(
        addr,
        None,
        "POST",
        "/api/join",
        Some(&json!({"code": code, "name": name})),
    )
    .await;
    assert_eq!(st, 201, "join {name}: {v}");
    Student {
        cred: v["credential"].as_str().expect("a credential").to_string(),
        server: None,
    }
}

async fn echo_server(addr: SocketAddr, s: &mut Student) -> SocketAddr {
    let spec = json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo",
                      "options": {"recv_size": 65536}});
    let (st, v) = http_as(addr, Some(&s.cred), "POST", "/api/engines", Some(&spec)).await;
    assert_eq!(st, 201, "{v}");
    let local = v["local"].as_str().unwrap().parse().unwrap();
    s.server = Some(local);
    local
}

/// What one phase of a round measured.
#[derive(Clone, Copy)]
enum Phase {
    Quiet,
    Flood,
    Baseline,
}

pub(crate) async fn run_class(plan: Plan, figures: &mut Vec<Figure>) {
    let n = plan.workspaces;
    let watched = if plan.viewer {
        "a mode=live viewer each on batched frames (as the page has)"
    } else {
        "no viewers"
    };
    let mut rt = Figure::new(
        format!("class: {n} workspaces' echo round trips, {watched}"),
        "round trips/s",
        true,
    );
    let mut in_session = Figure::new(
        format!("class: {n} workspaces' echo round trips, {watched}, every history full"),
        "round trips/s",
        true,
    );
    let mut flood = Figure::new(
        format!("class: {n} workspaces beside one flooding"),
        "round trips/s (with / without)",
        true,
    );
    let mut labbed = Figure::new(
        format!("class: {n} workspaces with a lab handed out, its steps checked"),
        "round trips/s (with / without)",
        true,
    );
    let mut rss = Figure::new("class: RSS per idle workspace", "bytes", false);
    // The bare connections: a tokio echo server in a process of its own, as the class server
    // is; every load comes from a third process.
    let baseline = Child::start("baseline").await;
    for r in 0..plan.rounds {
        let child = Child::start("socketlab-class").await;
        let addr = child.addr;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (_, me) = http_as(addr, Some(CLASS_TOKEN), "GET", "/api/workspace", None).await;
        let code = me["class"]["code"]
            .as_str()
            .expect("the class code")
            .to_string();
        // Idle workspaces: joined, nothing in them yet.
        let before = rss_of(child.pid());
        let mut students = Vec::with_capacity(n);
        for i in 0..n {
            students.push(join(addr, &code, &format!("student {i}")).await);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let idle = rss_of(child.pid()).saturating_sub(before) as f64 / n as f64;
        rss.cell(Who::Socketlab)
            .push(idle, BTreeMap::from([("workspaces".to_string(), n as f64)]));
        // Each gets an echo server and a viewer that reads every event.
        let lat = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut servers = Vec::with_capacity(n);
        let mut viewers = Vec::with_capacity(n);
        for s in &mut students {
            servers.push(echo_server(addr, s).await);
            if plan.viewer {
                viewers.push(
                    Viewer::attach_as(addr, Some(&s.cred), "e1", "live", Some(lat.clone())).await,
                );
            }
        }
        // The flooding workspace: a student sending 64 KiB writes as fast as the echo allows.
        let mut loud = join(addr, &code, "flooding").await;
        let loud_server = echo_server(addr, &mut loud).await;
        if let Some(ms) = std::env::var("BENCH_WARM_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            outside_each("tcp-pingpong-each", &servers, Duration::from_millis(ms)).await;
        }
        let mut quiet = None;
        for phase in order(r, &[Phase::Quiet, Phase::Flood, Phase::Baseline]) {
            match phase {
                Phase::Quiet => {
                    lat.lock().unwrap().clear();
                    let (rate, mut extra) = on_class(child.pid(), &servers, plan.run).await;
                    let events = lat_extra(std::mem::take(&mut *lat.lock().unwrap()));
                    extra.insert("event_p99_us".into(), events["p99_us"]);
                    extra.insert("event_p50_us".into(), events["p50_us"]);
                    extra.insert("rss_bytes".into(), rss_of(child.pid()) as f64);
                    rt.cell(Who::Socketlab).push(rate, extra);
                    quiet = Some(rate);
                }
                Phase::Flood => {
                    let bulk = tokio::spawn(tcp_bulk(loud_server, plan.run));
                    let (rate, mut extra) =
                        outside_each("tcp-pingpong-each", &servers, plan.run).await;
                    let gbit = bulk.await.unwrap_or(0.0);
                    extra.insert("flood_gbit_s".into(), gbit);
                    flood.cell(Who::Socketlab).push(rate, extra);
                }
                Phase::Baseline => {
                    let (rate, extra) = on_baseline(&baseline, n, plan.run).await;
                    rt.cell(Who::Baseline).push(rate, extra);
                }
            }
        }
        if let Some(q) = quiet {
            flood.cell(Who::Baseline).push(q, BTreeMap::new());
        }
        // A lesson under way: every history full, each new event evicting the oldest (a
        // fresh server's histories grow into memory never touched, which costs otherwise).
        // Measured against the bare connections again, back to back, in turns.
        let filled = fill_histories(addr, &students, &servers).await;
        for class_first in order(r, &[true, false]) {
            if class_first {
                let (rate, mut extra) = on_class(child.pid(), &servers, plan.run).await;
                extra.insert("seconds_to_fill".into(), filled.as_secs_f64());
                in_session.cell(Who::Socketlab).push(rate, extra);
            } else {
                let (rate, extra) = on_baseline(&baseline, n, plan.run).await;
                in_session.cell(Who::Baseline).push(rate, extra);
            }
        }
        // Without a lab, just before; then with one handed out to all and loaded: its echo
        // server is where the round trips go, every call of it checked against the step
        // awaited (a text no round trip carries, so every check runs to its end).
        let (without, _) = outside_each("tcp-pingpong-each", &servers, plan.run).await;
        let lab_servers = hand_out_lab(addr, &students).await;
        drop(viewers);
        let mut viewers = Vec::with_capacity(n);
        if plan.viewer {
            for s in &students {
                viewers.push(Viewer::attach_as(addr, Some(&s.cred), "e2", "live", None).await);
            }
        }
        let (with, extra) = outside_each("tcp-pingpong-each", &lab_servers, plan.run).await;
        labbed.cell(Who::Socketlab).push(with, extra);
        labbed.cell(Who::Baseline).push(without, BTreeMap::new());
        drop(viewers);
        drop(child);
        eprintln!("  class round {}/{} done", r + 1, plan.rounds);
    }
    figures.extend([rt, in_session, flood, labbed, rss]);
}

/// The longest the class's load runs to fill every student's history.
const MAX_FILL: Duration = Duration::from_secs(60);

/// Runs the class's load until every student's history is full and has begun to drop its
/// oldest events (the oldest kept is no longer the first), or for `MAX_FILL`; returns how
/// long that took.
async fn fill_histories(
    addr: SocketAddr,
    students: &[Student],
    servers: &[SocketAddr],
) -> Duration {
    let start = std::time::Instant::now();
    loop {
        let mut full = true;
        for s in students {
            let (_, v) = http_as(
                addr,
                Some(&s.cred),
                "GET",
                "/api/events?since=0&limit=1",
                None,
            )
            .await;
            if v["events"][0]["seq"].as_u64().unwrap_or(0) <= 1 {
                full = false;
                break;
            }
        }
        if full || start.elapsed() >= MAX_FILL {
            return start.elapsed();
        }
        outside_each("tcp-pingpong-each", servers, Duration::from_secs(2)).await;
    }
}

/// One round of the class's load, with the class server's CPU per round trip.
async fn on_class(pid: u32, servers: &[SocketAddr], run: Duration) -> (f64, BTreeMap<String, f64>) {
    let cpu = cpu_us_of(pid);
    let (rate, mut extra) = outside_each("tcp-pingpong-each", servers, run).await;
    let used = cpu_us_of(pid) - cpu;
    extra.insert(
        "server_cpu_us_per_rt".into(),
        per_round_trip(used, rate, run),
    );
    (rate, extra)
}

/// The same load on the bare connections (`n` of them), with that server's CPU per round
/// trip.
async fn on_baseline(baseline: &Child, n: usize, run: Duration) -> (f64, BTreeMap<String, f64>) {
    let cpu = cpu_us_of(baseline.pid());
    let (rate, mut extra) = outside(&format!("tcp-pingpong:{n}"), baseline.addr, run).await;
    let used = cpu_us_of(baseline.pid()) - cpu;
    extra.insert(
        "server_cpu_us_per_rt".into(),
        per_round_trip(used, rate, run),
    );
    (rate, extra)
}

/// A server's CPU µs per round trip, from what it used over a load of `rate` for `run`.
fn per_round_trip(cpu_us: f64, rate: f64, run: Duration) -> f64 {
    cpu_us / (rate * run.as_secs_f64()).max(1.0)
}

/// Hands a lab out to every student, loaded: an echo server and fifty steps, each awaiting
/// a text on it. Returns each student's lab server (its engine `e2`).
async fn hand_out_lab(addr: SocketAddr, students: &[Student]) -> Vec<SocketAddr> {
    let steps: Vec<serde_json::Value> = (0..50)
        .map(|k| json!({"text": format!("step {k}"), "expect": {"engine": 0, "text": format!("never sent {k}")}}))
        .collect();
    let lab = json!({"name": "Bench lab", "engines": [{"kind": "tcp-server", "bind": "127.0.0.1:0",
        "behavior": "echo", "options": {"recv_size": 65536}}], "steps": steps});
    let (st, saved) = http_as(addr, Some(CLASS_TOKEN), "POST", "/api/labs", Some(&lab)).await;
    assert_eq!(st, 201, "{saved}");
    let body = json!({"lab": saved["id"], "to": "all", "load": true});
    let (st, out) = http_as(
        addr,
        Some(CLASS_TOKEN),
        "POST",
        "/api/class/labs",
        Some(&body),
    )
    .await;
    assert_eq!((st, out["failed"].as_u64()), (200, Some(0)), "{out}");
    let mut servers = Vec::with_capacity(students.len());
    for s in students {
        let (_, e) = http_as(addr, Some(&s.cred), "GET", "/api/engines/e2", None).await;
        servers.push(
            e["local"]
                .as_str()
                .expect("the lab's server")
                .parse()
                .unwrap(),
        );
    }
    servers
}
