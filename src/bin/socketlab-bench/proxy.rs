//! Relaying through a tcp-proxy against a bare tokio relay (`copy_bidirectional`), both in
//! front of the same bare echo server, with the same load in the same run.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde_json::json;
use tokio::net::{TcpListener, TcpStream};

use crate::Plan;
use crate::figure::{Figure, lat_extra, order};
use crate::load::{tcp_bulk, tcp_pingpong};
use crate::servers::{Lab, Who, baseline_tcp};
use crate::viewer::Viewer;

/// What a user would write instead of a proxy engine: accept, connect, copy both ways.
async fn baseline_relay(target: SocketAddr) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut a, _)) = l.accept().await {
            tokio::spawn(async move {
                let Ok(mut b) = TcpStream::connect(target).await else {
                    return;
                };
                let _ = a.set_nodelay(true);
                let _ = b.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
            });
        }
    });
    addr
}

pub(crate) async fn run_proxy_figures(lab: &Lab, plan: Plan, figures: &mut Vec<Figure>) {
    let echo = baseline_tcp().await;
    let relay = baseline_relay(echo).await;
    let (id, proxy) = lab
        .engine(json!({"kind": "tcp-proxy", "bind": "127.0.0.1:0", "target": echo.to_string(), "options": {"backlog": 1024}}))
        .await;
    let who = [Who::Socketlab, Who::Live, Who::Baseline];
    let addr = |w: Who| if w == Who::Baseline { relay } else { proxy };
    let mut one = Figure::new(
        "TCP ping-pong through a proxy, 1 connection",
        "round trips/s",
        true,
    );
    let mut hundred = Figure::new(
        "TCP ping-pong through a proxy, 100 connections",
        "msgs/s",
        true,
    );
    let mut bulk = Figure::new(
        "TCP bulk through a proxy, 64 KiB writes echoed",
        "Gbit/s",
        true,
    );
    for r in 0..plan.rounds {
        for w in order(r, &who) {
            let v = match w.viewer_mode() {
                Some(mode) => Some(Viewer::attach_as(lab.addr, None, &id, mode, None).await),
                None => None,
            };
            let (rate, lat) = tcp_pingpong(addr(w), 1, plan.run).await;
            one.cell(w).push(rate, lat_extra(lat));
            let (rate, lat) = tcp_pingpong(addr(w), 100, plan.run).await;
            hundred.cell(w).push(rate, lat_extra(lat));
            let g = tcp_bulk(addr(w), plan.run).await;
            bulk.cell(w).push(g, BTreeMap::new());
            drop(v);
        }
        eprintln!("  proxy round {}/{} done", r + 1, plan.rounds);
    }
    lab.delete(&id).await;
    figures.extend([one, hundred, bulk]);
}
