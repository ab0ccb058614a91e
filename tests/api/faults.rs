//! Faults survived: peers that reset, half-close, stay silent or flood; a stop with hundreds
//! of connections; a viewer that never reads; junk on the WebSocket; churn. Each ends in a
//! clear event, and nothing leaks.

use std::time::{Duration, Instant};

use futures_util::SinkExt;
use serde_json::json;
use socketlab::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

#[tokio::test]
async fn a_peer_reset_is_a_closed_event() {
    let app = spawn_app().await;
    let e = app.engine(tcp_spec("echo")).await;
    let id = e["id"].as_str().unwrap();
    let s = TcpStream::connect(local_of(&e)).await.unwrap();
    app.wait_engine(id, "connected", |v| v["stats"]["connections_open"] == 1)
        .await;
    // SO_LINGER 0: close() sends RST instead of FIN.
    s.set_zero_linger().unwrap();
    drop(s);
    let evs = app.wait_event(id, "closed", kind_is("closed")).await;
    let closed = evs.iter().find(|e| e["kind"] == "closed").unwrap();
    assert_eq!(closed["message"], "connection reset by peer");
    app.wait_engine(id, "connection gone", |v| {
        v["stats"]["connections_open"] == 0
    })
    .await;
}

#[tokio::test]
async fn a_peer_half_close_gets_its_echo_then_the_close() {
    let app = spawn_app().await;
    let e = app.engine(tcp_spec("echo")).await;
    let mut s = TcpStream::connect(local_of(&e)).await.unwrap();
    s.write_all(b"last words").await.unwrap();
    s.shutdown().await.unwrap();
    assert_eq!(read_to_eof(&mut s).await, b"last words");
    let evs = app
        .wait_event(e["id"].as_str().unwrap(), "closed", kind_is("closed"))
        .await;
    assert!(evs.iter().any(|e| {
        e["kind"] == "closed"
            && e["message"]
                .as_str()
                .unwrap()
                .contains("recv() returned 0 bytes")
    }));
}

#[tokio::test]
async fn silent_and_flooding_peers_do_not_stall_others_or_stop() {
    let app = spawn_app().await;
    let e = app.engine(tcp_spec("echo")).await;
    let id = e["id"].as_str().unwrap();
    let addr = local_of(&e);
    let _silent = TcpStream::connect(addr).await.unwrap();
    // A flooder that never reads: the echo fills its window, then the server's send() waits.
    let mut flooder = TcpStream::connect(addr).await.unwrap();
    let flood = tokio::spawn(async move {
        let chunk = vec![b'f'; 64 * 1024];
        for _ in 0..1024 {
            if flooder.write_all(&chunk).await.is_err() {
                break;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut polite = TcpStream::connect(addr).await.unwrap();
    polite.write_all(b"still there?").await.unwrap();
    assert_eq!(
        read_until(&mut polite, |b| b.len() >= 12).await,
        b"still there?"
    );
    let t = Instant::now();
    app.post(&format!("/api/engines/{id}/stop"), json!({}))
        .await;
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "stop took {:?}",
        t.elapsed()
    );
    std::net::TcpListener::bind(addr).expect("port free");
    flood.abort();
}

#[tokio::test]
async fn stopping_300_live_connections_is_fast_and_frees_the_port() {
    let app = spawn_app().await;
    let e = app.engine(tcp_spec("echo")).await;
    let id = e["id"].as_str().unwrap();
    let addr = local_of(&e);
    let mut conns = Vec::new();
    for _ in 0..300 {
        conns.push(TcpStream::connect(addr).await.unwrap());
    }
    app.wait_engine(id, "300 open", |v| v["stats"]["connections_open"] == 300)
        .await;
    let t = Instant::now();
    let (st, v) = app
        .post(&format!("/api/engines/{id}/stop"), json!({}))
        .await;
    let took = t.elapsed();
    json_ok(st, &v);
    assert!(took < Duration::from_secs(2), "stop took {took:?}");
    std::net::TcpListener::bind(addr).expect("port re-bindable right after stop");
    for c in &mut conns {
        let mut b = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(2), c.read(&mut b))
            .await
            .expect("closed")
            .unwrap_or(0);
        assert_eq!(n, 0);
    }
    let closed = app
        .events(id)
        .await
        .iter()
        .filter(|e| e["kind"] == "closed")
        .count();
    assert_eq!(closed, 300, "one closed event per connection");
}

#[tokio::test]
async fn a_viewer_that_never_reads_costs_bounded_memory_and_no_throughput() {
    // Measured on the real binary in its own process, so other tests' memory does not count.
    let app = BinApp::start(&[]).await;
    let e = app
        .engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo", "options": {"recv_size": 65536}}))
        .await;
    let id = e["id"].as_str().unwrap().to_string();
    let mut stuck = app.ws(&format!("?engine={id}")).await;
    let before = app.rss();
    const TOTAL: usize = 200 * 1024 * 1024;
    let s = TcpStream::connect(local_of(&e)).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let writer = tokio::spawn(async move {
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..TOTAL / chunk.len() {
            wr.write_all(&chunk).await.unwrap();
        }
        wr
    });
    let mut got = 0usize;
    let mut buf = vec![0u8; 256 * 1024];
    let mut peak = 0;
    let started = Instant::now();
    while got < TOTAL {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "echo stalled at {got} bytes"
        );
        let n = tokio::time::timeout(Duration::from_secs(10), rd.read(&mut buf))
            .await
            .expect("echo keeps flowing")
            .unwrap();
        assert!(n > 0);
        got += n;
        if got % (16 * 1024 * 1024) < n {
            peak = peak.max(app.rss());
        }
    }
    let _wr = writer.await.unwrap();
    let grown = peak.max(app.rss()).saturating_sub(before);
    eprintln!(
        "200 MiB echoed past a stuck viewer in {:?}; server RSS grew {} MiB at most",
        started.elapsed(),
        grown / (1024 * 1024)
    );
    assert!(
        grown < 150 * 1024 * 1024,
        "RSS grew {} MiB",
        grown / (1024 * 1024)
    );
    // The viewer, reading at last, is told it lagged, and the stream goes on.
    let mut lagged = None;
    for _ in 0..100_000 {
        let Some(ev) = stuck.next_within(Duration::from_secs(5)).await else {
            break;
        };
        if ev["kind"] == "lagged" {
            lagged = Some(ev);
            break;
        }
    }
    let lagged = lagged.expect("a lagged notice");
    assert!(lagged["missed"].as_u64().unwrap() > 0);
    assert!(
        stuck.next_within(Duration::from_secs(5)).await.is_some(),
        "events keep coming after the notice"
    );
}

#[tokio::test]
async fn two_thousand_connections_of_churn_leave_no_file_descriptor_behind() {
    let app = BinApp::start(&[]).await;
    let e = app
        .engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo", "options": {"backlog": 1024}}))
        .await;
    let id = e["id"].as_str().unwrap();
    let addr = local_of(&e);
    let baseline = app.fds();
    for round in 0..40 {
        let mut batch = Vec::new();
        for _ in 0..50 {
            batch.push(tokio::spawn(async move {
                let mut c = TcpStream::connect(addr).await.unwrap();
                c.write_all(b"ping").await.unwrap();
                read_until(&mut c, |b| b.len() >= 4).await
            }));
        }
        for t in batch {
            assert_eq!(t.await.unwrap(), b"ping", "round {round}");
        }
    }
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let v = app.view(id).await;
        if v["stats"]["connections_open"] == 0 && app.fds() <= baseline {
            assert_eq!(v["stats"]["connections_total"], 2000);
            break;
        }
        assert!(
            Instant::now() < end,
            "after churn: {} fds, {baseline} before; {v}",
            app.fds()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn junk_on_the_websocket_closes_that_viewer_only() {
    let app = spawn_app().await;
    let mut good = app.ws("?since=0").await;
    let mut junk = app.ws("").await;
    junk.stream
        .send(Message::Binary(vec![0xff; 100].into()))
        .await
        .unwrap();
    junk.stream
        .send(Message::Text("{not json".into()))
        .await
        .unwrap();
    // Over the 64 KiB frame limit: the server closes this viewer.
    let _ = junk
        .stream
        .send(Message::Text("x".repeat(100 * 1024).into()))
        .await;
    assert!(
        junk.next_within(Duration::from_secs(5)).await.is_none(),
        "the junk viewer was closed"
    );
    // Raw garbage instead of frames, after a real handshake.
    let (st, _) = raw_http(
        app.addr,
        &format!(
            "{}\u{1}\u{2}garbage",
            ws_request(&format!("127.0.0.1:{}", app.addr.port()), "/ws", "")
        ),
    )
    .await;
    assert_eq!(st, 101);
    // The server and the other viewer carry on.
    let e = app.engine(udp_spec("echo")).await;
    let ev = good.until("the new engine's bind", kind_is("bound")).await;
    assert_eq!(ev.last().unwrap()["engine"], e["id"]);
    let (st, _) = app.get("/healthz").await;
    assert_eq!(st.as_u16(), 200);
}

#[tokio::test]
async fn max_connections_refuses_the_next_one_with_an_event() {
    let mut config = Config::default();
    config.limits.max_connections = 2;
    let app = spawn_app_with(config).await;
    let e = app.engine(tcp_spec("echo")).await;
    assert_eq!(
        e["options"]["max_clients"], 1024,
        "the engine asked for more than the server allows"
    );
    let _a = TcpStream::connect(local_of(&e)).await.unwrap();
    let _b = TcpStream::connect(local_of(&e)).await.unwrap();
    let mut c = TcpStream::connect(local_of(&e)).await.unwrap();
    assert_eq!(read_to_eof(&mut c).await, b"");
    let evs = app
        .wait_event(e["id"].as_str().unwrap(), "refused", kind_is("refused"))
        .await;
    assert!(evs.iter().any(|e| e["kind"] == "refused"));
}

#[tokio::test]
async fn a_viewer_whose_socket_stays_full_is_closed_and_frees_its_slot() {
    let mut config = Config::default();
    config.limits.max_viewers = 1;
    config.limits.viewer_buffer = 64;
    config.limits.viewer_stall = Duration::from_secs(1);
    let app = spawn_app_with(config).await;
    let e = app
        .engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "discard", "options": {"recv_size": 4096}}))
        .await;
    let _never_reads = app
        .ws(&format!("?engine={}", e["id"].as_str().unwrap()))
        .await;
    // Enough events (about 10 KB of JSON each) to fill the viewer's socket buffers.
    let mut s = TcpStream::connect(local_of(&e)).await.unwrap();
    let chunk = vec![b'z'; 64 * 1024];
    for _ in 0..512 {
        s.write_all(&chunk).await.unwrap();
    }
    // Its slot comes back once a write to it has waited past the stall limit.
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        if tokio_tungstenite::connect_async(format!("ws://{}/ws", app.addr))
            .await
            .is_ok()
        {
            break;
        }
        assert!(Instant::now() < end, "the stuck viewer was never closed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
