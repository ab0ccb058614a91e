//! UDP's own attacks: a proxy made to remember clients forever, replies aimed at someone
//! else (amplification), a `sendto()` the OS refuses.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::net::UdpSocket;

use super::*;

/// Events of engine `id` that `pred` accepts.
async fn count(u: &User, id: &str, pred: impl Fn(&Value) -> bool) -> usize {
    u.events(id).await.iter().filter(|e| pred(e)).count()
}

#[tokio::test]
async fn a_udp_proxy_forgets_silent_clients_and_gives_their_places_back() {
    let server = Server::start(
        "10800-10999",
        &["--ws-max-connections", "100"],
        Rlimits::default(),
    )
    .await;
    let ada = server.student("Ada").await;
    let echo = ada
        .engine(json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "echo"}))
        .await;
    let proxy = ada
        .engine(
            json!({"kind": "udp-proxy", "bind": "127.0.0.1:0", "target": echo["local"].clone(),
            "options": {"idle_secs": 1}}),
        )
        .await;
    let pid = proxy["id"].as_str().unwrap().to_string();
    let to = local_of(&proxy);
    // 120 clients, one datagram each: 100 get a pair, 20 are refused.
    let mut socks = Vec::new();
    for _ in 0..120 {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        s.send_to(b"hi", to).await.unwrap();
        socks.push(s);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&ada, &pid, |e| e["kind"] == "refused").await < 20 {
        assert!(
            Instant::now() < deadline,
            "the 20 over the budget were not refused"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Silent for a second, every pair is closed on both legs, saying why.
    let closing = |e: &Value| {
        e["kind"] == "closed" && e["message"].as_str().unwrap_or("").contains("idle_secs")
    };
    while count(&ada, &pid, closing).await < 200 {
        assert!(
            Instant::now() < deadline,
            "the silent pairs were not closed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, v) = ada.get(&format!("/api/engines/{pid}")).await;
    assert_eq!(v["connections"].as_array().unwrap().len(), 0, "{v}");
    // Their places are back: a new client gets through, answered by the echo server.
    let late = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    late.send_to(b"again", to).await.unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = tokio::time::timeout(Duration::from_secs(30), late.recv_from(&mut buf))
        .await
        .expect("the proxy relays for a new client")
        .unwrap();
    assert_eq!(&buf[..n], b"again");
    server.stop().await;
}

#[tokio::test]
async fn a_source_outside_allow_target_gets_no_more_than_it_sent() {
    // Only 127.0.0.2 is a target: a sender on 127.0.0.1 stands for a spoofed outside address.
    let server = Server::start(
        "11000-11199",
        &["--allow-target", "127.0.0.2/32"],
        Rlimits::default(),
    )
    .await;
    let ada = server.student("Ada").await;
    let greet = ada
        .engine(
            json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "greet",
            "options": {"greeting": "g".repeat(4096), "impair": {"duplicate": 1.0}}}),
        )
        .await;
    let gid = greet["id"].as_str().unwrap().to_string();
    let outsider = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    outsider.send_to(b"x", local_of(&greet)).await.unwrap();
    event_of(&ada, &gid, "not answered", |e| {
        e["kind"] == "error"
            && e["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("not answered")
    })
    .await;
    // Loopback delivers during the sender's own sendto(), so a reply sent before that event
    // would be here now.
    let mut buf = vec![0u8; 8192];
    assert!(
        outsider.try_recv_from(&mut buf).is_err(),
        "the outsider got a reply"
    );
    // An address inside --allow-target gets the greeting, twice (impair.duplicate).
    let insider = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    insider.send_to(b"x", local_of(&greet)).await.unwrap();
    for _ in 0..2 {
        let (n, _) = tokio::time::timeout(Duration::from_secs(30), insider.recv_from(&mut buf))
            .await
            .expect("the greeting came")
            .unwrap();
        assert_eq!(n, 4096);
    }
    // An echo is no larger than its cause, so the outsider gets it: once, not duplicated.
    let echo = ada
        .engine(
            json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "echo",
            "options": {"impair": {"duplicate": 1.0}}}),
        )
        .await;
    outsider.send_to(b"y", local_of(&echo)).await.unwrap();
    let (n, _) = tokio::time::timeout(Duration::from_secs(30), outsider.recv_from(&mut buf))
        .await
        .expect("the echo came")
        .unwrap();
    assert_eq!(&buf[..n], b"y");
    let eid = echo["id"].as_str().unwrap().to_string();
    event_of(&ada, &eid, "sent", |e| e["kind"] == "sent").await;
    assert_eq!(count(&ada, &eid, |e| e["kind"] == "duplicated").await, 0);
    assert!(
        outsider.try_recv_from(&mut buf).is_err(),
        "a second copy came"
    );
    server.stop().await;
}

#[tokio::test]
async fn datagrams_held_back_by_a_delay_are_bounded_and_the_excess_said_lost() {
    let server = Server::start("11600-11699", &[], Rlimits::default()).await;
    let ada = server.student("Ada").await;
    let echo = ada
        .engine(
            json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "echo",
            "options": {"recv_size": 65507, "impair": {"delay_ms": 10000}}}),
        )
        .await;
    let id = echo["id"].as_str().unwrap().to_string();
    // Datagrams of 60,000 bytes held 10 s each, sent until the engine says one is lost
    // for it: a flood times the delay, if nothing bounded it.
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let lost = |e: &Value| {
        e["kind"] == "dropped" && e["message"].as_str().unwrap_or("").contains("held back")
    };
    let started = Instant::now();
    let mut sent = 0;
    while count(&ada, &id, lost).await == 0 {
        for _ in 0..10 {
            s.send_to(&vec![b'd'; 60_000], local_of(&echo))
                .await
                .unwrap();
            // Paced a little so the socket's own buffer keeps them.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        sent += 10;
        assert!(sent <= 300, "300 datagrams and none was said lost");
    }
    // Within the delay nothing has gone yet: what is held is exactly what 4 MiB holds.
    assert!(started.elapsed() < Duration::from_secs(10));
    let held = count(&ada, &id, |e| e["kind"] == "delayed").await;
    assert_eq!(
        held,
        (4 << 20) / 60_000,
        "{held} held when the first was lost"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_sendto_the_os_refuses_is_send_failed_not_not_running() {
    let server = Server::start("11200-11399", &[], Rlimits::default()).await;
    let ada = server.student("Ada").await;
    let u = ada
        .engine(json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "manual"}))
        .await;
    // An IPv4 socket cannot send to an IPv6 address (one of the class's ports: allowed).
    let (st, v) = ada
        .post(
            &format!("/api/engines/{}/send", u["id"].as_str().unwrap()),
            json!({"data": "x", "to": "[::1]:11250"}),
        )
        .await;
    let msg = assert_error(st, &v, 502, "send_failed");
    assert!(msg.contains("sendto()"), "{msg}");
    server.stop().await;
}
