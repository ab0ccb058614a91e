//! TCP drawn as it happens on the wire: both ends of a connection between two of socketlab's
//! engines share one sequence space (a segment has the same `seq`/`ack` at its `send()` and at
//! its `recv()`, in the layers and in the pcap), `recv()` returning 0 is its own `eof` event
//! before the `close()` it leads to, a half-close's FINs come in the order they were sent, and
//! stopping a server is its sockets' `close()`s.

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::helpers::*;
use crate::pcap::{clean, pcap_of, tshark};

/// The TCP `seq`, `ack` and payload length of every data segment in `file`, absolute numbers.
fn segments(file: &std::path::Path) -> Vec<(u64, u64, u64)> {
    tshark(
        file,
        &[
            "-o",
            "tcp.relative_sequence_numbers:FALSE",
            "-Y",
            "tcp.len > 0",
            "-T",
            "fields",
            "-e",
            "tcp.seq",
            "-e",
            "tcp.ack",
            "-e",
            "tcp.len",
        ],
    )
    .lines()
    .map(|l| {
        let f: Vec<u64> = l.split('\t').map(|x| x.parse().unwrap()).collect();
        (f[0], f[1], f[2])
    })
    .collect()
}

#[tokio::test]
async fn both_ends_of_a_connection_give_a_segment_the_same_seq_and_ack() {
    let app = spawn_app().await;
    let server = app.engine(tcp_spec("echo")).await;
    let sid = server["id"].as_str().unwrap().to_string();
    let client = app
        .engine(json!({"kind": "tcp-client", "target": server["local"], "behavior": "manual"}))
        .await;
    let cid = client["id"].as_str().unwrap().to_string();
    app.wait_event(&cid, "connected", kind_is("connected"))
        .await;
    for word in ["hello", "socket world"] {
        let (st, v) = app
            .post(&format!("/api/engines/{cid}/send"), json!({"data": word}))
            .await;
        json_ok(st, &v);
        let want = word.len() as u64;
        app.wait_event(&cid, "the echo back", |e: &Value| {
            e["kind"] == "received" && e["bytes"] == want
        })
        .await;
    }
    let evs = |list: Vec<Value>, kind: &str| -> Vec<Value> {
        list.into_iter().filter(|e| e["kind"] == kind).collect()
    };
    let sent = evs(app.events(&cid).await, "sent");
    let got = evs(app.events(&sid).await, "received");
    assert_eq!(sent.len(), 2);
    assert_eq!(got.len(), 2);
    for (s, r) in sent.iter().zip(&got) {
        let ls = app.get(&format!("/api/events/{}/layers", s["seq"])).await.1;
        let lr = app.get(&format!("/api/events/{}/layers", r["seq"])).await.1;
        assert_eq!(ls["transport"]["seq"], lr["transport"]["seq"], "{ls}\n{lr}");
        assert_eq!(ls["transport"]["ack"], lr["transport"]["ack"], "{ls}\n{lr}");
        assert_eq!(ls["transport"]["src_port"], lr["transport"]["src_port"]);
    }
    // The pcaps of the two engines, read by tshark, carry the same numbers for each segment.
    let from_client = segments(&pcap_of(&app, &cid, None).await);
    let at_server = segments(&pcap_of(&app, &sid, None).await);
    assert_eq!(
        from_client.len(),
        4,
        "two sends, two echoes: {from_client:?}"
    );
    assert_eq!(
        from_client, at_server,
        "one sequence space for the connection"
    );
}

#[tokio::test]
async fn recv_of_0_is_an_eof_event_and_a_half_close_is_drawn_in_order() {
    let app = spawn_app().await;
    let server = app.engine(tcp_spec("echo")).await;
    let sid = server["id"].as_str().unwrap().to_string();
    // The lecture's client: send, then shutdown(SHUT_WR), then read the echo to the end.
    let mut s = TcpStream::connect(local_of(&server)).await.unwrap();
    s.write_all(b"bye").await.unwrap();
    read_until(&mut s, |b| b.len() >= 3).await;
    s.shutdown().await.unwrap();
    assert!(
        read_to_eof(&mut s).await.is_empty(),
        "nothing after the echo"
    );
    let all = app.wait_event(&sid, "closed", kind_is("closed")).await;
    let kinds: Vec<&str> = all.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    let eof = all
        .iter()
        .position(|e| e["kind"] == "eof")
        .expect("an eof event");
    let closed = all.iter().position(|e| e["kind"] == "closed").unwrap();
    assert!(
        eof < closed,
        "eof before the close() it leads to: {kinds:?}"
    );
    assert_eq!(all[eof]["call"], "recv()");
    assert_eq!(all[eof]["bytes"], 0);
    assert_eq!(all[eof]["conn"], all[closed]["conn"]);
    // In the pcap: the client's FIN first (its shutdown), then the server's, then no RST.
    let file = pcap_of(&app, &sid, None).await;
    clean(&file);
    let me = s.local_addr().unwrap().port().to_string();
    let fins: Vec<String> = tshark(
        &file,
        &[
            "-Y",
            "tcp.flags.fin == 1",
            "-T",
            "fields",
            "-e",
            "tcp.srcport",
        ],
    )
    .lines()
    .map(str::to_string)
    .collect();
    assert_eq!(fins.len(), 2, "{fins:?}");
    assert_eq!(fins[0], me, "the client's FIN comes first: {fins:?}");
}

#[tokio::test]
async fn stopping_a_server_is_its_sockets_close() {
    let app = spawn_app().await;
    let server = app.engine(tcp_spec("echo")).await;
    let sid = server["id"].as_str().unwrap().to_string();
    let mut s = TcpStream::connect(local_of(&server)).await.unwrap();
    s.write_all(b"x").await.unwrap();
    read_until(&mut s, |b| !b.is_empty()).await;
    let (st, v) = app
        .post(&format!("/api/engines/{sid}/stop"), json!({}))
        .await;
    json_ok(st, &v);
    let all = app.wait_event(&sid, "stopped", kind_is("stopped")).await;
    let tail: Vec<(&str, &str)> = all
        .iter()
        .rev()
        .take(2)
        .map(|e| {
            (
                e["kind"].as_str().unwrap(),
                e["call"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        tail,
        [("stopped", "close()"), ("closed", "close()")],
        "the connection's close(), then the listening socket's: {all:?}"
    );
    assert_eq!(all.last().unwrap()["local"], server["local"]);
}
