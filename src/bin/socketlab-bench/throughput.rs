//! TCP and UDP throughput against the baseline and socat, and connections held.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use crate::Plan;
use crate::figure::{Figure, order, rss_of};
use crate::load::{hold, udp_echo_count};
use crate::outside::outside;
use crate::servers::{Child, Lab, Socat, Who, baseline_tcp, baseline_udp, http};
use crate::viewer::Viewer;

/// Who runs each round of a throughput figure: socketlab three ways (no viewer, one
/// `mode=live` viewer, one `mode=all` viewer reading everything), the baseline, and socat
/// when installed.
fn contenders(socat: bool) -> Vec<Who> {
    let mut who = vec![Who::Socketlab, Who::Live, Who::All, Who::Baseline];
    if socat {
        who.push(Who::Socat);
    }
    who
}

/// A viewer of `engine` for one round, in the round's mode.
async fn viewer_for(lab: &Lab, w: Who, engine: &str) -> Option<Viewer> {
    match w.viewer_mode() {
        Some(mode) => Some(Viewer::attach_as(lab.addr, None, engine, mode, None).await),
        None => None,
    }
}

pub(crate) async fn run_tcp_figures(lab: &Lab, plan: Plan, figures: &mut Vec<Figure>) {
    let base = baseline_tcp().await;
    let socat = Socat::start(false).await;
    let who = contenders(socat.is_some());
    let (pp_id, pp_addr) = lab.engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo", "options": {"backlog": 1024}})).await;
    let (bulk_id, bulk_addr) = lab
        .engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo", "options": {"recv_size": 65536}}))
        .await;
    let addr = |w: Who, bulk: bool| match w {
        Who::Baseline => base,
        Who::Socat => socat.as_ref().unwrap().addr,
        _ if bulk => bulk_addr,
        _ => pp_addr,
    };
    let mut one = Figure::new(
        "TCP ping-pong, 1 connection, from another process",
        "round trips/s",
        true,
    );
    let mut hundred = Figure::new(
        "TCP ping-pong, 100 connections, from another process",
        "msgs/s",
        true,
    );
    let mut bulk = Figure::new(
        "TCP bulk, 64 KiB writes echoed, from another process",
        "Gbit/s",
        true,
    );
    for r in 0..plan.rounds {
        for w in order(r, &who) {
            let v = viewer_for(lab, w, &pp_id).await;
            let (rate, extra) = outside("tcp-pingpong:1", addr(w, false), plan.run).await;
            one.cell(w).push(rate, extra);
            let (rate, extra) = outside("tcp-pingpong:100", addr(w, false), plan.run).await;
            hundred.cell(w).push(rate, extra);
            drop(v);
            let v = viewer_for(lab, w, &bulk_id).await;
            let (g, extra) = outside("tcp-bulk", addr(w, true), plan.run).await;
            bulk.cell(w).push(g, extra);
            drop(v);
        }
        eprintln!("  tcp round {}/{} done", r + 1, plan.rounds);
    }
    lab.delete(&pp_id).await;
    lab.delete(&bulk_id).await;
    figures.extend([one, hundred, bulk]);
}

pub(crate) async fn run_udp_figures(lab: &Lab, plan: Plan, figures: &mut Vec<Figure>) {
    let base = baseline_udp().await;
    let socat = Socat::start(true).await;
    let who = contenders(socat.is_some());
    let (id, lab_addr) = lab
        .engine(json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "echo"}))
        .await;
    let addr = |w: Who| match w {
        Who::Baseline => base,
        Who::Socat => socat.as_ref().unwrap().addr,
        _ => lab_addr,
    };
    let mut one = Figure::new(
        "UDP echo, 1 socket, from another process",
        "datagrams/s",
        true,
    );
    let mut hundred = Figure::new(
        "UDP echo, 100 sockets one in flight each, from another process",
        "datagrams/s",
        true,
    );
    for r in 0..plan.rounds {
        for w in order(r, &who) {
            let v = viewer_for(lab, w, &id).await;
            let (rate, extra) = outside("udp-echo:1", addr(w), plan.run).await;
            one.cell(w).push(rate, extra);
            let (rate, extra) = outside("udp-echo:100", addr(w), plan.run).await;
            hundred.cell(w).push(rate, extra);
            drop(v);
        }
        eprintln!("  udp round {}/{} done", r + 1, plan.rounds);
    }
    lab.delete(&id).await;
    figures.extend([one, hundred]);
}

/// A burst of `events` events (64-byte datagrams echoed: a `recvfrom()` and a `sendto()`
/// each) into a fresh server in a child process, with no viewer, a live one or an all one:
/// how many of its events are kept after it, and the bytes of history per event.
pub(crate) async fn run_burst(plan: Plan, figures: &mut Vec<Figure>) {
    let n = plan.burst;
    let mut kept = Figure::new(
        format!("events kept after a {n}-event burst of 64-byte echoes"),
        "share kept",
        true,
    );
    let mut per = Figure::new("bytes of history per 64-byte event", "bytes", false);
    for r in 0..plan.rounds.min(3) {
        for w in order(r, &[Who::Socketlab, Who::Live, Who::All]) {
            let child = Child::start("socketlab").await;
            let spec = json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "echo"});
            let (st, e) = http(child.addr, "POST", "/api/engines", Some(&spec)).await;
            assert_eq!(st, 201, "{e}");
            let target: std::net::SocketAddr = e["local"].as_str().unwrap().parse().unwrap();
            let lab = Lab { addr: child.addr };
            let v = viewer_for(&lab, w, "e1").await;
            let (_, before) = http(child.addr, "GET", "/api/workspace", None).await;
            let first_event = before["capture"]["next_seq"].as_u64().unwrap_or(1);
            let echoes = udp_echo_count(target, (n / 2) as u64).await;
            // Everything echoed is recorded by the time the echo came back; the collector
            // has it within a few milliseconds.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let (_, after) = http(child.addr, "GET", "/api/workspace", None).await;
            let c = &after["capture"];
            let next = c["next_seq"].as_u64().unwrap_or(0);
            let first = c["first_seq"].as_u64().unwrap_or(0);
            let burst = next - first_event;
            let lost = first.saturating_sub(first_event);
            let share = (burst - lost) as f64 / burst.max(1) as f64;
            let extra = BTreeMap::from([
                ("burst_events".to_string(), burst as f64),
                ("evicted".to_string(), lost as f64),
                ("echoes".to_string(), echoes as f64),
                ("rss_bytes".to_string(), rss_of(child.pid()) as f64),
            ]);
            kept.cell(w).push(share, extra);
            if w == Who::Socketlab {
                let events = c["events"].as_f64().unwrap_or(0.0);
                let bytes = c["bytes"].as_f64().unwrap_or(0.0);
                per.cell(w).push(
                    bytes / events.max(1.0),
                    BTreeMap::from([("events".to_string(), events), ("bytes".to_string(), bytes)]),
                );
            }
            drop(v);
            drop(child);
        }
        eprintln!("  burst round {}/{} done", r + 1, plan.rounds.min(3));
    }
    figures.extend([kept, per]);
}

pub(crate) async fn run_held(plan: Plan, figures: &mut Vec<Figure>) {
    let mut fig = Figure::new(
        format!("{} idle TCP connections held", plan.held),
        "bytes RSS/connection",
        false,
    );
    let mut rate_fig = Figure::new(
        format!("accept rate, {} connections", plan.held),
        "connections/s",
        true,
    );
    for r in 0..plan.rounds {
        for w in order(r, &[Who::Socketlab, Who::Baseline]) {
            let child = Child::start(if w == Who::Socketlab {
                "socketlab"
            } else {
                "baseline"
            })
            .await;
            let target = if w == Who::Socketlab {
                let spec = json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo",
                                  "options": {"backlog": 4096, "max_clients": 20_000}});
                let (st, v) = http(child.addr, "POST", "/api/engines", Some(&spec)).await;
                assert_eq!(st, 201, "{v}");
                v["local"].as_str().unwrap().parse().unwrap()
            } else {
                child.addr
            };
            tokio::time::sleep(Duration::from_millis(200)).await;
            let before = rss_of(child.pid());
            let (conns, rate) = hold(target, plan.held).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let after = rss_of(child.pid());
            let per = after.saturating_sub(before) as f64 / plan.held as f64;
            fig.cell(w).push(
                per,
                BTreeMap::from([
                    ("rss_before".into(), before as f64),
                    ("rss_after".into(), after as f64),
                ]),
            );
            rate_fig.cell(w).push(rate, BTreeMap::new());
            for c in conns {
                let _ = c.set_zero_linger();
            }
        }
        eprintln!("  held round {}/{} done", r + 1, plan.rounds);
    }
    figures.extend([fig, rate_fig]);
}
