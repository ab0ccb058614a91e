//! Floods of the dashboard itself: half-sent requests that would take every descriptor,
//! looping `/layers` callers, and events larger than one packet.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;
use crate::pcap::{clean, tshark};

#[tokio::test]
async fn half_sent_requests_are_closed_and_a_real_one_gets_in() {
    // This test process opens 1,100 sockets too.
    socketlab::web::conns::raise_open_files();
    let mut server = with_1024_files("9600-9799").await;
    // 1,100 connections, each with half a request: more than the server's descriptors.
    let opened = Instant::now();
    let mut held = Vec::new();
    for _ in 0..1100 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .await
            .unwrap();
        held.push(s);
    }
    // A real request still gets in, at once: the oldest half-sent one made room.
    a_fresh_request_is_answered(&server).await;
    // And every half-sent one is closed by the server within 30 s of being opened.
    all_closed_within_30s(held, opened, "half-sent connection").await;
    server.assert_alive();
    assert!(server.healthz().await < BYSTANDER_BOUND);
    let err = server.stop().await;
    assert!(!err.contains("Too many open files"), "{err}");
}

#[tokio::test]
async fn bodies_sent_a_trickle_at_a_time_are_closed_and_a_real_request_gets_in() {
    socketlab::web::conns::raise_open_files();
    let mut server = with_1024_files("11500-11599").await;
    // 1,100 joins (no credential needed) that promise 100 KB and send a few bytes: more
    // connections than the server may hold, each in the middle of its body.
    let opened = Instant::now();
    let head = "POST /api/join HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"code\":";
    let mut held = Vec::new();
    for _ in 0..1100 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(head.as_bytes()).await.unwrap();
        held.push(s);
    }
    // Ten of them go on trickling, a byte a second: too slow to keep a place.
    let trickle: Vec<TcpStream> = held.drain(..10).collect();
    let trickling = tokio::spawn(async move {
        let mut trickle = trickle;
        let mut alive = trickle.len();
        while alive > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            alive = 0;
            for s in &mut trickle {
                if s.write_all(b" ").await.is_ok() {
                    alive += 1;
                }
            }
            assert!(
                opened.elapsed() < Duration::from_secs(30),
                "a trickled body kept its connection for 30 s"
            );
        }
    });
    a_fresh_request_is_answered(&server).await;
    all_closed_within_30s(held, opened, "stalled body").await;
    trickling.await.unwrap();
    server.assert_alive();
    server.stop().await;
}

#[tokio::test]
async fn a_send_larger_than_a_packet_is_segments_in_the_pcap_and_has_layers() {
    let server = Server::start("9800-9999", &[], Rlimits::default()).await;
    let ada = server.student("Ada").await;
    let echo = ada
        .engine(
            json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "discard",
            "options": {"recv_size": 262_144}}),
        )
        .await;
    let client = ada
        .engine(json!({"kind": "tcp-client", "target": echo["local"].clone()}))
        .await;
    let id = client["id"].as_str().unwrap();
    let (st, v) = ada
        .post(
            &format!("/api/engines/{id}/send"),
            json!({"data": "a".repeat(100_000)}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let sent = event_of(&ada, id, "sent", |e| e["kind"] == "sent").await;
    assert_eq!(sent["bytes"], 100_000);
    let seq = sent["seq"].as_u64().unwrap();
    let (st, layers) = ada.get(&format!("/api/events/{seq}/layers")).await;
    assert_eq!(st, StatusCode::OK, "{layers}");
    assert_eq!(layers["transport"]["segments"], 2, "{layers}");
    assert_eq!(layers["transport"]["len"], 65_495, "{layers}");
    assert_eq!(layers["app"]["bytes"], 100_000);
    // The pcap has both segments, one after the other in sequence.
    let r = ada
        .http
        .get(format!("{}/api/engines/{id}/capture.pcap", server.base))
        .bearer_auth(&ada.cred)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let file = temp_dir("big-pcap").join("big.pcap");
    std::fs::write(&file, r.bytes().await.unwrap()).unwrap();
    clean(&file);
    let lens = tshark(
        &file,
        &[
            "-Y",
            "tcp.len > 0",
            "-T",
            "fields",
            "-e",
            "tcp.len",
            "-e",
            "tcp.seq_raw",
        ],
    );
    let rows: Vec<(u64, u64)> = lens
        .lines()
        .map(|l| {
            let mut f = l.split('\t');
            (
                f.next().unwrap().parse().unwrap(),
                f.next().unwrap().parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        [65_495, 34_505],
        "{lens}"
    );
    assert_eq!(
        rows[1].1,
        (rows[0].1 + 65_495) % (1 << 32),
        "the second segment follows the first"
    );
    assert_eq!(
        layers["transport"]["seq"].as_u64(),
        Some(rows[0].1),
        "/layers and the pcap agree"
    );
    server.stop().await;
}

#[tokio::test]
async fn looping_layers_callers_do_not_slow_a_neighbour() {
    let server = Server::start("10000-10199", &[], Rlimits::default()).await;
    let mut by = Bystander::new(&server).await;
    let eve = server.student("Eve").await;
    // A connection with a long history: every byte its own recv() and send().
    let echo = eve
        .engine(
            json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo",
            "options": {"recv_size": 1}}),
        )
        .await;
    let mut c = TcpStream::connect(local_of(&echo)).await.unwrap();
    c.write_all(&[b'z'; 20_000]).await.unwrap();
    let mut back = vec![0u8; 20_000];
    c.read_exact(&mut back).await.unwrap();
    let id = echo["id"].as_str().unwrap();
    let last = {
        let (_, v) = eve
            .get(&format!(
                "/api/events?engine={id}&before=1000000000&limit=1"
            ))
            .await;
        v["events"][0]["seq"].as_u64().unwrap()
    };
    let path = format!("/api/events/{last}/layers");
    let (st, v) = eve.get(&path).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let attack = {
        let (eve, path, answered) = (eve.clone(), path.clone(), answered.clone());
        tokio::spawn(async move {
            let callers = (0..4).map(|_| {
                let (eve, path, answered) = (eve.clone(), path.clone(), answered.clone());
                async move {
                    loop {
                        let (st, v) = eve.get(&path).await;
                        assert_eq!(st, StatusCode::OK, "{v}");
                        answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
            futures_util::future::join_all(callers).await;
        })
    };
    let n = bystander_keeps_answering(&server, &mut by, &attack, Duration::from_secs(3)).await;
    assert!(n >= 10);
    attack.abort();
    // The loop was paced to the workspace's requests a second (a second's worth at once).
    let made = answered.load(std::sync::atomic::Ordering::Relaxed) as f64;
    let allowed = 100.0 * started.elapsed().as_secs_f64() + 100.0 + 10.0;
    assert!(made <= allowed, "{made} answers, {allowed} allowed");
    server.stop().await;
}

#[tokio::test]
async fn a_flood_of_requests_waits_its_turn_then_is_refused() {
    let server = Server::start(
        "11400-11499",
        &["--ws-requests-per-sec", "20"],
        Rlimits::default(),
    )
    .await;
    let eve = server.student("Eve").await;
    let calls = (0..120).map(|_| {
        let eve = eve.clone();
        async move { eve.get("/api/engines").await }
    });
    let began = Instant::now();
    let answers = futures_util::future::join_all(calls).await;
    // Answers came as the budget refilled while the flood was still arriving, too.
    let refill = 20.0 * began.elapsed().as_secs_f64();
    let refused: Vec<&Value> = answers
        .iter()
        .filter(|(st, _)| *st == StatusCode::TOO_MANY_REQUESTS)
        .map(|(_, v)| v)
        .collect();
    let ok = answers
        .iter()
        .filter(|(st, _)| *st == StatusCode::OK)
        .count();
    // 20 at once, 20 more within the second each may wait: the rest are refused.
    assert!(
        ok >= 38 && (ok as f64) <= 40.0 + refill + 2.0,
        "{ok} answered"
    );
    assert_eq!(ok + refused.len(), 120);
    assert_eq!(refused[0]["error"]["code"], "too_many_requests");
    assert!(
        refused[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--ws-requests-per-sec"),
        "{}",
        refused[0]
    );
    // The instructor is not paced, and the student's budget comes back.
    let (st, _) = server.teacher().get("/api/workspaces").await;
    assert_eq!(st, StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(30);
    while eve.get("/api/engines").await.0 != StatusCode::OK {
        assert!(Instant::now() < deadline, "the budget never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop().await;
}

/// A request made during the flood is answered, and soon: the flood made room for it.
async fn a_fresh_request_is_answered(server: &Server) {
    let fresh = Instant::now();
    let r = reqwest::Client::new()
        .get(format!("{}/healthz", server.base))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("a fresh request is answered during the flood");
    assert_eq!(r.text().await.unwrap(), "ok");
    assert!(
        fresh.elapsed() < Duration::from_secs(5),
        "the fresh request waited {:?}",
        fresh.elapsed()
    );
}

/// Every one of `held` is closed by the server within 30 s of `opened`.
async fn all_closed_within_30s(held: Vec<TcpStream>, opened: Instant, what: &str) {
    for (i, mut s) in held.into_iter().enumerate() {
        let left = Duration::from_secs(30).saturating_sub(opened.elapsed());
        let mut buf = [0u8; 512];
        let end = tokio::time::timeout(left, async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(end.is_ok(), "{what} {i} still open after 30 s");
    }
}

/// A server on `ports` that may open 1,024 files, fewer than a flood's connections.
async fn with_1024_files(ports: &str) -> Server {
    Server::start(
        ports,
        &[],
        Rlimits {
            open_files: Some(1024),
            ..Rlimits::default()
        },
    )
    .await
}
