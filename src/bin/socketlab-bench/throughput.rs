//! TCP and UDP throughput against the baseline and socat, and connections held.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use crate::Plan;
use crate::figure::{Figure, lat_extra, order, rss_of};
use crate::load::{hold, tcp_bulk, tcp_pingpong, udp_echo};
use crate::servers::{Child, Lab, Socat, Who, baseline_tcp, baseline_udp, http};
use crate::viewer::Viewer;

pub(crate) async fn run_tcp_figures(lab: &Lab, plan: Plan, figures: &mut Vec<Figure>) {
    let base = baseline_tcp().await;
    let socat = Socat::start(false).await;
    let mut who = vec![Who::Socketlab, Who::Baseline];
    if socat.is_some() {
        who.push(Who::Socat);
    }
    let (pp_id, pp_addr) = lab.engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo", "options": {"backlog": 1024}})).await;
    let _pp_viewer = if plan.viewer {
        Some(Viewer::attach(lab, &pp_id, None).await)
    } else {
        None
    };
    let (bulk_id, bulk_addr) = lab
        .engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo", "options": {"recv_size": 65536}}))
        .await;
    let _bulk_viewer = if plan.viewer {
        Some(Viewer::attach(lab, &bulk_id, None).await)
    } else {
        None
    };
    let addr = |w: Who, bulk: bool| match w {
        Who::Socketlab => {
            if bulk {
                bulk_addr
            } else {
                pp_addr
            }
        }
        Who::Baseline => base,
        Who::Socat => socat.as_ref().unwrap().addr,
    };
    let mut one = Figure::new("TCP ping-pong, 1 connection", "round trips/s", true);
    let mut hundred = Figure::new("TCP ping-pong, 100 connections", "msgs/s", true);
    let mut bulk = Figure::new("TCP bulk, 64 KiB writes echoed", "Gbit/s", true);
    for r in 0..plan.rounds {
        for w in order(r, &who) {
            let (rate, lat) = tcp_pingpong(addr(w, false), 1, plan.run).await;
            one.cell(w).push(rate, lat_extra(lat));
            let (rate, lat) = tcp_pingpong(addr(w, false), 100, plan.run).await;
            hundred.cell(w).push(rate, lat_extra(lat));
            let g = tcp_bulk(addr(w, true), plan.run).await;
            bulk.cell(w).push(g, BTreeMap::new());
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
    let mut who = vec![Who::Socketlab, Who::Baseline];
    if socat.is_some() {
        who.push(Who::Socat);
    }
    let (id, lab_addr) = lab
        .engine(json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "echo"}))
        .await;
    let _viewer = if plan.viewer {
        Some(Viewer::attach(lab, &id, None).await)
    } else {
        None
    };
    let addr = |w: Who| match w {
        Who::Socketlab => lab_addr,
        Who::Baseline => base,
        Who::Socat => socat.as_ref().unwrap().addr,
    };
    let mut one = Figure::new("UDP echo, 1 socket", "datagrams/s", true);
    let mut hundred = Figure::new("UDP echo, 100 sockets", "datagrams/s", true);
    for r in 0..plan.rounds {
        for w in order(r, &who) {
            let (rate, loss) = udp_echo(addr(w), 1, plan.run).await;
            one.cell(w)
                .push(rate, BTreeMap::from([("loss".to_string(), loss)]));
            let (rate, loss) = udp_echo(addr(w), 100, plan.run).await;
            hundred
                .cell(w)
                .push(rate, BTreeMap::from([("loss".to_string(), loss)]));
        }
        eprintln!("  udp round {}/{} done", r + 1, plan.rounds);
    }
    lab.delete(&id).await;
    figures.extend([one, hundred]);
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
