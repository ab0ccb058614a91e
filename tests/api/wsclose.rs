//! The stream's WebSocket by RFC 6455, from a raw client that writes its own frames (the
//! cases Autobahn's fuzzingclient runs against a server, ported: close handshakes, protocol
//! errors, invalid UTF-8, oversized frames, pings), and the batched subprotocol.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

const TEXT: u8 = 0x1;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// A raw WebSocket client: the handshake, then frames as bytes.
struct Raw {
    s: TcpStream,
    buf: Vec<u8>,
    /// The `Sec-WebSocket-Protocol` the server chose, if any.
    protocol: Option<String>,
}

impl Raw {
    async fn open(addr: SocketAddr, extra: &str) -> Raw {
        Raw::open_at(addr, "/ws", extra).await
    }

    async fn open_at(addr: SocketAddr, path: &str, extra: &str) -> Raw {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let req = ws_request(&addr.to_string(), path, extra);
        s.write_all(req.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let head_end = loop {
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk))
                .await
                .expect("an answer to the upgrade within 5 s")
                .unwrap();
            assert!(n > 0, "the server closed during the handshake");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        let protocol = head
            .lines()
            .find_map(|l| l.strip_prefix("sec-websocket-protocol: "))
            .map(str::to_string);
        Raw {
            s,
            buf: buf[head_end..].to_vec(),
            protocol,
        }
    }

    /// Writes one frame: `first` is FIN/RSV/opcode as sent, masked when `mask`.
    async fn frame(&mut self, first: u8, payload: &[u8], mask: bool) {
        let mut f = vec![first];
        let m = if mask { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => f.push(m | n as u8),
            n if n < 65536 => {
                f.push(m | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(m | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        if mask {
            let key = [0x37, 0xfa, 0x21, 0x3d];
            f.extend_from_slice(&key);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        } else {
            f.extend_from_slice(payload);
        }
        // The peer may have closed already (an oversized frame): what it read is what counts.
        let _ = self.s.write_all(&f).await;
    }

    async fn close_with(&mut self, code: u16, reason: &str) {
        let mut p = code.to_be_bytes().to_vec();
        p.extend_from_slice(reason.as_bytes());
        self.frame(0x80 | CLOSE, &p, true).await;
    }

    /// The next frame from the server (opcode, payload), or None at EOF; fails after 5 s.
    async fn next(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if self.buf.len() >= 2 {
                let (op, len0) = (self.buf[0] & 0x0f, (self.buf[1] & 0x7f) as usize);
                assert_eq!(self.buf[1] & 0x80, 0, "a server's frames are not masked");
                let (len, at) = match len0 {
                    126 if self.buf.len() >= 4 => {
                        (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                    }
                    127 if self.buf.len() >= 10 => (
                        u64::from_be_bytes(self.buf[2..10].try_into().unwrap()) as usize,
                        10,
                    ),
                    126 | 127 => (usize::MAX, 0),
                    n => (n, 2),
                };
                if len != usize::MAX && self.buf.len() >= at + len {
                    let payload = self.buf[at..at + len].to_vec();
                    self.buf.drain(..at + len);
                    return Some((op, payload));
                }
            }
            let mut chunk = [0u8; 65536];
            let n = tokio::time::timeout(Duration::from_secs(5), self.s.read(&mut chunk))
                .await
                .expect("a frame or the end within 5 s")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Skips data frames to the server's Close: its code (None for an empty one) and reason.
    async fn close_frame(&mut self) -> (Option<u16>, String) {
        loop {
            match self.next().await {
                Some((CLOSE, p)) if p.len() >= 2 => {
                    return (
                        Some(u16::from_be_bytes([p[0], p[1]])),
                        String::from_utf8_lossy(&p[2..]).to_string(),
                    );
                }
                Some((CLOSE, p)) => {
                    assert!(p.is_empty(), "a close payload of one byte: {p:?}");
                    return (None, String::new());
                }
                Some(_) => continue,
                None => panic!("the connection ended with no Close frame"),
            }
        }
    }

    /// Whether the server then closes the TCP connection (within 5 s).
    async fn ends(&mut self) {
        while let Some((op, _)) = self.next().await {
            assert_ne!(op, CLOSE, "a second Close frame");
        }
    }
}

#[tokio::test]
async fn a_clients_close_is_echoed_with_its_code_and_then_the_server_closes_tcp() {
    let app = spawn_app().await;
    for (code, reason) in [(1000u16, ""), (4001, "bye"), (1001, "tab closed")] {
        let mut c = Raw::open(app.addr, "").await;
        c.close_with(code, reason).await;
        assert_eq!(c.close_frame().await.0, Some(code), "closing with {code}");
        c.ends().await;
    }
    // An empty Close is answered with an empty one (§5.5.1).
    let mut c = Raw::open(app.addr, "").await;
    c.frame(0x80 | CLOSE, &[], true).await;
    assert_eq!(c.close_frame().await, (None, String::new()));
    c.ends().await;
    // A code no endpoint may send (1005, 999) or a one-byte payload: 1002.
    for bad in [
        &1005u16.to_be_bytes()[..],
        &999u16.to_be_bytes()[..],
        &[3u8][..],
    ] {
        let mut c = Raw::open(app.addr, "").await;
        c.frame(0x80 | CLOSE, bad, true).await;
        assert_eq!(c.close_frame().await.0, Some(1002), "close payload {bad:?}");
        c.ends().await;
    }
    app.shutdown().await;
}

#[tokio::test]
async fn frames_a_client_got_wrong_are_answered_with_the_close_code_for_each() {
    let app = spawn_app().await;
    let oversized = vec![b'a'; 70 * 1024];
    let cases: Vec<(&str, u8, Vec<u8>, bool, u16)> = vec![
        (
            "an unmasked frame",
            0x80 | TEXT,
            b"hi".to_vec(),
            false,
            1002,
        ),
        (
            "invalid UTF-8",
            0x80 | TEXT,
            vec![0xce, 0xba, 0xe1, 0xbd, 0xff],
            true,
            1007,
        ),
        (
            "a reserved data opcode",
            0x80 | 0x3,
            b"x".to_vec(),
            true,
            1002,
        ),
        ("a reserved control opcode", 0x80 | 0xB, vec![], true, 1002),
        (
            "RSV1 with no extension",
            0x80 | 0x40 | TEXT,
            b"x".to_vec(),
            true,
            1002,
        ),
        ("a 126-byte ping", 0x80 | PING, vec![b'p'; 126], true, 1002),
        ("a fragmented ping", PING, b"p".to_vec(), true, 1002),
        (
            "a continuation with nothing to continue",
            0x80,
            b"x".to_vec(),
            true,
            1002,
        ),
        ("a 70 KiB frame", 0x80 | TEXT, oversized, true, 1009),
    ];
    for (what, first, payload, mask, code) in cases {
        let mut c = Raw::open(app.addr, "").await;
        c.frame(first, &payload, mask).await;
        let (got, reason) = c.close_frame().await;
        assert_eq!(got, Some(code), "{what}: closed with {got:?} {reason:?}");
        assert!(!reason.is_empty(), "{what}: the Close says why");
        if code != 1009 {
            // The server waits for our echo, then closes the TCP connection.
            c.close_with(code, "").await;
            c.ends().await;
        }
    }
    // A ping is answered with a pong of the same payload, and the stream goes on.
    let mut c = Raw::open(app.addr, "").await;
    c.frame(0x80 | PING, b"are you there", true).await;
    loop {
        match c.next().await {
            Some((PONG, p)) => {
                assert_eq!(p, b"are you there");
                break;
            }
            Some((TEXT, _)) => continue,
            other => panic!("no pong: {other:?}"),
        }
    }
    c.close_with(1000, "").await;
    assert_eq!(c.close_frame().await.0, Some(1000));
    app.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_a_stream_with_1001_after_its_events() {
    let app = spawn_app().await;
    let mut c = Raw::open(app.addr, "").await;
    let addr = app.addr;
    app.shutdown().await;
    let (code, reason) = c.close_frame().await;
    assert_eq!(code, Some(1001), "{reason}");
    assert!(reason.contains("shutting down"), "{reason}");
    c.close_with(1001, "").await;
    c.ends().await;
    assert!(TcpStream::connect(addr).await.is_err());
}

/// The objects of a text frame: its array under `socketlab.batch.v1`, or itself.
fn objects(p: &[u8]) -> Vec<Value> {
    match serde_json::from_slice(p).unwrap() {
        Value::Array(a) => a,
        v => vec![v],
    }
}

#[tokio::test]
async fn a_client_offering_the_batch_protocol_gets_arrays_and_others_one_object_a_frame() {
    let app = spawn_app().await;
    // Another protocol alone is not chosen: the server answers one-object frames.
    let other = Raw::open(app.addr, "Sec-WebSocket-Protocol: chat\r\n").await;
    assert_eq!(other.protocol, None);

    let server = app.engine(tcp_spec("echo")).await;
    let id = server["id"].as_str().unwrap().to_string();
    for i in 0..50 {
        // A connection a line: each its own events.
        let mut s = TcpStream::connect(local_of(&server)).await.unwrap();
        s.write_all(format!("line {i}\n").as_bytes()).await.unwrap();
        let _ = read_until(&mut s, |b| b.ends_with(b"\n")).await;
    }
    app.wait_event(&id, "the last echo", |e| {
        e["kind"] == "sent" && e["text"].as_str().is_some_and(|t| t.contains("line 49"))
    })
    .await;

    // Both replay the same history: the same objects in the same order, the batched one as
    // arrays, far fewer frames, the first beginning with the hello.
    let offer = "Sec-WebSocket-Protocol: chat, socketlab.batch.v1\r\n";
    let mut batched = Raw::open_at(app.addr, "/ws?since=0", offer).await;
    assert_eq!(batched.protocol.as_deref(), Some("socketlab.batch.v1"));
    let mut plain = Raw::open_at(app.addr, "/ws?since=0", "").await;
    assert_eq!(plain.protocol, None);
    let (b, b_frames) = read_all(&mut batched, true).await;
    let (p, p_frames) = read_all(&mut plain, false).await;
    assert_eq!(b[0]["kind"], "hello");
    let seqs = |v: &[Value]| v.iter().map(|e| e["seq"].clone()).collect::<Vec<_>>();
    assert_eq!(seqs(&b), seqs(&p));
    assert_eq!(p_frames, p.len());
    assert!(p.len() > 200, "{} events", p.len());
    assert!(b_frames <= 3, "{b_frames} batched frames for {p_frames}");
    for c in [&mut batched, &mut plain] {
        c.close_with(1000, "").await;
        assert_eq!(c.close_frame().await.0, Some(1000));
    }
    app.shutdown().await;
}

/// Reads frames through the replay (to the seq before the hello's `next_seq`); returns the
/// objects and how many frames they came in.
async fn read_all(c: &mut Raw, arrays: bool) -> (Vec<Value>, usize) {
    let mut out: Vec<Value> = Vec::new();
    let mut frames = 0;
    loop {
        let (op, p) = c.next().await.expect("frames");
        assert_eq!(op, TEXT);
        frames += 1;
        assert_eq!(
            p.first() == Some(&b'['),
            arrays,
            "{}",
            String::from_utf8_lossy(&p)
        );
        out.extend(objects(&p));
        let last = out[0]["next_seq"].as_u64().unwrap() - 1;
        if out.last().unwrap()["seq"].as_u64() == Some(last) {
            return (out, frames);
        }
    }
}

/// A client that pings and never reads: each ping queues a pong on the server's side, so
/// past 100 a second the client is cut off, the server none the worse.
#[tokio::test]
async fn a_ping_storm_from_a_client_that_never_reads_is_cut_off() {
    let app = spawn_app().await;
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mut s = sock.connect(app.addr).await.unwrap();
    let req = ws_request(&app.addr.to_string(), "/ws?mode=live", "");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = [0u8; 512];
    let n = s.read(&mut head).await.unwrap();
    assert!(head[..n].starts_with(b"HTTP/1.1 101"));
    // A thousand masked 125-byte pings a write, never a read.
    let key = [1u8, 2, 3, 4];
    let mut one = vec![0x80 | PING, 0x80 | 125];
    one.extend_from_slice(&key);
    one.extend((0..125).map(|i| b'p' ^ key[i % 4]));
    let batch: Vec<u8> = one.iter().copied().cycle().take(one.len() * 1000).collect();
    let mut written = 0usize;
    let cut = loop {
        match tokio::time::timeout(Duration::from_secs(5), s.write_all(&batch)).await {
            Ok(Ok(())) => written += batch.len(),
            Ok(Err(_)) => break true,
            Err(_) => break false,
        }
        if written > 200 << 20 {
            break false;
        }
    };
    assert!(cut, "still taking pings after {} MiB", written >> 20);
    let (st, _) = app.get("/healthz").await;
    assert_eq!(st.as_u16(), 200);
    app.shutdown().await;
}
