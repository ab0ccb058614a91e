//! What a student can make the server keep: labs, files, and saves when the disk says no.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;

fn server_spec() -> Value {
    json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo"})
}

/// A lab of `steps` steps of `bytes` bytes of data each.
fn lab_of(steps: usize, bytes: usize) -> Value {
    json!({"name": "big", "engines": [server_spec()],
        "steps": (0..steps).map(|_| json!({"text": "t", "engine": 0, "send": {"data": "d".repeat(bytes)}})).collect::<Vec<_>>()})
}

/// Asserts an error's status and code, quoting at most the error object (never a lab).
fn refused(st: StatusCode, v: &Value, status: u16, code: &str) {
    assert_eq!(
        (st.as_u16(), v["error"]["code"].as_str()),
        (status, Some(code)),
        "{}",
        v["error"].to_string().chars().take(400).collect::<String>()
    );
}

#[tokio::test]
async fn labs_are_bounded_in_size_depth_data_and_total() {
    let server = Server::start("10200-10399", &[], Rlimits::default()).await;
    let ada = server.student("Ada").await;
    // A step's data over --max-message.
    let (st, v) = ada
        .post(
            "/api/labs",
            json!({"name": "x", "engines": [server_spec()],
                "steps": [{"text": "t", "engine": 0, "send": {"data": "d".repeat((1 << 20) + 1)}}]}),
        )
        .await;
    refused(st, &v, 413, "too_large");
    assert_eq!(v["error"]["field"], "steps[0].send.data", "{v}");
    // Over a megabyte of JSON in all (50 steps of 20 KB, each step within the bounds).
    let (st, v) = ada.post("/api/labs", lab_of(50, 22_000)).await;
    refused(st, &v, 413, "too_large");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("1048576"),
        "{v}"
    );
    // Nested deeper than 32: refused before it is parsed.
    let mut deep = json!(1);
    for _ in 0..40 {
        deep = json!([deep]);
    }
    let (st, v) = ada
        .post(
            "/api/labs",
            json!({"name": "deep", "engines": [server_spec()], "steps": [{"text": "t", "engine": 0, "send": {"data": "x", "conn": deep}}]}),
        )
        .await;
    refused(st, &v, 413, "too_large");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("32 levels"),
        "{v}"
    );
    // A body over the route's limit is JSON too, not axum's plain text. (A client of its own:
    // the server closes a connection whose body it did not read, and a pooled one would go
    // on to the next request.)
    let r = reqwest::Client::new()
        .post(format!("{}/api/labs", server.base))
        .bearer_auth(&ada.cred)
        .header("content-type", "application/json")
        .body(vec![b' '; 5 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let v: Value = r.json().await.expect("a JSON error body");
    assert_eq!(v["error"]["code"], "too_large");
    // The workspace's labs together: labs of nearly a megabyte, until 16 MiB is passed.
    let mut kept = 0u64;
    let mut one = 0u64;
    let over = loop {
        let (st, v) = ada.post("/api/labs", lab_of(45, 20_000)).await;
        if st != StatusCode::CREATED {
            break (st, v);
        }
        one = serde_json::to_vec(&v).unwrap().len() as u64;
        kept += 1;
        assert!(kept <= 30, "16 MiB of labs were never refused");
    };
    refused(over.0, &over.1, 413, "too_large");
    assert!(
        kept * one <= 16 << 20 && (kept + 1) * one > 16 << 20,
        "{kept} labs of {one} bytes kept"
    );
    server.stop().await;
}

/// Uploads `len` bytes the way a simple client does: the whole request written, then the
/// answer read (reqwest's client stops writing at an early answer and reports the close).
async fn raw_upload(addr: std::net::SocketAddr, cred: &str, len: usize) -> (StatusCode, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/files?name=big.bin HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {cred}\r\nContent-Length: {len}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&vec![0u8; len])
        .await
        .expect("the server reads what is sent after its answer (lingering close)");
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    let status: u16 = text.split(' ').nth(1).unwrap().parse().unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1;
    (
        StatusCode::from_u16(status).unwrap(),
        serde_json::from_str(body).unwrap(),
    )
}

#[tokio::test]
async fn files_have_a_quota_in_number_and_bytes() {
    let server = Server::start(
        "10400-10599",
        &["--ws-max-files", "3", "--ws-files-bytes", "1000000"],
        Rlimits::default(),
    )
    .await;
    let ada = server.student("Ada").await;
    let upload = |body: Vec<u8>| {
        let ada = ada.clone();
        async move {
            let r = ada
                .http
                .post(format!("{}/api/files?name=f.bin", ada.base))
                .bearer_auth(&ada.cred)
                .body(body)
                .send()
                .await
                .unwrap();
            let st = r.status();
            (st, r.json::<Value>().await.unwrap())
        }
    };
    // Too large for the quota by its declared length: refused before it is read, and the
    // client that sends it all anyway still reads the answer (the server lingers).
    let (st, v) = raw_upload(server.addr, &ada.cred, 2_000_000).await;
    assert_error(st, &v, 507, "quota_exceeded");
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (st, v) = upload(vec![2; 1000]).await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    let (st, v) = upload(vec![3; 10]).await;
    assert_error(st, &v, 507, "quota_exceeded");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--ws-max-files"),
        "{v}"
    );
    // A receive server stops keeping at the quota, and says why.
    let (st, _) = ada.delete(&format!("/api/files/{}", ids[0])).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let recv = ada
        .engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "receive"}))
        .await;
    let mut c = tokio::net::TcpStream::connect(local_of(&recv))
        .await
        .unwrap();
    use tokio::io::AsyncWriteExt;
    let _ = c.write_all(&vec![4; 1_200_000]).await;
    let why = event_of(&ada, recv["id"].as_str().unwrap(), "quota", |e| {
        e["kind"] == "error"
            && e["message"]
                .as_str()
                .unwrap_or("")
                .contains("may take 1000000 bytes")
    })
    .await;
    assert!(
        why["message"].as_str().unwrap().starts_with("not saved"),
        "{why}"
    );
    // "f+1" names no file.
    let (st, v) = ada.get("/api/files/f+1").await;
    assert_error(st, &v, 404, "not_found");
    server.stop().await;
}

#[tokio::test]
async fn a_save_the_disk_refuses_is_said_and_kept_once_it_can_be() {
    let server = Server::start("10600-10799", &[], Rlimits::default()).await;
    let ada = server.student("Ada").await;
    let (_, me) = ada.get("/api/workspace").await;
    let ws_dir = server.dir.join("class/workspaces");
    let file = ws_dir.join(format!("{}.json", me["id"].as_str().unwrap()));
    // The directory replaced by a plain file: every write in it fails (even as root).
    let away = server.dir.join("class/workspaces.away");
    std::fs::rename(&ws_dir, &away).unwrap();
    std::fs::write(&ws_dir, b"not a directory").unwrap();
    let (st, v) = ada.post("/api/engines", server_spec()).await;
    assert_error(st, &v, 507, "not_saved");
    assert_eq!(
        v["result"]["state"], "running",
        "the engine made comes back: {v}"
    );
    // The change is live, and the workspace says it is not on disk.
    let (_, list) = ada.get("/api/engines").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, me) = ada.get("/api/workspace").await;
    assert_eq!(me["unsaved"], true);
    let (_, class) = server.teacher().get("/api/workspaces").await;
    assert!(
        class
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["id"] == me["id"] && w["unsaved"] == true),
        "{class}"
    );
    // Space comes back: the retry writes it without anyone asking.
    std::fs::remove_file(&ws_dir).unwrap();
    std::fs::rename(&away, &ws_dir).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, me) = ada.get("/api/workspace").await;
        if me["unsaved"] == false {
            break;
        }
        assert!(Instant::now() < deadline, "never saved again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let kept: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(kept["engines"].as_array().unwrap().len(), 1, "{kept}");
    server.stop().await;
}
