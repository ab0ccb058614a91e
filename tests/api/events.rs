//! The event stream: what each event carries, seq order, replay with `since`, and a viewer
//! that falls behind.

use std::time::Duration;

use serde_json::{Value, json};
use socketlab::Config;
use socketlab::config::Limits;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::helpers::*;

fn seqs(evs: &[Value]) -> Vec<u64> {
    evs.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
}

fn strictly_increasing(s: &[u64]) -> bool {
    s.windows(2).all(|w| w[0] < w[1])
}

#[tokio::test]
async fn live_events_mirror_the_socket_calls() {
    let app = spawn_app().await;
    let e = app.engine(tcp_spec("echo")).await;
    let id = e["id"].as_str().unwrap();
    let server = local_of(&e);
    let mut ws = app.ws(&format!("?engine={id}&since=0")).await;
    let mut s = TcpStream::connect(server).await.unwrap();
    let me = s.local_addr().unwrap().to_string();
    s.write_all(b"hello world\n").await.unwrap();
    assert_eq!(
        read_until(&mut s, |b| b.len() >= 12).await,
        b"hello world\n"
    );
    drop(s);
    let evs = ws.until("closed", kind_is("closed")).await;
    let kinds: Vec<&str> = evs.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "created",
            "bound",
            "listening",
            "accepted",
            "received",
            "sent",
            "eof",
            "closed"
        ]
    );
    let calls: Vec<&str> = evs.iter().map(|e| e["call"].as_str().unwrap()).collect();
    assert_eq!(
        calls,
        [
            "socket()", "bind()", "listen()", "accept()", "recv()", "send()", "recv()", "close()"
        ]
    );
    // The lecture's first line: socket(AF_INET, SOCK_STREAM), on the address it then binds.
    assert_eq!(evs[0]["family"], "AF_INET");
    assert_eq!(evs[0]["type"], "SOCK_STREAM");
    assert_eq!(evs[0]["message"], "AF_INET, SOCK_STREAM");
    assert_eq!(evs[0]["local"], evs[1]["local"]);
    assert!(strictly_increasing(&seqs(&evs)), "{:?}", seqs(&evs));
    for ev in &evs {
        assert_eq!(ev["engine"], id);
        assert_eq!(ev["local"], server.to_string());
        let t = ev["time"].as_str().unwrap();
        assert!(
            t.len() == 27 && t.ends_with('Z') && t.as_bytes()[19] == b'.',
            "RFC 3339 with microseconds: {t}"
        );
    }
    let conn = evs[3]["conn"].as_str().unwrap();
    assert!(conn.starts_with('c'));
    for ev in &evs[3..] {
        assert_eq!(ev["peer"], me, "the client's ephemeral port");
        assert_eq!(ev["conn"], conn);
    }
    for ev in &evs[4..6] {
        assert_eq!(ev["bytes"], 12);
        assert_eq!(ev["data"], "aGVsbG8gd29ybGQK");
        assert_eq!(ev["text"], "hello world\n");
        assert_eq!(ev["truncated"], false);
    }
    assert!(
        evs[6]["message"].as_str().unwrap().contains("peer closed"),
        "{}",
        evs[6]
    );
}

#[tokio::test]
async fn every_socket_an_engine_makes_starts_with_socket() {
    let app = spawn_app().await;
    let server = app.engine(tcp_spec("echo")).await;
    let client = app
        .engine(json!({"kind": "tcp-client", "target": server["local"], "behavior": "manual"}))
        .await;
    let cid = client["id"].as_str().unwrap();
    let evs = app.wait_event(cid, "connected", kind_is("connected")).await;
    // A client's socket is made before connect(): its event names the connection and the
    // ephemeral port connect() gave it.
    assert_eq!(evs[0]["kind"], "created");
    assert_eq!(evs[0]["call"], "socket()");
    assert_eq!(evs[0]["type"], "SOCK_STREAM");
    assert_eq!(evs[0]["conn"], evs[1]["conn"]);
    assert_eq!(evs[0]["local"], client["local"]);
    assert_eq!(evs[1]["kind"], "connected");

    let udp = app.engine(udp_spec("echo")).await;
    let evs = app.events(udp["id"].as_str().unwrap()).await;
    let kinds: Vec<_> = evs.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["created", "bound"]);
    assert_eq!(evs[0]["family"], "AF_INET");
    assert_eq!(evs[0]["type"], "SOCK_DGRAM");

    let (st, v6) = app
        .post(
            "/api/engines",
            json!({"kind": "udp-server", "bind": "[::1]:0", "behavior": "echo"}),
        )
        .await;
    // A machine without IPv6 on loopback cannot make the socket: nothing to check then.
    if st.is_success() {
        let evs = app.events(v6["id"].as_str().unwrap()).await;
        assert_eq!(evs[0]["family"], "AF_INET6");
        assert_eq!(evs[0]["message"], "AF_INET6, SOCK_DGRAM");
    }
}

#[tokio::test]
async fn previews_are_cut_and_binary_is_lossy_text() {
    let mut config = Config::default();
    config.limits.preview = 8;
    let app = spawn_app_with(config).await;
    let e = app.engine(tcp_spec("discard")).await;
    let id = e["id"].as_str().unwrap();
    let mut s = TcpStream::connect(local_of(&e)).await.unwrap();
    s.write_all(b"\xff\xfeabcdefghij").await.unwrap();
    let evs = app.wait_event(id, "received", kind_is("received")).await;
    let rx = evs.iter().find(|e| e["kind"] == "received").unwrap();
    assert_eq!(rx["bytes"], 12);
    assert_eq!(rx["truncated"], true);
    assert_eq!(rx["data"], b64(b"\xff\xfeabcdef"));
    assert_eq!(rx["text"], "\u{fffd}\u{fffd}abcdef");
}

#[tokio::test]
async fn replay_with_since_then_live_and_filters() {
    let app = spawn_app().await;
    let a = app.engine(udp_spec("echo")).await;
    let b = app.engine(udp_spec("echo")).await;
    let (aid, bid) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(b"one", local_of(&a)).await.unwrap();
    app.wait_event(aid, "echo sent", kind_is("sent")).await;

    let (_, all) = app.get("/api/events?since=0").await;
    let all = all["events"].as_array().unwrap().clone();
    assert!(strictly_increasing(&seqs(&all)));
    assert!(all.iter().any(|e| e["engine"] == bid));
    // a's bind(), after its socket() (created): the filter starts after it.
    let first_a = all
        .iter()
        .find(|e| e["engine"] == aid && e["kind"] == "bound")
        .unwrap()["seq"]
        .as_u64()
        .unwrap();

    // since=0: everything kept; since=N: only later; no since: live only.
    let mut everything = app.ws("?since=0").await;
    let got = everything
        .until("a's echo", |e| e["engine"] == aid && e["kind"] == "sent")
        .await;
    assert_eq!(seqs(&got), seqs(&all));
    let mut after = app.ws(&format!("?engine={aid}&since={first_a}")).await;
    let got = after.until("a's echo", |e| e["kind"] == "sent").await;
    assert!(
        got.iter()
            .all(|e| e["seq"].as_u64().unwrap() > first_a && e["engine"] == aid)
    );
    assert_eq!(got.len(), 2, "received and sent; {got:#?}");
    let mut live = app.ws(&format!("?engine={bid}")).await;
    assert!(
        live.next_within(Duration::from_millis(200)).await.is_none(),
        "no replay without since"
    );

    sock.send_to(b"two", local_of(&b)).await.unwrap();
    let got = live.until("b's echo", |e| e["kind"] == "sent").await;
    assert_eq!(
        got.iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["received", "sent"]
    );
    assert!(got.iter().all(|e| e["engine"] == bid));
    // A second viewer of everything sees the same live events.
    let more = everything
        .until("b's echo", |e| e["engine"] == bid && e["kind"] == "sent")
        .await;
    assert_eq!(seqs(&more[more.len() - 2..]), seqs(&got));

    // History pages with limit and next.
    let (_, page) = app
        .get(&format!("/api/events?engine={aid}&since=0&limit=2"))
        .await;
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
    let next = page["next"].as_u64().unwrap();
    let (_, rest) = app
        .get(&format!("/api/events?engine={aid}&since={next}"))
        .await;
    assert!(
        rest["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["seq"].as_u64().unwrap() > next)
    );
    assert_eq!(
        page["events"].as_array().unwrap().len() + rest["events"].as_array().unwrap().len(),
        4
    );
}

#[tokio::test]
async fn history_ring_is_bounded() {
    let mut config = Config::default();
    config.limits.history = 5;
    let app = spawn_app_with(config).await;
    let e = app.engine(udp_spec("echo")).await;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 0..10 {
        sock.send_to(format!("{i}").as_bytes(), local_of(&e))
            .await
            .unwrap();
    }
    app.wait_engine(e["id"].as_str().unwrap(), "10 echoes", |v| {
        v["stats"]["messages_out"] == 10
    })
    .await;
    let (_, h) = app.get("/api/events?since=0").await;
    let evs = h["events"].as_array().unwrap();
    assert_eq!(evs.len(), 5);
    assert_eq!(evs[4]["text"], "9");
}

#[tokio::test]
async fn a_viewer_that_falls_behind_is_told_and_never_slows_the_engine() {
    let config = Config {
        limits: Limits {
            viewer_buffer: 64,
            history: 200_000,
            // Every event must stay in the history for the exact accounting below.
            history_bytes: usize::MAX,
            ..Limits::default()
        },
        ..Config::default()
    };
    let app = spawn_app_with(config).await;
    let e = app
        .engine(
            json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "discard",
                       "options": {"recv_size": 4096}}),
        )
        .await;
    let id = e["id"].as_str().unwrap().to_string();
    // Subscribed, then never read while the flood runs.
    let mut ws = app.ws(&format!("?engine={id}")).await;
    const TOTAL: usize = 32 * 1024 * 1024;
    let mut s = TcpStream::connect(local_of(&e)).await.unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    let flood = async {
        for _ in 0..TOTAL / chunk.len() {
            s.write_all(&chunk).await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(30), flood)
        .await
        .expect("the engine kept reading while the viewer did not");
    let v = app
        .wait_engine(&id, "every byte received", |v| {
            v["stats"]["bytes_in"] == TOTAL as u64
        })
        .await;
    assert!(v["stats"]["messages_in"].as_u64().unwrap() >= (TOTAL / 4096) as u64);
    drop(s);
    let mut seen = Vec::new();
    loop {
        let ev = ws
            .next_within(Duration::from_secs(5))
            .await
            .expect("the stream goes on after lagging");
        let done = ev["kind"] == "closed";
        seen.push(ev);
        if done {
            break;
        }
    }
    let lagged: Vec<&Value> = seen.iter().filter(|e| e["kind"] == "lagged").collect();
    assert!(!lagged.is_empty(), "the slow viewer was told it lagged");
    let missed: u64 = lagged.iter().map(|e| e["missed"].as_u64().unwrap()).sum();
    let delivered = seen.iter().filter(|e| e["kind"] == "received").count() as u64;
    let total_rx = v["stats"]["messages_in"].as_u64().unwrap();
    assert!(
        missed > 0 && delivered < total_rx,
        "missed {missed}, delivered {delivered} of {total_rx}"
    );
    // Exact accounting: everything published after the viewer subscribed (all but created,
    // bound and listening) was either delivered or counted in a lag notice.
    let all = app.events(&id).await.len() as u64;
    let shown = seen.iter().filter(|e| e["kind"] != "lagged").count() as u64;
    assert_eq!(
        shown + missed,
        all - 3,
        "delivered {shown} + missed {missed} of {all}"
    );
    assert!(
        lagged[0]["message"]
            .as_str()
            .unwrap()
            .contains("/api/events?since=")
    );
    assert!(
        strictly_increasing(&seqs(&seen)),
        "seq stays strictly increasing through lag notices"
    );
}
