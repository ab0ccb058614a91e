//! Each behavior over TCP and over UDP, against the test's own plain sockets.

use std::time::Duration;

use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};

use crate::helpers::*;

async fn tcp_exchange(app: &TestApp, behavior: &str, send: &[u8], want: &[u8]) {
    let e = app.engine(tcp_spec(behavior)).await;
    let mut s = TcpStream::connect(local_of(&e)).await.unwrap();
    s.write_all(send).await.unwrap();
    let got = read_until(&mut s, |b| b.len() >= want.len()).await;
    assert_eq!(got, want, "{behavior} over TCP");
}

async fn udp_exchange(app: &TestApp, behavior: &str, send: &[u8]) -> Option<Vec<u8>> {
    let e = app.engine(udp_spec(behavior)).await;
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    s.send_to(send, local_of(&e)).await.unwrap();
    let mut buf = [0u8; 2048];
    match tokio::time::timeout(Duration::from_millis(700), s.recv_from(&mut buf)).await {
        Ok(Ok((n, from))) => {
            assert_eq!(from, local_of(&e), "the reply comes from the server's port");
            Some(buf[..n].to_vec())
        }
        _ => None,
    }
}

#[tokio::test]
async fn echo_uppercase_and_add_over_tcp() {
    let app = spawn_app().await;
    tcp_exchange(
        &app,
        "echo",
        b"This will be sent to server",
        b"This will be sent to server",
    )
    .await;
    tcp_exchange(&app, "uppercase", b"hello, World 1!", b"HELLO, WORLD 1!").await;
    tcp_exchange(&app, "add", b"50,40", b"90").await;
    tcp_exchange(&app, "add", b"1,2\n3,4\n", b"3\n7\n").await;
    tcp_exchange(
        &app,
        "add",
        b"a,b\n",
        b"error: \"a\" is not an integer; send two integers like 50,40\n",
    )
    .await;
}

#[tokio::test]
async fn add_keeps_the_connection_open_after_junk() {
    let app = spawn_app().await;
    let e = app.engine(tcp_spec("add")).await;
    let mut s = TcpStream::connect(local_of(&e)).await.unwrap();
    s.write_all(b"junk\n").await.unwrap();
    let got = read_until(&mut s, |b| b.ends_with(b"\n")).await;
    assert!(
        got.starts_with(b"error: "),
        "{}",
        String::from_utf8_lossy(&got)
    );
    s.write_all(b"50,40\n").await.unwrap();
    assert_eq!(read_until(&mut s, |b| b.ends_with(b"\n")).await, b"90\n");
}

#[tokio::test]
async fn greet_and_daytime_speak_then_close_over_tcp() {
    let app = spawn_app().await;
    let e = app.engine(tcp_spec("greet")).await;
    let mut s = TcpStream::connect(local_of(&e)).await.unwrap();
    assert_eq!(read_to_eof(&mut s).await, b"Thank you for connecting");
    let e = app
        .engine(
            json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "greet",
                       "options": {"greeting": "hi there\n"}}),
        )
        .await;
    let mut s = TcpStream::connect(local_of(&e)).await.unwrap();
    assert_eq!(read_to_eof(&mut s).await, b"hi there\n");
    let evs = app
        .wait_event(e["id"].as_str().unwrap(), "closed", kind_is("closed"))
        .await;
    let closed = evs.iter().find(|e| e["kind"] == "closed").unwrap();
    assert!(
        closed["message"]
            .as_str()
            .unwrap()
            .contains("closed by the server"),
        "{closed}"
    );

    let e = app.engine(tcp_spec("daytime")).await;
    let mut s = TcpStream::connect(local_of(&e)).await.unwrap();
    let line = String::from_utf8(read_to_eof(&mut s).await).unwrap();
    assert!(
        line.ends_with("Z\r\n") && line.matches('\n').count() == 1,
        "{line:?}"
    );
    let year: u32 = line[..4].parse().unwrap();
    assert!(year >= 2024, "{line}");
}

/// A daytime server hangs up first with the client's line unread: a bare `close()` would
/// make the kernel reset the connection, often before `nc` has read the time. With the
/// lingering close, `printf 'x\n' | nc` reads it every time.
#[tokio::test]
async fn daytime_with_the_clients_line_unread_is_read_whole_by_nc_100_times_of_100() {
    let app = spawn_app().await;
    let e = app.engine(tcp_spec("daytime")).await;
    let port = local_of(&e).port();
    let got = tokio::task::spawn_blocking(move || {
        (0..100)
            .map(|_| {
                let mut child = std::process::Command::new("nc")
                    .args(["127.0.0.1", &port.to_string()])
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .expect("nc (netcat-openbsd) is installed");
                use std::io::Write as _;
                child.stdin.take().unwrap().write_all(b"x\n").unwrap();
                let out = child.wait_with_output().unwrap();
                String::from_utf8_lossy(&out.stdout).to_string()
            })
            .filter(|line| line.ends_with("Z\r\n"))
            .count()
    })
    .await
    .unwrap();
    assert_eq!(got, 100, "nc read the time in {got} of 100 tries");
    let evs = app
        .wait_event(
            e["id"].as_str().unwrap(),
            "a closed after a lingering read",
            |e| {
                e["kind"] == "closed"
                    && e["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("lingering close"))
            },
        )
        .await;
    // Each connection is said closed once, and none by a reset.
    assert!(evs.iter().filter(|e| e["kind"] == "closed").count() >= 100);
    assert!(!evs.iter().any(|e| e["kind"] == "error"), "{evs:#?}");
}

#[tokio::test]
async fn discard_and_manual_never_reply_over_tcp_but_manual_replies_by_hand() {
    let app = spawn_app().await;
    for behavior in ["discard", "manual"] {
        let e = app.engine(tcp_spec(behavior)).await;
        let id = e["id"].as_str().unwrap().to_string();
        let mut s = TcpStream::connect(local_of(&e)).await.unwrap();
        s.write_all(b"anyone there?").await.unwrap();
        let evs = app.wait_event(&id, "received", kind_is("received")).await;
        let rx = evs.iter().find(|e| e["kind"] == "received").unwrap();
        assert_eq!(rx["text"], "anyone there?");
        let mut buf = [0u8; 16];
        let silent = tokio::time::timeout(
            Duration::from_millis(300),
            tokio::io::AsyncReadExt::read(&mut s, &mut buf),
        )
        .await;
        assert!(silent.is_err(), "{behavior} must not reply");
        if behavior == "manual" {
            let conn = rx["conn"].as_str().unwrap();
            let (st, out) = app
                .send(&id, json!({"data": "yes, me\n", "conn": conn}))
                .await;
            json_ok(st, &out);
            assert_eq!(out["bytes"], 8);
            assert_eq!(out["sent_to"], json!([s.local_addr().unwrap().to_string()]));
            assert_eq!(read_until(&mut s, |b| b.len() >= 8).await, b"yes, me\n");
        }
    }
}

#[tokio::test]
async fn send_encodings_and_to_all() {
    let app = spawn_app().await;
    let e = app.engine(tcp_spec("manual")).await;
    let id = e["id"].as_str().unwrap().to_string();
    let mut a = TcpStream::connect(local_of(&e)).await.unwrap();
    let mut b = TcpStream::connect(local_of(&e)).await.unwrap();
    app.wait_engine(&id, "two connections", |v| {
        v["stats"]["connections_open"] == 2
    })
    .await;
    let (st, out) = app
        .send(
            &id,
            json!({"data": "68 65 6c 6c 6f", "encoding": "hex", "conn": "*"}),
        )
        .await;
    json_ok(st, &out);
    assert_eq!(out["sent_to"].as_array().unwrap().len(), 2);
    assert_eq!(read_until(&mut a, |b| b.len() >= 5).await, b"hello");
    assert_eq!(read_until(&mut b, |b| b.len() >= 5).await, b"hello");
    let (st, out) = app
        .send(
            &id,
            json!({"data": b64(&[0, 255, 10]), "encoding": "base64", "conn": "*"}),
        )
        .await;
    json_ok(st, &out);
    assert_eq!(read_until(&mut a, |b| b.len() >= 3).await, vec![0, 255, 10]);
    let evs = app
        .wait_event(&id, "binary sent", |e| {
            e["kind"] == "sent" && e["data"] == "AP8K"
        })
        .await;
    assert_eq!(
        evs.iter()
            .filter(|e| e["kind"] == "sent" && e["data"] == "AP8K")
            .count(),
        2
    );
}

#[tokio::test]
async fn recv_size_shows_the_stream_split() {
    let app = spawn_app().await;
    let e = app
        .engine(
            json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "discard",
                       "options": {"recv_size": 4}}),
        )
        .await;
    let id = e["id"].as_str().unwrap().to_string();
    let mut s = TcpStream::connect(local_of(&e)).await.unwrap();
    s.write_all(b"hello world").await.unwrap();
    let v = app
        .wait_engine(&id, "11 bytes in", |v| v["stats"]["bytes_in"] == 11)
        .await;
    let rx: Vec<_> = app
        .events(&id)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "received")
        .collect();
    assert!(
        rx.iter().all(|e| e["bytes"].as_u64().unwrap() <= 4),
        "{rx:#?}"
    );
    let joined: String = rx.iter().map(|e| e["text"].as_str().unwrap()).collect();
    assert_eq!(joined, "hello world");
    assert_eq!(v["stats"]["messages_in"].as_u64().unwrap(), rx.len() as u64);
    assert!(rx.len() >= 3);
}

#[tokio::test]
async fn udp_behaviors() {
    let app = spawn_app().await;
    assert_eq!(
        udp_exchange(&app, "echo", b"Hello Python!").await.unwrap(),
        b"Hello Python!"
    );
    assert_eq!(
        udp_exchange(&app, "uppercase", b"make me loud")
            .await
            .unwrap(),
        b"MAKE ME LOUD"
    );
    assert_eq!(udp_exchange(&app, "add", b"50,40").await.unwrap(), b"90");
    assert!(
        udp_exchange(&app, "add", b"1,2,3")
            .await
            .unwrap()
            .starts_with(b"error: ")
    );
    assert_eq!(
        udp_exchange(&app, "greet", b"x").await.unwrap(),
        b"Thank you for connecting"
    );
    let t = udp_exchange(&app, "daytime", b"").await.unwrap();
    assert!(t.ends_with(b"Z\r\n"), "{t:?}");
    assert_eq!(udp_exchange(&app, "discard", b"print me").await, None);
    assert_eq!(udp_exchange(&app, "manual", b"print me").await, None);
}

#[tokio::test]
async fn udp_keeps_datagram_boundaries_and_recv_size_cuts_datagrams() {
    let app = spawn_app().await;
    let e = app
        .engine(
            json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "discard",
                       "options": {"recv_size": 8}}),
        )
        .await;
    let id = e["id"].as_str().unwrap().to_string();
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for d in [&b"one"[..], b"two", b"a longer datagram"] {
        s.send_to(d, local_of(&e)).await.unwrap();
    }
    app.wait_engine(&id, "3 datagrams", |v| v["stats"]["messages_in"] == 3)
        .await;
    let rx: Vec<_> = app
        .events(&id)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "received")
        .collect();
    let texts: Vec<&str> = rx.iter().map(|e| e["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["one", "two", "a longer"]);
    assert!(
        rx.iter()
            .all(|e| e["call"] == "recvfrom()" && addr_of(&e["peer"]) == s.local_addr().unwrap())
    );
    let note = rx[2]["message"].as_str().unwrap();
    assert!(
        note.contains("17 bytes") && note.contains("discarded"),
        "{note}"
    );
}

#[tokio::test]
async fn udp_server_replies_by_hand_with_to() {
    let app = spawn_app().await;
    let e = app.engine(udp_spec("manual")).await;
    let id = e["id"].as_str().unwrap();
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = s.local_addr().unwrap().to_string();
    let (st, out) = app.send(id, json!({"data": "pong", "to": me})).await;
    json_ok(st, &out);
    assert_eq!(out["sent_to"], json!([me]));
    let mut buf = [0u8; 64];
    let (n, from) = tokio::time::timeout(Duration::from_secs(2), s.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"pong");
    assert_eq!(from, local_of(&e));
    let evs = app
        .wait_event(id, "sendto", |e| e["call"] == "sendto()")
        .await;
    let sent = evs.iter().find(|e| e["call"] == "sendto()").unwrap();
    assert_eq!(sent["peer"], me);
    assert_eq!(sent["kind"], "sent");
}
