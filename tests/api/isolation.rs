//! Thirty students on one server: each workspace's engines, events, stats, stream, ids and
//! ports are its own, and its limits hold it alone.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::helpers::*;

#[tokio::test]
async fn thirty_workspaces_see_only_their_own_engines_events_stats_and_stream() {
    let (app, teacher) = spawn_class((30_000, 31_199), |c| {
        c.class.as_mut().unwrap().ports_per_workspace = 40;
    })
    .await;
    let code = teacher.class_code().await;
    let mut students = Vec::new();
    for i in 0..30 {
        let (u, ws) = User::join(&app, &code, &format!("student {i:02}")).await;
        students.push((u, ws));
    }
    // Each starts an echo server on port 0 (inside its block), and student i also i % 3
    // extra engines, so engine ids overlap across workspaces but sets differ.
    let mut servers = Vec::new();
    for (i, (u, ws)) in students.iter().enumerate() {
        let e = u.engine(tcp_spec("echo")).await;
        assert_eq!(e["id"], "e1", "ids are per workspace");
        let port = local_of(&e).port();
        let [lo, hi] = [
            ws["port_range"][0].as_u64().unwrap(),
            ws["port_range"][1].as_u64().unwrap(),
        ];
        assert!(
            (lo..=hi).contains(&u64::from(port)),
            "port 0 picked {port} inside {lo}-{hi}"
        );
        for _ in 0..(i % 3) {
            u.engine(udp_spec("discard")).await;
        }
        servers.push(e);
    }
    let mut viewers = Vec::new();
    for (u, _) in &students[..3] {
        viewers.push(u.ws("").await);
    }
    // Every student talks to their own server, with their own words.
    for (i, e) in servers.iter().enumerate() {
        let mut s = TcpStream::connect(local_of(e)).await.unwrap();
        let msg = format!("I am student {i:02}");
        s.write_all(msg.as_bytes()).await.unwrap();
        assert_eq!(
            read_until(&mut s, |b| b.len() >= msg.len()).await,
            msg.as_bytes()
        );
    }
    for (i, (u, _)) in students.iter().enumerate() {
        let (_, list) = u.get("/api/engines").await;
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 1 + i % 3, "student {i} sees only their engines");
        assert_eq!(list[0]["local"], servers[i]["local"]);
        assert_eq!(list[0]["stats"]["bytes_in"], 15, "stats are their own");
        let (_, h) = u.get("/api/events?since=0").await;
        let evs = h["events"].as_array().unwrap();
        let texts: Vec<&str> = evs.iter().filter_map(|e| e["text"].as_str()).collect();
        assert!(
            texts.iter().all(|t| *t == format!("I am student {i:02}")),
            "{i}: {texts:?}"
        );
        assert_eq!(evs[0]["seq"], 1, "seq numbering is per workspace");
        // An id only another workspace has is 404 here.
        if i % 3 == 0 {
            let (st, v) = u.get("/api/engines/e2").await;
            assert_error(st, &v, 404, "not_found");
            let (st, v) = u.get("/api/events?engine=e3").await;
            assert_error(st, &v, 404, "not_found");
            assert_eq!(u.ws_status("?engine=e3").await, 404);
        }
    }
    // The live streams carried their own workspace's events and nobody else's.
    for (i, v) in viewers.iter_mut().enumerate() {
        let seen = v
            .until("its own echo", |e| {
                e["kind"] == "sent" && e["text"].is_string()
            })
            .await;
        let own = format!("I am student {i:02}");
        assert!(
            seen.iter()
                .filter_map(|e| e["text"].as_str())
                .all(|t| t == own),
            "viewer {i} saw {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        while let Some(e) = v.next_within(Duration::from_millis(50)).await {
            assert!(
                e["text"].as_str().is_none_or(|t| t == own),
                "viewer {i} saw {e}"
            );
        }
    }
    // The instructor's list counts each workspace's own.
    let (_, list) = teacher.get("/api/workspaces").await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 31);
    for (i, (_, ws)) in students.iter().enumerate() {
        let row = list.iter().find(|w| w["id"] == ws["id"]).unwrap();
        assert_eq!(row["engines"].as_u64(), Some(1 + (i % 3) as u64));
        assert_eq!(row["bytes_in"], 15);
    }
}

#[tokio::test]
async fn port_blocks_bind_inside_refuse_outside_and_pick_inside_for_port_0() {
    let (app, teacher) = spawn_class((31_200, 31_399), |_| {}).await;
    let code = teacher.class_code().await;
    let (ada, ws) = User::join(&app, &code, "Ada").await;
    assert_eq!(ws["port_range"], json!([31_200, 31_299]));
    let (bob, bws) = User::join(&app, &code, "Bob").await;
    assert_eq!(bws["port_range"], json!([31_300, 31_399]));
    // Inside works, for servers and for a client's explicit bind.
    let e = ada
        .engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:31242", "behavior": "echo"}))
        .await;
    assert_eq!(e["local"], "127.0.0.1:31242");
    let u = ada
        .engine(json!({"kind": "udp-server", "bind": "127.0.0.1:31242", "behavior": "echo"}))
        .await;
    assert_eq!(
        u["local"], "127.0.0.1:31242",
        "UDP and TCP ports are separate spaces"
    );
    // Outside (another student's block, or anywhere else): 403 naming the block.
    for bind in ["127.0.0.1:33100", "127.0.0.1:12345", "127.0.0.1:12399"] {
        let (st, v) = ada
            .post(
                "/api/engines",
                json!({"kind": "tcp-server", "bind": bind, "behavior": "echo"}),
            )
            .await;
        let msg = assert_error(st, &v, 403, "forbidden");
        assert!(msg.contains("31200-31299"), "{msg}");
    }
    let (st, v) = ada
        .post(
            "/api/engines",
            json!({"kind": "tcp-client", "bind": "127.0.0.1:12398", "target": "127.0.0.1:31242"}),
        )
        .await;
    assert!(assert_error(st, &v, 403, "forbidden").contains("31200-31299"));
    // A client bound to port 0 takes a port of the block; without bind, an ephemeral one.
    let c = ada
        .engine(json!({"kind": "tcp-client", "bind": "127.0.0.1:0", "target": "127.0.0.1:31242"}))
        .await;
    let p = local_of(&c).port();
    assert!((31_200..=31_299).contains(&p), "{p}");
    // A student may connect to another's server: only binding is fenced.
    let b = bob
        .engine(json!({"kind": "tcp-client", "target": "127.0.0.1:31242"}))
        .await;
    assert_eq!(b["peer"], "127.0.0.1:31242");
    // When every port of the block is taken, port 0 says so.
    let mut held = Vec::new();
    for port in 31_200..=31_299u16 {
        if let Ok(l) = std::net::UdpSocket::bind(("127.0.0.1", port)) {
            held.push(l);
        }
    }
    let (st, v) = ada.post("/api/engines", udp_spec("echo")).await;
    assert!(assert_error(st, &v, 409, "address_in_use").contains("31200-31299"));
}

#[tokio::test]
async fn one_workspaces_flood_evicts_nothing_of_anothers_history() {
    // A history of 256 KiB per workspace: the loud one's 20,000 events overflow its own.
    let (app, teacher) = spawn_class((31_400, 31_599), |c| {
        c.class.as_mut().unwrap().ws_history_bytes = 256 << 10;
    })
    .await;
    let code = teacher.class_code().await;
    let (quiet, _) = User::join(&app, &code, "Quiet").await;
    let (loud, _) = User::join(&app, &code, "Loud").await;
    let q = quiet.engine(tcp_spec("echo")).await;
    let mut s = TcpStream::connect(local_of(&q)).await.unwrap();
    s.write_all(b"keep me").await.unwrap();
    read_until(&mut s, |b| b.len() >= 7).await;
    let before = quiet.events("e1").await;
    assert!(before.len() >= 5);
    // 20,000 events in the loud workspace: an echo of 10,000 messages, one at a time.
    let l = loud.engine(tcp_spec("echo")).await;
    let mut f = TcpStream::connect(local_of(&l)).await.unwrap();
    for _ in 0..10_000 {
        f.write_all(b"x").await.unwrap();
        read_until(&mut f, |b| b.len() == 1).await;
    }
    let (_, h) = loud.get("/api/events?since=0&limit=10000").await;
    let loud_kept = h["events"].as_array().unwrap();
    assert!(
        loud_kept[0]["seq"].as_u64().unwrap() > 1,
        "the loud workspace evicted its own oldest"
    );
    assert!(h["next"].as_u64().unwrap() >= 20_000);
    let after = quiet.events("e1").await;
    assert_eq!(
        after, before,
        "the quiet workspace kept every event, with its own seqs"
    );
}

#[tokio::test]
async fn a_workspace_is_held_to_its_connection_and_engine_budgets() {
    let (app, teacher) = spawn_class((31_600, 31_799), |c| {
        let class = c.class.as_mut().unwrap();
        class.ws_max_connections = 3;
        class.ws_max_engines = 4;
    })
    .await;
    let code = teacher.class_code().await;
    let (ada, _) = User::join(&app, &code, "Ada").await;
    let a = ada.engine(tcp_spec("echo")).await;
    let b = ada.engine(tcp_spec("echo")).await;
    // Two connections to one engine and one to the other fill the workspace's three.
    let mut held = Vec::new();
    for e in [&a, &a, &b] {
        let mut s = TcpStream::connect(local_of(e)).await.unwrap();
        s.write_all(b"hi").await.unwrap();
        assert_eq!(read_until(&mut s, |b| b.len() >= 2).await, b"hi");
        held.push(s);
    }
    let mut over = TcpStream::connect(local_of(&b)).await.unwrap();
    assert_eq!(
        read_to_eof(&mut over).await,
        b"",
        "the fourth is accepted and closed"
    );
    let evs = ada.events(b["id"].as_str().unwrap()).await;
    let refused = evs
        .iter()
        .find(|e| e["kind"] == "refused")
        .expect("a refused event");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("--ws-max-connections")
    );
    // A client engine is refused up front.
    let (st, v) = ada
        .post(
            "/api/engines",
            json!({"kind": "tcp-client", "target": local_of(&a).to_string()}),
        )
        .await;
    assert!(assert_error(st, &v, 409, "limit_reached").contains("connections"));
    // Closing one frees its place.
    drop(held.pop());
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let mut s = TcpStream::connect(local_of(&a)).await.unwrap();
        s.write_all(b"again").await.unwrap();
        if read_until(&mut s, |b| b.len() >= 5).await == b"again" {
            break;
        }
        assert!(Instant::now() < end, "the freed place was never given back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Engines: four at most.
    ada.engine(udp_spec("echo")).await;
    ada.engine(udp_spec("echo")).await;
    let (st, v) = ada.post("/api/engines", udp_spec("echo")).await;
    assert!(assert_error(st, &v, 409, "limit_reached").contains("4 engines"));
}

#[tokio::test]
async fn max_workspaces_is_enforced() {
    let (app, teacher) = spawn_class((32_000, 32_399), |c| {
        c.class.as_mut().unwrap().max_workspaces = 2;
    })
    .await;
    let code = teacher.class_code().await;
    User::join(&app, &code, "one").await;
    User::join(&app, &code, "two").await;
    let r = app
        .http
        .post(format!("{}/api/join", app.base))
        .json(&json!({"code": code, "name": "three"}))
        .send()
        .await
        .unwrap();
    let st = r.status();
    let v: Value = r.json().await.unwrap();
    assert!(assert_error(st, &v, 409, "limit_reached").contains("--max-workspaces"));
    let (st, v) = teacher
        .post("/api/workspaces", json!({"name": "four"}))
        .await;
    assert_error(st, &v, 409, "limit_reached");
}
