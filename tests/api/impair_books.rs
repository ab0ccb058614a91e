//! Impairment by the book: every datagram an impaired engine is asked to send is accounted
//! for by events (it ends `sent`, `reordered` or `dropped`; while it waits it shows as
//! `delayed`), under every combination of loss, duplicates, reordering, delay and jitter,
//! whenever the engine is stopped; a datagram held back for `reorder` goes alone after
//! max(delay + jitter, 100 ms); a stop drops what is held, saying so.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::net::UdpSocket;

use crate::helpers::*;

async fn echo_with(app: &TestApp, impair: Value) -> Value {
    app.engine(json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "echo", "options": {"impair": impair}}))
        .await
}

/// Per datagram text, how many events of each kind name it.
fn ledger(evs: &[Value]) -> HashMap<String, HashMap<String, usize>> {
    let mut m: HashMap<String, HashMap<String, usize>> = HashMap::new();
    for e in evs {
        if let (Some(t), Some(k)) = (e["text"].as_str(), e["kind"].as_str()) {
            *m.entry(t.to_string())
                .or_default()
                .entry(k.to_string())
                .or_default() += 1;
        }
    }
    m
}

fn n(m: &HashMap<String, usize>, kind: &str) -> usize {
    m.get(kind).copied().unwrap_or(0)
}

/// One combination: 30 datagrams to an impaired echo server, the engine stopped as soon as
/// it has received the last, whatever is still delayed or held, and the replies read.
/// Returns what happened, for the mix's sake.
async fn one_combination(app: &TestApp, impair: Value) -> (usize, usize, usize) {
    let label = impair.to_string();
    let e = echo_with(app, impair).await;
    let id = e["id"].as_str().unwrap().to_string();
    let sock = std::sync::Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let rx = sock.clone();
    let reader = tokio::spawn(async move {
        let mut got: HashMap<String, usize> = HashMap::new();
        let mut buf = [0u8; 64];
        while let Ok(Ok(k)) =
            tokio::time::timeout(Duration::from_millis(150), rx.recv(&mut buf)).await
        {
            *got.entry(String::from_utf8_lossy(&buf[..k]).to_string())
                .or_default() += 1;
        }
        got
    });
    const N: usize = 30;
    for i in 0..N {
        sock.send_to(format!("d{i}").as_bytes(), local_of(&e))
            .await
            .unwrap();
    }
    // While it runs: every datagram the server received has an event saying where it is.
    let evs = app
        .wait_event(&id, "the last datagram's received", |e| {
            e["kind"] == "received" && e["text"] == format!("d{}", N - 1)
        })
        .await;
    let mid = ledger(&evs);
    for i in 0..N {
        let d = mid.get(&format!("d{i}")).cloned().unwrap_or_default();
        if n(&d, "received") == 1 {
            let accounted =
                n(&d, "sent") + n(&d, "reordered") + n(&d, "dropped") + n(&d, "delayed");
            assert!(
                accounted >= 1,
                "{label}: d{i} received with no event of its fate: {d:?}"
            );
        }
    }
    // Stopped at once: what is delayed or held now is dropped, each with its event.
    app.post(&format!("/api/engines/{id}/stop"), json!({}))
        .await;
    let got = reader.await.unwrap();
    let evs = app.events(&id).await;
    let book = ledger(&evs);
    let (mut out, mut dropped, mut held_at_stop) = (0, 0, 0);
    for i in 0..N {
        let text = format!("d{i}");
        let d = book.get(&text).cloned().unwrap_or_default();
        assert_eq!(n(&d, "received"), 1, "{label}: {text}: {d:?}");
        // In = out + dropped: exactly one end for each datagram, held or delayed or not.
        let ends = n(&d, "sent") + n(&d, "reordered") + n(&d, "dropped");
        assert_eq!(ends, 1, "{label}: {text} has {ends} ends: {d:?}");
        assert!(
            n(&d, "delayed") <= 1 && n(&d, "duplicated") <= 1,
            "{label}: {text}: {d:?}"
        );
        // What the client got is what the events say went out.
        let went = n(&d, "sent") + n(&d, "reordered") + n(&d, "duplicated");
        assert_eq!(
            got.get(&text).copied().unwrap_or(0),
            went,
            "{label}: {text}: {d:?}"
        );
        out += n(&d, "sent") + n(&d, "reordered");
        dropped += n(&d, "dropped");
    }
    for e in &evs {
        if e["kind"] == "dropped" && e["message"].as_str().is_some_and(|m| m.contains("stopped")) {
            held_at_stop += 1;
        }
    }
    // Nothing about a datagram comes after the engine said it stopped.
    let stopped_at = evs
        .iter()
        .position(|e| e["kind"] == "stopped")
        .expect("stopped");
    assert!(
        evs[stopped_at + 1..].iter().all(|e| e["text"].is_null()),
        "{label}: datagram events after stopped"
    );
    assert_eq!(out + dropped, N, "{label}");
    (out, dropped, held_at_stop)
}

#[tokio::test]
async fn every_datagram_is_sent_or_dropped_by_events_under_every_combination() {
    let app = spawn_app().await;
    let mut runs = Vec::new();
    for mask in 0u32..32 {
        let on = |bit: u32| mask & (1 << bit) != 0;
        let impair = json!({
            "loss": if on(0) { 0.3 } else { 0.0 },
            "duplicate": if on(1) { 0.3 } else { 0.0 },
            "reorder": if on(2) { 0.4 } else { 0.0 },
            // A long delay alone, so a stop always finds some datagrams waiting; with jitter,
            // a short one, so some go out before it.
            "delay_ms": match (on(3), on(4)) { (true, false) => 5000, (true, true) => 60, _ => 0 },
            "jitter_ms": if on(4) { 50 } else { 0 },
            "seed": 11 + mask,
        });
        runs.push(one_combination(&app, impair));
    }
    let results = futures_util::future::join_all(runs).await;
    let (out, dropped, at_stop) = results
        .iter()
        .fold((0, 0, 0), |a, r| (a.0 + r.0, a.1 + r.1, a.2 + r.2));
    eprintln!("32 combinations: {out} sent, {dropped} dropped ({at_stop} by the stop)");
    // The mix is not all one fate: some sent, some lost on purpose, some ended by the stop.
    assert!(out > 0 && dropped > 0 && at_stop > 0);
}

#[tokio::test]
async fn a_lone_datagram_held_for_reorder_goes_alone_after_the_longer_of_its_delay_and_100_ms() {
    let app = spawn_app().await;
    for (impair, at_least) in [
        (json!({"reorder": 1.0}), 100),
        (
            json!({"reorder": 1.0, "delay_ms": 250, "jitter_ms": 50}),
            300,
        ),
    ] {
        let e = echo_with(&app, impair.clone()).await;
        let id = e["id"].as_str().unwrap().to_string();
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let t = Instant::now();
        sock.send_to(b"alone", local_of(&e)).await.unwrap();
        let mut buf = [0u8; 16];
        let k = tokio::time::timeout(Duration::from_secs(5), sock.recv(&mut buf))
            .await
            .expect("a lone request held for reorder is answered")
            .unwrap();
        let took = t.elapsed();
        assert_eq!(&buf[..k], b"alone");
        assert!(
            took >= Duration::from_millis(at_least),
            "{impair}: answered after {took:?}"
        );
        let evs = app.events(&id).await;
        let kinds: Vec<&str> = evs
            .iter()
            .filter(|e| e["text"] == "alone")
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["received", "delayed", "sent"], "{impair}");
        let sent = evs.iter().find(|e| e["kind"] == "sent").unwrap();
        let msg = sent["message"].as_str().unwrap();
        assert!(msg.contains(&format!("within {at_least} ms")), "{msg}");
    }
}

#[tokio::test]
async fn a_stop_drops_what_is_held_or_delayed_and_says_so_before_stopped() {
    let app = spawn_app().await;
    let e = echo_with(&app, json!({"reorder": 0.5, "delay_ms": 5000, "seed": 5})).await;
    let id = e["id"].as_str().unwrap().to_string();
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 0..10 {
        sock.send_to(format!("h{i}").as_bytes(), local_of(&e))
            .await
            .unwrap();
    }
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let evs = app.events(&id).await;
        if evs.iter().filter(|e| e["kind"] == "delayed").count() == 10 {
            break;
        }
        assert!(Instant::now() < end, "ten delayed: {evs:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.post(&format!("/api/engines/{id}/stop"), json!({}))
        .await;
    let evs = app.events(&id).await;
    let stopped = evs.iter().position(|e| e["kind"] == "stopped").unwrap();
    let drops: Vec<&Value> = evs[..stopped]
        .iter()
        .filter(|e| e["kind"] == "dropped")
        .collect();
    assert_eq!(drops.len(), 10, "{evs:#?}");
    let held = drops
        .iter()
        .filter(|e| e["message"].as_str().unwrap().contains("held back"))
        .count();
    let delayed = drops
        .iter()
        .filter(|e| e["message"].as_str().unwrap().contains("5000 ms delay"))
        .count();
    assert!(
        held > 0 && delayed > 0 && held + delayed == 10,
        "{held} held, {delayed} delayed"
    );
    let mut buf = [0u8; 16];
    assert!(
        tokio::time::timeout(Duration::from_millis(200), sock.recv(&mut buf))
            .await
            .is_err(),
        "nothing was sent"
    );
}

#[tokio::test]
async fn a_datagram_held_when_impairment_is_turned_off_goes_after_the_next_as_reordered() {
    let app = spawn_app().await;
    let e = echo_with(&app, json!({"reorder": 1.0, "delay_ms": 3000, "seed": 1})).await;
    let id = e["id"].as_str().unwrap().to_string();
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(b"p1", local_of(&e)).await.unwrap();
    app.wait_event(&id, "p1 held", |e| {
        e["kind"] == "delayed" && e["text"] == "p1"
    })
    .await;
    let r = app
        .http
        .patch(format!("{}/api/engines/{id}", app.base))
        .json(&json!({"options": {"impair": {}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let t = Instant::now();
    sock.send_to(b"p2", local_of(&e)).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 16];
    for _ in 0..2 {
        let k = tokio::time::timeout(Duration::from_secs(5), sock.recv(&mut buf))
            .await
            .expect("both answered")
            .unwrap();
        got.push(buf[..k].to_vec());
    }
    assert_eq!(got, [b"p2".to_vec(), b"p1".to_vec()]);
    // Right after p2, not when its 3 s hold would have run out.
    assert!(
        t.elapsed() < Duration::from_millis(2500),
        "{:?}",
        t.elapsed()
    );
    let evs = app.events(&id).await;
    let p1_end = evs
        .iter()
        .rfind(|e| e["text"] == "p1" && e["kind"] != "received" && e["kind"] != "delayed")
        .unwrap();
    assert_eq!(p1_end["kind"], "reordered", "{p1_end}");
}

#[tokio::test]
async fn an_empty_datagram_is_echoed_empty_with_its_events() {
    let app = spawn_app().await;
    for impair in [json!(null), json!({"delay_ms": 20, "seed": 2})] {
        let e = app
            .engine(json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "echo", "options": {"impair": impair}}))
            .await;
        let id = e["id"].as_str().unwrap().to_string();
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        sock.send_to(b"", local_of(&e)).await.unwrap();
        let mut buf = [0u8; 16];
        let k = tokio::time::timeout(Duration::from_secs(5), sock.recv(&mut buf))
            .await
            .expect("an empty datagram's echo")
            .unwrap();
        assert_eq!(k, 0);
        let evs = app
            .wait_event(&id, "the echo's sent", |e| e["kind"] == "sent")
            .await;
        let sent = evs.iter().find(|e| e["kind"] == "sent").unwrap();
        assert_eq!(sent["bytes"], 0, "{impair}: {sent}");
    }
}
