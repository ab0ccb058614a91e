//! UDP broken on purpose: loss, duplicates and reordering within statistical bounds over
//! 10,000 datagrams with every affected one's event, delays within their bounds, the same
//! seed giving the same pattern, and a PATCH taking effect on the next datagram.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::net::UdpSocket;

use crate::helpers::*;

async fn echo_with(app: &TestApp, impair: Value) -> Value {
    app.engine(json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "echo", "options": {"impair": impair}}))
        .await
}

/// Sends `n` numbered datagrams to `to` (paced, so nothing is lost on loopback itself) and
/// returns the numbers of the replies in the order they came.
async fn exchange(to: std::net::SocketAddr, n: u32) -> Vec<u32> {
    let sock = std::sync::Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let rx = sock.clone();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        let mut buf = [0u8; 16];
        while let Ok(Ok(k)) =
            tokio::time::timeout(Duration::from_millis(800), rx.recv(&mut buf)).await
        {
            got.push(u32::from_le_bytes(buf[..4].try_into().unwrap()));
            let _ = k;
        }
        got
    });
    for i in 0..n {
        sock.send_to(&i.to_le_bytes(), to).await.unwrap();
        if i % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    reader.await.unwrap()
}

fn count(evs: &[Value], kind: &str) -> usize {
    evs.iter().filter(|e| e["kind"] == kind).count()
}

#[tokio::test]
async fn ten_thousand_datagrams_lose_duplicate_and_reorder_within_bounds_each_with_its_event() {
    let app = spawn_app().await;
    let e = echo_with(
        &app,
        json!({"loss": 0.1, "duplicate": 0.05, "reorder": 0.05, "seed": 42}),
    )
    .await;
    let id = e["id"].as_str().unwrap().to_string();
    let got = exchange(local_of(&e), 10_000).await;
    let mut seen: HashMap<u32, usize> = HashMap::new();
    let mut reordered = 0;
    let mut top = None;
    for &k in &got {
        *seen.entry(k).or_default() += 1;
        match top {
            Some(t) if k < t && seen[&k] == 1 => reordered += 1,
            _ => {}
        }
        top = top.max(Some(k));
    }
    let lost = 10_000 - seen.len();
    let duplicates = got.len() - seen.len();
    eprintln!("impair: {lost} lost, {duplicates} duplicated, {reordered} reordered of 10,000");
    // Binomial bounds at about 4 standard deviations.
    assert!((880..=1120).contains(&lost), "lost {lost}");
    assert!((360..=540).contains(&duplicates), "duplicated {duplicates}");
    assert!((300..=560).contains(&reordered), "reordered {reordered}");
    // Every affected datagram has its event.
    let evs = app.events(&id).await;
    assert_eq!(count(&evs, "dropped"), lost);
    assert_eq!(count(&evs, "duplicated"), duplicates);
    assert_eq!(count(&evs, "reordered"), reordered);
    assert_eq!(count(&evs, "sent") + count(&evs, "reordered"), seen.len());
    let dropped = evs.iter().find(|e| e["kind"] == "dropped").unwrap();
    assert_eq!(dropped["call"], "sendto()");
    assert!(
        dropped["message"]
            .as_str()
            .unwrap()
            .contains("impair.loss 0.1"),
        "{dropped}"
    );
}

#[tokio::test]
async fn the_same_seed_gives_the_same_pattern() {
    let app = spawn_app().await;
    let lost = |got: Vec<u32>| -> BTreeSet<u32> {
        let have: BTreeSet<u32> = got.into_iter().collect();
        (0..2000).filter(|k| !have.contains(k)).collect()
    };
    let mut patterns = Vec::new();
    for seed in [7, 7, 8] {
        let e = echo_with(&app, json!({"loss": 0.2, "seed": seed})).await;
        patterns.push(lost(exchange(local_of(&e), 2000).await));
    }
    assert!(patterns[0].len() > 300, "{}", patterns[0].len());
    assert_eq!(patterns[0], patterns[1], "seed 7 twice");
    assert_ne!(patterns[0], patterns[2], "seed 8");
}

#[tokio::test]
async fn delays_stay_within_delay_and_jitter() {
    let app = spawn_app().await;
    let e = echo_with(&app, json!({"delay_ms": 40, "jitter_ms": 10, "seed": 3})).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut rtts = Vec::new();
    for i in 0u32..40 {
        let t = Instant::now();
        sock.send_to(&i.to_le_bytes(), local_of(&e)).await.unwrap();
        let mut buf = [0u8; 8];
        tokio::time::timeout(Duration::from_secs(2), sock.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        rtts.push(t.elapsed());
    }
    let (lo, hi) = (rtts.iter().min().unwrap(), rtts.iter().max().unwrap());
    eprintln!("delay 40±10 ms: round trips from {lo:?} to {hi:?}");
    assert!(*lo >= Duration::from_millis(29), "{lo:?}");
    assert!(*hi <= Duration::from_millis(120), "{hi:?}");
    let evs = app.events(e["id"].as_str().unwrap()).await;
    assert_eq!(count(&evs, "delayed"), 40);
}

#[tokio::test]
async fn a_patch_on_a_running_engine_takes_effect_on_the_next_datagram() {
    let app = spawn_app().await;
    let e = app.engine(udp_spec("echo")).await;
    let id = e["id"].as_str().unwrap().to_string();
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let ask = |s: &'static [u8]| {
        let sock = &sock;
        let to = local_of(&e);
        async move {
            sock.send_to(s, to).await.unwrap();
            let mut buf = [0u8; 16];
            tokio::time::timeout(Duration::from_millis(300), sock.recv(&mut buf))
                .await
                .is_ok()
        }
    };
    assert!(ask(b"one").await);
    let patch = |body: Value| {
        let app = &app;
        let id = id.clone();
        async move {
            app.http
                .patch(format!("{}/api/engines/{id}", app.base))
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let r = patch(json!({"options": {"impair": {"loss": 1}}})).await;
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["options"]["impair"]["loss"], 1.0);
    assert!(!ask(b"two").await, "lost");
    let evs = app.events(&id).await;
    assert_eq!(evs.last().unwrap()["kind"], "dropped");
    let r = patch(json!({"options": {"impair": null}})).await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(ask(b"three").await, "back");
    // Bad settings are refused by name; TCP has none.
    let r = patch(json!({"options": {"impair": {"loss": 2}}})).await;
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("options.impair.loss"));
    let tcp = app.engine(tcp_spec("echo")).await;
    let r = app
        .http
        .patch(format!(
            "{}/api/engines/{}",
            app.base,
            tcp["id"].as_str().unwrap()
        ))
        .json(&json!({"options": {"impair": {"loss": 0.5}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let (st, v) = app
        .post("/api/engines", json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo", "options": {"impair": {"loss": 0.1}}}))
        .await;
    assert!(assert_error(st, &v, 400, "invalid_spec").contains("options.impair is for UDP"));
}

#[tokio::test]
async fn a_udp_proxy_is_impaired_both_ways() {
    let app = spawn_app().await;
    let echo = app.engine(udp_spec("echo")).await;
    let p = app
        .engine(json!({"kind": "udp-proxy", "bind": "127.0.0.1:0", "target": echo["local"], "options": {"impair": {"loss": 0.3, "seed": 9}}}))
        .await;
    let got = exchange(local_of(&p), 1000).await;
    let evs = app.events(p["id"].as_str().unwrap()).await;
    let dropped_legs: BTreeSet<&str> = evs
        .iter()
        .filter(|e| e["kind"] == "dropped")
        .filter_map(|e| e["leg"].as_str())
        .collect();
    assert_eq!(
        dropped_legs.into_iter().collect::<Vec<_>>(),
        ["client", "server"],
        "lost on the way there and back"
    );
    // 0.7 × 0.7 of them make the round trip.
    assert!((400..=580).contains(&got.len()), "{}", got.len());
}
