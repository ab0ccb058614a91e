//! Proxy engines between the test's own client and server sockets: bytes exact both ways,
//! both legs recorded, half-close and reset passed on, an upstream refused or silent, stop
//! closing both legs, 100 pairs at once, and a udp-proxy.

use std::time::Duration;

use serde_json::{Value, json};
use socketlab::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};

use crate::helpers::*;

async fn tcp_proxy(app: &TestApp, target: std::net::SocketAddr) -> Value {
    app.engine(json!({"kind": "tcp-proxy", "bind": "127.0.0.1:0", "target": target.to_string()}))
        .await
}

/// Reads until EOF (or 5 s), returning what came.
async fn read_all(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    out
}

fn pattern(n: usize, k: u32) -> Vec<u8> {
    (0..n as u32)
        .map(|i| (i.wrapping_mul(2654435761).wrapping_add(k) >> 24) as u8)
        .collect()
}

#[tokio::test]
async fn a_tcp_proxy_relays_exact_bytes_both_ways_and_records_both_legs() {
    let app = spawn_app().await;
    let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = server.local_addr().unwrap();
    let p = tcp_proxy(&app, target).await;
    let id = p["id"].as_str().unwrap().to_string();
    let mut client = TcpStream::connect(local_of(&p)).await.unwrap();
    let (mut upstream, seen_from) = server.accept().await.unwrap();
    let up = pattern(200_000, 1);
    let down = pattern(150_000, 2);
    let (a, b) = tokio::join!(
        async {
            client.write_all(&up).await.unwrap();
            client.shutdown().await.unwrap();
            read_all(&mut client).await
        },
        async {
            let got = read_all(&mut upstream).await;
            upstream.write_all(&down).await.unwrap();
            upstream.shutdown().await.unwrap();
            got
        }
    );
    assert_eq!(b, up, "the server got the client's bytes exactly");
    assert_eq!(a, down, "the client got the server's bytes exactly");
    let v = app
        .wait_engine(&id, "the pair closed", |v| {
            v["stats"]["connections_open"] == 0
        })
        .await;
    assert_eq!(v["kind"], "tcp-proxy");
    let evs = app.events(&id).await;
    let conn = evs.iter().find(|e| e["kind"] == "accepted").unwrap()["conn"].clone();
    let leg_bytes = |leg: &str, kind: &str| -> u64 {
        evs.iter()
            .filter(|e| e["conn"] == conn && e["leg"] == leg && e["kind"] == kind)
            .map(|e| e["bytes"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(leg_bytes("client", "received"), up.len() as u64);
    assert_eq!(leg_bytes("server", "sent"), up.len() as u64);
    assert_eq!(leg_bytes("server", "received"), down.len() as u64);
    assert_eq!(leg_bytes("client", "sent"), down.len() as u64);
    // The server leg's socket is the one the server saw, from socketlab's ephemeral port.
    let connected = evs.iter().find(|e| e["kind"] == "connected").unwrap();
    assert_eq!(connected["leg"], "server");
    assert_eq!(connected["local"], seen_from.to_string());
    assert_eq!(connected["peer"], target.to_string());
    // Both sides finished sending: each half-close passed on as a shutdown on the other leg.
    let shutdowns: Vec<&str> = evs
        .iter()
        .filter(|e| e["kind"] == "shutdown")
        .map(|e| e["leg"].as_str().unwrap())
        .collect();
    assert_eq!(shutdowns.len(), 2, "{shutdowns:?}");
    // The connection's filter holds both legs.
    let (_, page) = app
        .get(&format!(
            "/api/events?engine={id}&conn={}&since=0",
            conn.as_str().unwrap()
        ))
        .await;
    let legs: std::collections::BTreeSet<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["leg"].as_str())
        .collect();
    assert_eq!(legs.into_iter().collect::<Vec<_>>(), ["client", "server"]);
}

#[tokio::test]
async fn per_leg_counters_and_a_reset_passed_on() {
    let app = spawn_app().await;
    let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let p = tcp_proxy(&app, server.local_addr().unwrap()).await;
    let id = p["id"].as_str().unwrap().to_string();
    let mut client = TcpStream::connect(local_of(&p)).await.unwrap();
    let (mut upstream, _) = server.accept().await.unwrap();
    client.write_all(b"12345").await.unwrap();
    let mut buf = [0u8; 5];
    upstream.read_exact(&mut buf).await.unwrap();
    upstream.write_all(b"abc").await.unwrap();
    let mut got = [0u8; 3];
    client.read_exact(&mut got).await.unwrap();
    let v = app.get(&format!("/api/engines/{id}")).await.1;
    let c = &v["connections"][0];
    assert_eq!(
        (c["bytes_in"].as_u64(), c["bytes_out"].as_u64()),
        (Some(5), Some(3)),
        "{c}"
    );
    let up = &c["upstream"];
    assert_eq!(
        (up["bytes_in"].as_u64(), up["bytes_out"].as_u64()),
        (Some(3), Some(5)),
        "{up}"
    );
    // The client resets: the server gets a reset, not an orderly end.
    client.set_zero_linger().unwrap();
    drop(client);
    let mut rest = [0u8; 16];
    let r = tokio::time::timeout(Duration::from_secs(5), upstream.read(&mut rest))
        .await
        .unwrap();
    assert_eq!(
        r.map_err(|e| e.kind()).err(),
        Some(std::io::ErrorKind::ConnectionReset),
        "the reset reached the server"
    );
    let evs = app
        .wait_event(&id, "the closes", |e| {
            e["kind"] == "closed" && e["leg"] == "client"
        })
        .await;
    let closes: Vec<(String, String)> = evs
        .iter()
        .filter(|e| e["kind"] == "closed")
        .map(|e| {
            (
                e["leg"].as_str().unwrap().into(),
                e["message"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        closes
            .iter()
            .any(|(l, m)| l == "client" && m.contains("reset by peer")),
        "{closes:?}"
    );
    assert!(
        closes
            .iter()
            .any(|(l, m)| l == "server" && m.contains("reset passed on")),
        "{closes:?}"
    );
}

#[tokio::test]
async fn a_half_close_is_passed_on_and_the_other_way_goes_on() {
    let app = spawn_app().await;
    let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let p = tcp_proxy(&app, server.local_addr().unwrap()).await;
    let mut client = TcpStream::connect(local_of(&p)).await.unwrap();
    let (mut upstream, _) = server.accept().await.unwrap();
    client.write_all(b"question").await.unwrap();
    client.shutdown().await.unwrap();
    // The server sees the end of the question (EOF) and only then answers.
    assert_eq!(read_all(&mut upstream).await, b"question");
    upstream.write_all(b"answer").await.unwrap();
    drop(upstream);
    assert_eq!(read_all(&mut client).await, b"answer");
}

#[tokio::test]
async fn an_upstream_that_refuses_or_never_answers_closes_that_client_saying_why() {
    let mut config = Config::default();
    config.limits.connect_timeout = Duration::from_millis(400);
    let app = spawn_app_with(config).await;
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let p = tcp_proxy(&app, closed).await;
    let id = p["id"].as_str().unwrap().to_string();
    let mut client = TcpStream::connect(local_of(&p)).await.unwrap();
    assert_eq!(read_all(&mut client).await, b"", "closed at once");
    let evs = app
        .wait_event(&id, "the close", |e| e["kind"] == "closed")
        .await;
    let err = evs.iter().find(|e| e["kind"] == "error").unwrap();
    assert_eq!(
        (err["call"].as_str(), err["leg"].as_str()),
        (Some("connect()"), Some("server"))
    );
    assert!(
        err["message"].as_str().unwrap().contains("refused"),
        "{err}"
    );
    // The event is the upstream socket's own: its ephemeral port and the target, not the
    // proxy's listening address and the client.
    assert_eq!(err["peer"], closed.to_string(), "{err}");
    let from: std::net::SocketAddr = err["local"].as_str().unwrap().parse().unwrap();
    assert!(from.ip().is_loopback() && from.port() != 0, "{err}");
    assert_ne!(from, local_of(&p), "{err}");
    assert_ne!(Some(from), client.local_addr().ok(), "{err}");
    assert!(
        evs.last().unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("could not be reached")
    );
    assert_eq!(
        app.get(&format!("/api/engines/{id}")).await.1["state"],
        "running",
        "the proxy goes on"
    );

    // A server whose accept queue is full never answers: the connect times out.
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let full = sock.listen(0).unwrap();
    let addr = full.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(s)) =
            tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await
        {
            fillers.push(s);
        }
    }
    let p = tcp_proxy(&app, addr).await;
    let id = p["id"].as_str().unwrap().to_string();
    let mut client = TcpStream::connect(local_of(&p)).await.unwrap();
    assert_eq!(read_all(&mut client).await, b"");
    let evs = app
        .wait_event(&id, "the close", |e| e["kind"] == "closed")
        .await;
    let err = evs.iter().find(|e| e["kind"] == "error").unwrap();
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("timed out after 0.4 s"),
        "{err}"
    );
    assert_eq!(err["peer"], addr.to_string(), "{err}");
}

#[tokio::test]
async fn a_udp_proxy_reads_with_its_recv_size_and_relays_what_it_read() {
    let app = spawn_app().await;
    let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let p = app
        .engine(json!({"kind": "udp-proxy", "bind": "127.0.0.1:0",
            "target": server.local_addr().unwrap().to_string(), "options": {"recv_size": 1000}}))
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client
        .send_to(&pattern(65_507, 1), local_of(&p))
        .await
        .unwrap();
    let mut buf = vec![0u8; 70_000];
    let (n, up) = tokio::time::timeout(Duration::from_secs(5), server.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        &buf[..n],
        &pattern(65_507, 1)[..1000],
        "the first 1000 bytes, relayed"
    );
    server.send_to(&pattern(5000, 2), up).await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), client.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], &pattern(5000, 2)[..1000]);
    let evs = app
        .wait_event(&id, "the reply's send", |e| {
            e["kind"] == "sent" && e["leg"] == "client"
        })
        .await;
    let cuts: Vec<&Value> = evs.iter().filter(|e| e["kind"] == "received").collect();
    assert_eq!(cuts.len(), 2);
    for (e, size) in cuts.iter().zip([65_507, 5000]) {
        let m = e["message"].as_str().unwrap();
        assert!(
            m.contains(&format!("datagram of {size} bytes; recvfrom(1000)")),
            "{m}"
        );
    }
}

#[tokio::test]
async fn stopping_the_proxy_closes_both_legs() {
    let app = spawn_app().await;
    let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let p = tcp_proxy(&app, server.local_addr().unwrap()).await;
    let id = p["id"].as_str().unwrap().to_string();
    let mut client = TcpStream::connect(local_of(&p)).await.unwrap();
    let (mut upstream, _) = server.accept().await.unwrap();
    client.write_all(b"x").await.unwrap();
    let mut one = [0u8; 1];
    upstream.read_exact(&mut one).await.unwrap();
    let (st, _) = app
        .post(&format!("/api/engines/{id}/stop"), json!({}))
        .await;
    assert_eq!(st, 200);
    assert_eq!(read_all(&mut client).await, b"", "the client's leg closed");
    assert_eq!(
        read_all(&mut upstream).await,
        b"",
        "the server's leg closed"
    );
    // The port is free again at once.
    TcpListener::bind(local_of(&p)).await.unwrap();
}

#[tokio::test]
async fn a_hundred_proxied_connections_at_once_each_get_their_own_bytes() {
    let app = spawn_app().await;
    // A backlog for 100 at once on both sockets the clients and the proxy connect to.
    let echo = app
        .engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo", "options": {"backlog": 1024}}))
        .await;
    let p = tcp_proxy(&app, local_of(&echo)).await;
    assert_eq!(p["options"]["backlog"], 128);
    let front = local_of(&p);
    let mut tasks = Vec::new();
    for k in 0..100u32 {
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(front).await.unwrap();
            let data = pattern(20_000, k);
            s.write_all(&data).await.unwrap();
            let got = read_until(&mut s, |b| b.len() >= data.len()).await;
            assert_eq!(got, data, "pair {k}");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let v = app
        .wait_engine(p["id"].as_str().unwrap(), "100 pairs", |v| {
            v["stats"]["connections_total"] == 100
        })
        .await;
    assert!(v["stats"]["bytes_in"].as_u64().unwrap() >= 4_000_000, "{v}");
}

#[tokio::test]
async fn a_udp_proxy_relays_each_clients_datagrams_from_its_own_socket() {
    let app = spawn_app().await;
    let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let target = server.local_addr().unwrap();
    let p = app
        .engine(json!({"kind": "udp-proxy", "bind": "127.0.0.1:0", "target": target.to_string()}))
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut froms = Vec::new();
    for (s, msg) in [
        (&a, b"from a".as_slice()),
        (&b, b"\x00from b\xff".as_slice()),
    ] {
        s.send_to(msg, local_of(&p)).await.unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = tokio::time::timeout(Duration::from_secs(5), server.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..n], msg, "byte exact to the server");
        froms.push(from);
        // The reply goes back to the client that sent, from the proxy's address.
        let reply: Vec<u8> = msg.iter().rev().copied().collect();
        server.send_to(&reply, from).await.unwrap();
        let (n, via) = tokio::time::timeout(Duration::from_secs(5), s.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..n], reply.as_slice());
        assert_eq!(via, local_of(&p));
    }
    assert_ne!(
        froms[0], froms[1],
        "each client has its own socket toward the server"
    );
    let v = app.get(&format!("/api/engines/{id}")).await.1;
    assert_eq!(v["connections"].as_array().unwrap().len(), 2);
    let evs = app.events(&id).await;
    let legs = |leg: &str, kind: &str| {
        evs.iter()
            .filter(|e| e["leg"] == leg && e["kind"] == kind)
            .count()
    };
    assert_eq!(
        (
            legs("client", "received"),
            legs("server", "sent"),
            legs("server", "received"),
            legs("client", "sent")
        ),
        (2, 2, 2, 2)
    );
    app.post(&format!("/api/engines/{id}/stop"), json!({}))
        .await;
    UdpSocket::bind(local_of(&p)).await.unwrap();
}

#[tokio::test]
async fn a_proxy_is_checked_like_any_engine() {
    let app = spawn_app().await;
    let (st, v) = app
        .post(
            "/api/engines",
            json!({"kind": "tcp-proxy", "bind": "127.0.0.1:0"}),
        )
        .await;
    assert!(assert_error(st, &v, 400, "invalid_spec").contains("field target is missing"));
    let (st, v) = app
        .post(
            "/api/engines",
            json!({"kind": "udp-proxy", "target": "127.0.0.1:40009"}),
        )
        .await;
    assert!(assert_error(st, &v, 400, "invalid_spec").contains("field bind is missing"));
    let (st, v) = app
        .post("/api/engines", json!({"kind": "tcp-proxy", "bind": "127.0.0.1:0", "target": "127.0.0.1:40009", "behavior": "echo"}))
        .await;
    assert!(assert_error(st, &v, 400, "invalid_spec").contains("not available for a tcp-proxy"));
    let p = app
        .engine(json!({"kind": "tcp-proxy", "bind": "127.0.0.1:0", "target": "127.0.0.1:40009"}))
        .await;
    let (st, v) = app
        .post(
            &format!("/api/engines/{}/send", p["id"].as_str().unwrap()),
            json!({"data": "x"}),
        )
        .await;
    assert!(assert_error(st, &v, 400, "invalid_spec").contains("relays"));
    let (st, v) = app
        .get(&format!("/api/engines/{}/code", p["id"].as_str().unwrap()))
        .await;
    assert!(assert_error(st, &v, 400, "invalid_spec").contains("no program of its own"));
}
