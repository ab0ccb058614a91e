//! File transfer: uploads streamed to disk under a limit, a `file` server sending to many
//! clients at once (streamed: the server's memory barely moves), a `receive` server and a
//! saving client keeping what arrives, SHA-256 on both sides.

use std::time::Duration;

use serde_json::{Value, json};
use sha2::Digest as _;
use socketlab::Config;
use socketlab::config::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::*;

/// Deterministic bytes that do not compress into patterns a bug could hide behind.
pub fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub fn sha(b: &[u8]) -> String {
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

pub async fn upload(http: &reqwest::Client, base: &str, name: &str, body: Vec<u8>) -> (u16, Value) {
    let r = http
        .post(format!("{base}/api/files?name={name}"))
        .body(body)
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

async fn read_all(mut s: TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut out))
        .await
        .expect("the whole file within a minute")
        .unwrap();
    out
}

#[tokio::test]
async fn a_20_mib_file_is_served_to_five_clients_at_once_streamed_and_whole() {
    let app = BinApp::start(&[]).await;
    let data = bytes(20 << 20, 1);
    let (st, meta) = upload(&app.http, &app.base, "lecture.pdf", data.clone()).await;
    assert_eq!(st, 201, "{meta}");
    assert_eq!(
        (meta["bytes"].as_u64(), meta["sha256"].as_str()),
        (Some(20 << 20), Some(sha(&data).as_str()))
    );
    let id = meta["id"].as_str().unwrap().to_string();
    let server = app
        .engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "file", "options": {"file": id}}))
        .await;
    let addr = local_of(&server);
    let before = app.rss();
    let clients: Vec<_> = (0..5)
        .map(|_| {
            tokio::spawn(async move { read_all(TcpStream::connect(addr).await.unwrap()).await })
        })
        .collect();
    let mut peak = before;
    let mut got = Vec::new();
    for c in clients {
        while !c.is_finished() {
            peak = peak.max(app.rss());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        got.push(c.await.unwrap());
    }
    for g in &got {
        assert_eq!(g.len(), data.len());
        assert_eq!(sha(g), sha(&data), "each client got the file byte for byte");
    }
    let grew = peak.saturating_sub(before);
    assert!(
        grew < 32 << 20,
        "the server's RSS grew {} MiB serving 5 × 20 MiB",
        grew >> 20
    );
    // Each connection: progress along the way (at most ten a second), then the file event.
    let sid = server["id"].as_str().unwrap();
    let evs = app.events(sid).await;
    let done: Vec<&Value> = evs.iter().filter(|e| e["kind"] == "file").collect();
    assert_eq!(done.len(), 5);
    for d in &done {
        assert_eq!(
            (
                d["sha256"].as_str(),
                d["bytes"].as_u64(),
                d["file"].as_str()
            ),
            (Some(sha(&data).as_str()), Some(20 << 20), Some(id.as_str()))
        );
    }
    let progress: Vec<&Value> = evs.iter().filter(|e| e["kind"] == "progress").collect();
    assert!(progress.len() >= 5, "progress events: {}", progress.len());
    for p in &progress {
        assert_eq!(
            (p["file"].as_str(), p["total"].as_u64()),
            (Some(id.as_str()), Some(20 << 20))
        );
        assert!(p["done"].as_u64().unwrap() <= 20 << 20);
    }
    let closed = evs.iter().filter(|e| e["kind"] == "closed").count();
    assert_eq!(
        closed, 5,
        "the server closes each connection after the file"
    );
}

#[tokio::test]
async fn a_receive_server_keeps_a_10_mib_upload_whole() {
    let app = spawn_app().await;
    let e = app
        .engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "receive"}))
        .await;
    let data = bytes(10 << 20, 2);
    let mut s = TcpStream::connect(local_of(&e)).await.unwrap();
    s.write_all(&data).await.unwrap();
    // Done sending: shutdown(SHUT_WR), as the lecture's file client ends.
    s.shutdown().await.unwrap();
    let evs = app
        .wait_event(e["id"].as_str().unwrap(), "the file kept", kind_is("file"))
        .await;
    let f = evs.iter().find(|e| e["kind"] == "file").unwrap();
    assert_eq!(
        (f["bytes"].as_u64(), f["sha256"].as_str()),
        (Some(10 << 20), Some(sha(&data).as_str()))
    );
    let (_, list) = app.get("/api/files").await;
    let meta = list
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == f["file"])
        .unwrap()
        .clone();
    assert_eq!(meta["from"]["engine"], e["id"]);
    assert_eq!(meta["from"]["peer"], s.local_addr().unwrap().to_string());
    let got = app
        .http
        .get(format!(
            "{}/api/files/{}",
            app.base,
            meta["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert!(
        got.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=")
    );
    assert_eq!(sha(&got.bytes().await.unwrap()), sha(&data));
    // A connection reset mid-way keeps nothing.
    let mut cut = TcpStream::connect(local_of(&e)).await.unwrap();
    cut.write_all(&data[..4096]).await.unwrap();
    cut.set_zero_linger().unwrap();
    drop(cut);
    app.wait_event(e["id"].as_str().unwrap(), "the reset noted", |ev| {
        ev["kind"] == "error"
            && ev["message"]
                .as_str()
                .is_some_and(|m| m.contains("not saved"))
    })
    .await;
    let (_, list) = app.get("/api/files").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_saving_client_keeps_what_the_server_sends_until_it_closes() {
    let app = spawn_app().await;
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let data = bytes(1 << 20, 3);
    let sent = data.clone();
    let server = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        s.write_all(&sent).await.unwrap();
    });
    let c = app
        .engine(json!({"kind": "tcp-client", "target": format!("127.0.0.1:{port}"), "options": {"save": true}}))
        .await;
    server.await.unwrap();
    let evs = app
        .wait_event(c["id"].as_str().unwrap(), "the file kept", kind_is("file"))
        .await;
    let f = evs.iter().find(|e| e["kind"] == "file").unwrap();
    assert_eq!(f["sha256"], sha(&data));
    let (_, list) = app.get("/api/files").await;
    assert_eq!(list[0]["from"]["engine"], c["id"]);
}

#[tokio::test]
async fn an_upload_over_the_limit_is_refused_as_it_streams_and_leaves_nothing() {
    let dir = temp_dir("limit");
    let config = Config {
        limits: Limits {
            max_file: 1 << 20,
            ..Limits::default()
        },
        data_dir: Some(dir.clone()),
        ..Config::default()
    };
    let app = spawn_app_with(config).await;
    // Announced too big: refused before a byte is read.
    let (st, v) = upload(&app.http, &app.base, "big.bin", vec![0u8; 2 << 20]).await;
    assert!(assert_error(st.try_into().unwrap(), &v, 413, "too_large").contains("--max-file"));
    // Streamed without a length: refused once it passes the limit.
    assert_eq!(
        chunked_upload(&app.base, "stream.bin", 64, 64 * 1024).await,
        413
    );
    let files_dir = dir.join("personal/files/default");
    let left: Vec<_> = std::fs::read_dir(&files_dir)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "nothing left behind: {left:?}");
    assert_eq!(app.get("/api/files").await.1, json!([]));
    // Names are checked; the small ones go through; unknown ids are 404.
    let (st, v) = upload(&app.http, &app.base, "..", vec![1]).await;
    assert_error(st.try_into().unwrap(), &v, 400, "invalid_spec");
    let (st, meta) = upload(&app.http, &app.base, "small.txt", b"hello".to_vec()).await;
    assert_eq!(st, 201);
    let (st, v) = app.get("/api/files/f999").await;
    assert_error(st, &v, 404, "not_found");
    let (st, v) = app
        .post(
            "/api/engines",
            json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "file"}),
        )
        .await;
    assert!(assert_error(st, &v, 400, "invalid_spec").contains("options.file"));
    let (st, v) = app
        .post("/api/engines", json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "file", "options": {"file": "f999"}}))
        .await;
    assert!(assert_error(st, &v, 400, "invalid_spec").contains("no file f999"));
    // Kept across a restart; removed for good.
    app.shutdown().await;
    let config = Config {
        data_dir: Some(dir.clone()),
        ..Config::default()
    };
    let app = spawn_app_with(config).await;
    let (_, list) = app.get("/api/files").await;
    assert_eq!(list, json!([meta.clone()]));
    let (st, _) = app
        .delete(&format!("/api/files/{}", meta["id"].as_str().unwrap()))
        .await;
    assert_eq!(st.as_u16(), 204);
    assert_eq!(app.get("/api/files").await.1, json!([]));
    app.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Uploads `chunks` chunks of `size` bytes with `Transfer-Encoding: chunked` (no length
/// announced) over a raw socket, and returns the response's status; stops writing when the
/// server answers early.
async fn chunked_upload(base: &str, name: &str, chunks: usize, size: usize) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/files?name={name} HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut chunk = format!("{size:x}\r\n").into_bytes();
    chunk.extend(std::iter::repeat_n(7u8, size));
    chunk.extend_from_slice(b"\r\n");
    for _ in 0..chunks {
        if s.write_all(&chunk).await.is_err() {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    head.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}
