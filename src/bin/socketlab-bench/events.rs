//! The event path: latency to a viewer, fan-out to many, and a viewer that never reads.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use serde_json::json;

use crate::Plan;
use crate::figure::{Figure, lat_extra, rss_of};
use crate::load::{tcp_bulk, udp_blast};
use crate::servers::{Lab, Who};
use crate::viewer::Viewer;

pub(crate) async fn run_event_figures(lab: &Lab, plan: Plan, figures: &mut Vec<Figure>) {
    // The page's rate: a mode=all viewer reading flat out must miss nothing at 5,000 a second.
    let mut fig = Figure::new(
        "mode=all viewer at 5,000 events/s: events delivered",
        "share delivered",
        true,
    );
    for _ in 0..plan.rounds {
        let (id, addr) = lab
            .engine(json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "discard"}))
            .await;
        let viewer = Viewer::attach_as(lab.addr, None, &id, "all", None).await;
        let sent = udp_blast(addr, 5_000, plan.run).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (got, missed) = (viewer.events.load(Relaxed), viewer.missed.load(Relaxed));
        let extra = BTreeMap::from([
            ("sent".to_string(), sent as f64),
            ("delivered".to_string(), got as f64),
            ("missed".to_string(), missed as f64),
        ]);
        fig.cell(Who::Socketlab)
            .push(got as f64 / sent.max(1) as f64, extra);
        drop(viewer);
        lab.delete(&id).await;
    }
    figures.push(fig);
    // Event latency: from the engine's received event to the viewer's frame.
    for (label, rate, mode) in [
        ("1k", 1_000u64, "all"),
        ("10k", 10_000, "all"),
        ("10k", 10_000, "live"),
        ("max", 0, "all"),
    ] {
        let mut fig = Figure::new(
            format!("event latency at {label} events/s, 1 mode={mode} viewer"),
            "µs p99",
            false,
        );
        for _ in 0..plan.rounds {
            let (id, addr) = lab
                .engine(json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "discard"}))
                .await;
            let lat = Arc::new(std::sync::Mutex::new(Vec::new()));
            let viewer = Viewer::attach_as(lab.addr, None, &id, mode, Some(lat.clone())).await;
            let sent = udp_blast(addr, rate, plan.run).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut extra = lat_extra(std::mem::take(&mut *lat.lock().unwrap()));
            extra.insert(
                "events_per_s".into(),
                viewer.events.load(Relaxed) as f64 / plan.run.as_secs_f64(),
            );
            extra.insert("sent".into(), sent as f64);
            extra.insert("missed".into(), viewer.missed.load(Relaxed) as f64);
            let p99 = extra["p99_us"];
            fig.cell(Who::Socketlab).push(p99, extra);
            drop(viewer);
            lab.delete(&id).await;
        }
        figures.push(fig);
    }
    // Fan-out: 1, 10 and 100 viewers of one engine at 1k events/s.
    for viewers in [1usize, 10, 100] {
        let mut fig = Figure::new(
            format!("fan-out to {viewers} viewers at 1k events/s"),
            "min share delivered",
            true,
        );
        for _ in 0..plan.rounds {
            let (id, addr) = lab
                .engine(json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "discard"}))
                .await;
            let mut vs = Vec::new();
            for _ in 0..viewers {
                vs.push(Viewer::attach(lab, &id, None).await);
            }
            let sent = udp_blast(addr, 1_000, plan.run).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            let counts: Vec<u64> = vs.iter().map(|v| v.events.load(Relaxed)).collect();
            let missed: u64 = vs.iter().map(|v| v.missed.load(Relaxed)).sum();
            let min = counts.iter().copied().min().unwrap_or(0) as f64 / sent.max(1) as f64;
            let total: u64 = counts.iter().sum();
            let extra = BTreeMap::from([
                (
                    "delivered_events_per_s".to_string(),
                    total as f64 / plan.run.as_secs_f64(),
                ),
                ("lagged_missed".to_string(), missed as f64),
                ("sent".to_string(), sent as f64),
            ]);
            fig.cell(Who::Socketlab).push(min, extra);
            drop(vs);
            lab.delete(&id).await;
        }
        figures.push(fig);
    }
}

pub(crate) async fn run_stuck(lab: &Lab, plan: Plan, figures: &mut Vec<Figure>) {
    let mut fig = Figure::new(
        "stuck viewer beside TCP bulk",
        "Gbit/s (with / without)",
        true,
    );
    let (id, addr) = lab
        .engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo", "options": {"recv_size": 65536}}))
        .await;
    let _reader = Viewer::attach(lab, &id, None).await;
    let me = std::process::id();
    for r in 0..plan.rounds {
        for stuck in if r % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        } {
            let before = rss_of(me);
            // Connected and subscribed, then never read: its socket fills and it lags.
            let never_read = if stuck {
                Some(
                    tokio_tungstenite::connect_async(format!("ws://{}/ws?engine={id}", lab.addr))
                        .await
                        .unwrap(),
                )
            } else {
                None
            };
            let g = tcp_bulk(addr, plan.run).await;
            let grown = rss_of(me).saturating_sub(before) as f64;
            drop(never_read);
            let who = if stuck { Who::Socketlab } else { Who::Baseline };
            fig.cell(who)
                .push(g, BTreeMap::from([("rss_growth_bytes".to_string(), grown)]));
        }
    }
    lab.delete(&id).await;
    figures.push(fig);
}
