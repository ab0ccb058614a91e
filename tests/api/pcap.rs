//! The pcap export read by a real `tshark`: no malformed packet, `follow,tcp` giving back the
//! exact bytes in order, the conversation table naming the real ports, UDP payloads exact, an
//! RST where the peer reset; and the layer view agreeing with the pcap's raw sequence numbers.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};

use crate::helpers::*;

/// The engine's pcap (or one connection's), written to a temporary file.
pub(crate) async fn pcap_of(app: &TestApp, id: &str, conn: Option<&str>) -> std::path::PathBuf {
    let q = conn.map(|c| format!("?conn={c}")).unwrap_or_default();
    let r = app
        .http
        .get(format!("{}/api/engines/{id}/capture.pcap{q}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/vnd.tcpdump.pcap"
    );
    let bytes = r.bytes().await.unwrap();
    let path = std::env::temp_dir().join(format!(
        "socketlab-{}-{id}{}-{}.pcap",
        std::process::id(),
        conn.unwrap_or(""),
        bytes.len()
    ));
    std::fs::write(&path, &bytes).unwrap();
    path
}

/// tshark's output for these arguments on that file (it must read it without complaint).
pub(crate) fn tshark(file: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(args)
        .output()
        .expect("tshark runs (apt-get install tshark; .ci/run does)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tshark {args:?}: {err}");
    assert!(
        !err.contains("appears to be damaged") && !err.contains("cut short"),
        "{err}"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// No malformed packet and no sequence-number trouble tshark's analysis finds.
pub(crate) fn clean(file: &std::path::Path) {
    let bad = tshark(
        file,
        &[
            "-Y",
            "_ws.malformed || (_ws.expert.severity >= 0x600000 && !tcp.flags.reset)",
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            "_ws.expert.message",
        ],
    );
    assert_eq!(bad.trim(), "", "tshark finds fault with these frames");
}

/// The bytes of TCP stream `n` each way, as `follow,tcp,raw` gives them: (client, server).
fn follow(file: &std::path::Path, n: usize) -> (Vec<u8>, Vec<u8>) {
    let out = tshark(file, &["-q", "-z", &format!("follow,tcp,raw,{n}")]);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut inside = false;
    for line in out.lines() {
        if line.starts_with("Node 1:") {
            inside = true;
            continue;
        }
        if !inside || line.starts_with('=') || line.trim().is_empty() {
            continue;
        }
        // The second node's lines are indented by a tab.
        let (to, hexs) = match line.strip_prefix('\t') {
            Some(h) => (&mut b, h),
            None => (&mut a, line),
        };
        let hexs = hexs.trim();
        for i in (0..hexs.len()).step_by(2) {
            to.push(u8::from_str_radix(&hexs[i..i + 2], 16).unwrap());
        }
    }
    (a, b)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test]
async fn a_tcp_echo_exchange_reads_back_byte_for_byte_in_tshark() {
    let app = spawn_app().await;
    let e = app.engine(tcp_spec("echo")).await;
    let id = e["id"].as_str().unwrap();
    let mut s = TcpStream::connect(local_of(&e)).await.unwrap();
    let me = s.local_addr().unwrap();
    let mut sent = Vec::new();
    for word in ["hello ", "socket ", "world\n"] {
        s.write_all(word.as_bytes()).await.unwrap();
        sent.extend_from_slice(word.as_bytes());
        read_until(&mut s, |b| b.len() >= word.len()).await;
    }
    drop(s);
    app.wait_event(id, "closed", kind_is("closed")).await;
    let file = pcap_of(&app, id, None).await;
    clean(&file);
    let (from_client, from_server) = follow(&file, 0);
    assert_eq!(from_client, sent, "the client's bytes, in order");
    assert_eq!(from_server, sent, "the echo");
    let conv = tshark(&file, &["-q", "-z", "conv,tcp"]);
    assert!(
        conv.contains(&me.to_string()),
        "the client's ephemeral port: {conv}"
    );
    assert!(conv.contains(&local_of(&e).to_string()), "{conv}");
    // The handshake and an orderly close: SYN, SYN-ACK, FINs both ways.
    let flags = tshark(&file, &["-T", "fields", "-e", "tcp.flags.str"]);
    assert!(flags.lines().next().unwrap().contains('S'), "{flags}");
    assert_eq!(
        flags.lines().filter(|l| l.contains('F')).count(),
        2,
        "{flags}"
    );
    assert!(!flags.contains('R'), "no reset: {flags}");

    // The layer view's sequence number is the pcap's raw one for the same payload.
    let evs = app.events(id).await;
    let rx = evs
        .iter()
        .find(|ev| ev["kind"] == "received" && ev["text"] == "socket ")
        .unwrap();
    let (st, layers) = app.get(&format!("/api/events/{}/layers", rx["seq"])).await;
    assert_eq!(st, 200, "{layers}");
    assert_eq!(layers["transport"]["proto"], "tcp");
    assert_eq!(layers["transport"]["src_port"], me.port());
    assert_eq!(layers["ip"]["src"], "127.0.0.1");
    assert_eq!(layers["app"]["text"], "socket ");
    let rows = tshark(
        &file,
        &[
            "-T",
            "fields",
            "-e",
            "tcp.seq_raw",
            "-e",
            "tcp.payload",
            "-e",
            "tcp.checksum",
        ],
    );
    let row = rows
        .lines()
        .find(|l| l.split('\t').nth(1) == Some(hex(b"socket ").as_str()))
        .expect("the payload in the pcap");
    let mut f = row.split('\t');
    assert_eq!(f.next().unwrap(), layers["transport"]["seq"].to_string());
    assert_eq!(
        f.nth(1).unwrap(),
        format!(
            "0x{:04x}",
            layers["transport"]["checksum"].as_u64().unwrap()
        )
    );
    // A call that carries no data has no layers (404, as the document says, naming the
    // call); an unknown seq is not found.
    let created = evs.iter().find(|ev| ev["kind"] == "listening").unwrap();
    let (st, v) = app
        .get(&format!("/api/events/{}/layers", created["seq"]))
        .await;
    assert_eq!(st, 404, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("listen()"),
        "{v}"
    );
    let (st, _) = app.get("/api/events/999999/layers").await;
    assert_eq!(st, 404);
    let (st, _) = app.get("/api/events/first/layers").await;
    assert_eq!(st, 400);
    let _ = std::fs::remove_file(file);
}

#[tokio::test]
async fn a_chat_with_three_members_is_three_streams_each_exact() {
    let app = spawn_app().await;
    let e = app.engine(tcp_spec("chat")).await;
    let id = e["id"].as_str().unwrap();
    let mut members = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(local_of(&e)).await.unwrap();
        // The room's welcome line.
        read_until(&mut s, |b| b.ends_with(b"\n")).await;
        members.push(s);
    }
    members[0].write_all(b"hi all\n").await.unwrap();
    for m in &mut members[1..] {
        read_until(m, |b| b.ends_with(b"hi all\n")).await;
    }
    drop(members);
    app.wait_engine(id, "every member gone", |v| {
        v["stats"]["connections_open"] == 0
    })
    .await;
    let file = pcap_of(&app, id, None).await;
    clean(&file);
    let streams: Vec<(Vec<u8>, Vec<u8>)> = (0..3).map(|n| follow(&file, n)).collect();
    assert_eq!(streams[0].0, b"hi all\n", "the first member's line");
    for (_, to_member) in &streams[1..] {
        let text = String::from_utf8_lossy(to_member);
        assert!(
            text.contains(": hi all\n"),
            "the room's broadcast: {text:?}"
        );
    }
    // One connection's file holds that connection only.
    let conn = app
        .events(id)
        .await
        .iter()
        .find(|ev| ev["kind"] == "accepted")
        .unwrap()["conn"]
        .as_str()
        .unwrap()
        .to_string();
    let one = pcap_of(&app, id, Some(&conn)).await;
    let conv = tshark(&one, &["-q", "-z", "conv,tcp"]);
    assert_eq!(conv.matches("<->").count(), 1, "{conv}");
    let _ = std::fs::remove_file(file);
    let _ = std::fs::remove_file(one);
}

#[tokio::test]
async fn a_reset_connection_shows_the_rst() {
    let app = spawn_app().await;
    let e = app.engine(tcp_spec("discard")).await;
    let id = e["id"].as_str().unwrap();
    let s = TcpStream::connect(local_of(&e)).await.unwrap();
    let mut s = s;
    s.write_all(b"bye").await.unwrap();
    app.wait_event(id, "recv", kind_is("received")).await;
    // Linger 0: close() sends RST instead of FIN.
    s.set_zero_linger().unwrap();
    drop(s);
    let evs = app.wait_event(id, "closed", kind_is("closed")).await;
    assert!(
        evs.last().unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("reset")
    );
    let file = pcap_of(&app, id, None).await;
    clean(&file);
    let rst = tshark(
        &file,
        &[
            "-Y",
            "tcp.flags.reset == 1",
            "-T",
            "fields",
            "-e",
            "tcp.srcport",
        ],
    );
    assert_eq!(rst.lines().count(), 1, "one RST: {rst}");
    assert_ne!(
        rst.trim(),
        local_of(&e).port().to_string(),
        "from the peer that reset"
    );
    let _ = std::fs::remove_file(file);
}

#[tokio::test]
async fn udp_datagrams_are_byte_exact() {
    let app = spawn_app().await;
    let e = app.engine(udp_spec("uppercase")).await;
    let id = e["id"].as_str().unwrap();
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let payloads: [&[u8]; 3] = [b"one", b"\x00\xffbinary", b"three\n"];
    for p in payloads {
        s.send_to(p, local_of(&e)).await.unwrap();
        let mut buf = [0u8; 64];
        tokio::time::timeout(Duration::from_secs(5), s.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
    }
    app.wait_engine(id, "three replies", |v| v["stats"]["messages_out"] == 3)
        .await;
    let file = pcap_of(&app, id, None).await;
    clean(&file);
    let rows = tshark(
        &file,
        &[
            "-T",
            "fields",
            "-e",
            "udp.srcport",
            "-e",
            "udp.dstport",
            "-e",
            "udp.payload",
        ],
    );
    let rows: Vec<Vec<&str>> = rows.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 6, "{rows:?}");
    let me = s.local_addr().unwrap().port().to_string();
    let mut expect = Vec::new();
    for p in payloads {
        expect.push(vec![me.clone(), local_of(&e).port().to_string(), hex(p)]);
        expect.push(vec![
            local_of(&e).port().to_string(),
            me.clone(),
            hex(&p.to_ascii_uppercase()),
        ]);
    }
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|s| s.to_string()).collect())
        .collect();
    assert_eq!(rows, expect);
    let rx = app
        .events(id)
        .await
        .into_iter()
        .find(|ev| ev["kind"] == "received")
        .unwrap();
    let (_, layers) = app.get(&format!("/api/events/{}/layers", rx["seq"])).await;
    assert_eq!(
        layers["transport"],
        json!({"proto": "udp", "src_port": s.local_addr().unwrap().port(), "dst_port": local_of(&e).port(), "len": 11, "checksum": layers["transport"]["checksum"].clone()})
    );
    assert!(layers["transport"]["checksum"].as_u64().is_some());
    let _ = std::fs::remove_file(file);
    let _: Value = layers;
}

#[tokio::test]
async fn a_proxied_exchange_is_two_streams_each_exact() {
    let app = spawn_app().await;
    let echo = app.engine(tcp_spec("echo")).await;
    let p = app
        .engine(json!({"kind": "tcp-proxy", "bind": "127.0.0.1:0", "target": echo["local"]}))
        .await;
    let id = p["id"].as_str().unwrap();
    let mut s = TcpStream::connect(local_of(&p)).await.unwrap();
    let me = s.local_addr().unwrap();
    s.write_all(b"through the proxy\n").await.unwrap();
    read_until(&mut s, |b| b.len() >= 18).await;
    drop(s);
    app.wait_engine(id, "the pair closed", |v| {
        v["stats"]["connections_open"] == 0
    })
    .await;
    let file = pcap_of(&app, id, None).await;
    clean(&file);
    let conv = tshark(&file, &["-q", "-z", "conv,tcp"]);
    assert_eq!(
        conv.matches("<->").count(),
        2,
        "the client's leg and the server's: {conv}"
    );
    assert!(conv.contains(&me.to_string()), "{conv}");
    assert!(conv.contains(&local_of(&echo).to_string()), "{conv}");
    for n in 0..2 {
        let (there, back) = follow(&file, n);
        assert_eq!(there, b"through the proxy\n", "stream {n}");
        assert_eq!(back, b"through the proxy\n", "stream {n}");
    }
    let _ = std::fs::remove_file(file);
}

/// Frame times of a classic pcap file, in file order.
fn frame_times(file: &std::path::Path) -> Vec<u64> {
    let b = std::fs::read(file).unwrap();
    let mut at = 24;
    let mut times = Vec::new();
    while at + 16 <= b.len() {
        let w = |i: usize| u32::from_le_bytes(b[at + i..at + i + 4].try_into().unwrap());
        times.push(u64::from(w(0)) * 1_000_000 + u64::from(w(4)));
        at += 16 + w(8) as usize;
    }
    times
}

/// On a runtime of several threads, as the binary runs: calls stamped on one thread reach the
/// capture behind calls stamped later on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pcap_of_many_connections_at_once_goes_forward_in_time() {
    let app = spawn_app().await;
    // A backlog for sixteen at once (the lecture's 5 would turn some away).
    let e = app
        .engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo", "options": {"backlog": 32}}))
        .await;
    let id = e["id"].as_str().unwrap().to_string();
    let to = local_of(&e);
    // Sixteen clients at once: each connection's task stamps its own calls, and they reach
    // the capture in another order than their times.
    let clients: Vec<_> = (0..16)
        .map(|c| {
            tokio::spawn(async move {
                let mut s = TcpStream::connect(to).await.unwrap();
                // One line at a time, each read back before the next: a call per line.
                let mut got = Vec::new();
                for i in 0..60 {
                    let line = format!("client {c} line {i}\n");
                    s.write_all(line.as_bytes()).await.unwrap();
                    got = read_until(&mut s, |b| b.ends_with(line.as_bytes())).await;
                }
                s.shutdown().await.unwrap();
                got
            })
        })
        .collect();
    for c in clients {
        assert!(!c.await.unwrap().is_empty(), "each client is answered");
    }
    app.wait_event(&id, "the sixteenth close", |_| true).await;
    let end = std::time::Instant::now() + Duration::from_secs(5);
    while app
        .events(&id)
        .await
        .iter()
        .filter(|e| e["kind"] == "closed")
        .count()
        < 16
    {
        assert!(std::time::Instant::now() < end, "16 connections closed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let file = pcap_of(&app, &id, None).await;
    let times = frame_times(&file);
    assert!(times.len() > 16 * 60 * 2, "{} frames", times.len());
    let back: Vec<(usize, u64)> = times
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[1] < w[0])
        .map(|(i, w)| (i + 1, w[0] - w[1]))
        .collect();
    assert!(
        back.is_empty(),
        "frames earlier than the one before (frame, µs): {back:?}"
    );
    clean(&file);
    let _ = std::fs::remove_file(&file);
}

/// A download larger than the preview through a proxy, read by tshark: once a direction has
/// had a cut segment, its later segments are short captures (headers, no payload), so no
/// dissector takes the middle of a body for a new message's headers.
#[tokio::test]
async fn a_download_past_the_preview_gives_tshark_no_false_headers() {
    let app = spawn_app().await;
    // A tiny HTTP server: one response of 3 MB of text that looks like headers if parsed so.
    let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = server.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = server.accept().await.unwrap();
        let mut req = vec![0u8; 4096];
        let _ = tokio::io::AsyncReadExt::read(&mut s, &mut req).await;
        let pattern = b"ab:cd\r\n x\x01\x02";
        let body: Vec<u8> = (0..3_000_000).map(|i| pattern[i % pattern.len()]).collect();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&body).await.unwrap();
        let _ = s.shutdown().await;
    });
    let p = app
        .engine(json!({"kind": "tcp-proxy", "bind": "127.0.0.1:0", "target": upstream.to_string()}))
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    let mut c = TcpStream::connect(local_of(&p)).await.unwrap();
    c.write_all(b"GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let got = read_to_eof(&mut c).await;
    assert!(got.len() > 3_000_000, "{} bytes", got.len());
    drop(c);
    app.wait_event(&id, "the pair closed", |e| e["kind"] == "closed")
        .await;
    let file = pcap_of(&app, &id, None).await;
    // Some segments were cut (the preview is smaller than a recv()) ...
    let cut = tshark(
        &file,
        &[
            "-Y",
            "frame.cap_len < frame.len",
            "-T",
            "fields",
            "-e",
            "frame.number",
        ],
    );
    assert!(cut.lines().count() > 50, "{cut}");
    // ... and none of them is taken for headers.
    let warnings = tshark(&file, &["-q", "-z", "expert,warn"]);
    assert!(!warnings.contains("Illegal characters"), "{warnings}");
    // The response's own headers are in the file whole, where the stream starts.
    let heads = tshark(
        &file,
        &[
            "-Y",
            "http.response",
            "-T",
            "fields",
            "-e",
            "http.content_length",
        ],
    );
    assert!(heads.lines().any(|l| l.trim() == "3000000"), "{heads}");
    clean(&file);
    let _ = std::fs::remove_file(&file);
}
