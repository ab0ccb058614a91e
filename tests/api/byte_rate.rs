//! A class workspace's byte rate: what its engines may receive together each second.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// A student of a class (ports in `ports`) whose workspace may receive `rate` bytes a second,
/// with a discard server reading 64 KiB at a time: the app (kept running while it lives), the
/// student, and the server's id and address.
async fn discard_under_rate(ports: (u16, u16), rate: u64) -> (TestApp, User, String, SocketAddr) {
    let (app, teacher) = spawn_class(ports, |c| {
        c.class.as_mut().unwrap().ws_bytes_per_sec = rate;
    })
    .await;
    let code = teacher.class_code().await;
    let (ada, ws) = User::join(&app, &code, "Ada").await;
    assert_eq!(ws["limits"]["bytes_per_sec"], rate);
    let e = ada
        .engine(
            json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "discard",
                       "options": {"recv_size": 65536}}),
        )
        .await;
    let id = e["id"].as_str().unwrap().to_string();
    (app, ada, id, local_of(&e))
}

/// Waits until engine `id` has received `total` bytes (30 s at most).
async fn wait_for_bytes_in(user: &User, id: &str, total: u64) {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, v) = user.get(&format!("/api/engines/{id}")).await;
        if v["stats"]["bytes_in"] == total {
            return;
        }
        assert!(Instant::now() < end, "never received {total} bytes: {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_workspace_over_its_byte_rate_reads_more_slowly() {
    // 1 MB/s for this workspace: 4 MB cannot be received in much under 4 s, however fast
    // the machine (a lower bound, so a slow machine passes too).
    let (_app, ada, id, to) = discard_under_rate((31_800, 31_999), 1_000_000).await;
    let mut s = TcpStream::connect(to).await.unwrap();
    let started = Instant::now();
    let chunk = vec![b'z'; 64 * 1024];
    let total = 4_000_000u64;
    let writer = tokio::spawn(async move {
        let mut sent = 0u64;
        while sent < total {
            let n = chunk.len().min((total - sent) as usize);
            s.write_all(&chunk[..n]).await.unwrap();
            sent += n as u64;
        }
        s
    });
    wait_for_bytes_in(&ada, &id, total).await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(3_500),
        "4 MB at 1 MB/s took only {took:?}"
    );
    drop(writer.await.unwrap());
    // (That the other workspaces do not notice is a speed, measured by socketlab-bench's
    // class figure with one workspace flooding.)
}

#[tokio::test]
async fn a_connection_closed_after_its_reads_were_paced_closes_at_once() {
    // While a read waits out the byte rate it also waits for the close; a close that comes
    // later, with the connection idle, must still end it.
    let (_app, ada, id, to) = discard_under_rate((32_400, 32_599), 1_000_000).await;
    let mut s = TcpStream::connect(to).await.unwrap();
    // One byte first, read and then waited past: the connection has waited on its socket,
    // its close and its commands at once before the paced reads.
    s.write_all(b"z").await.unwrap();
    wait_for_bytes_in(&ada, &id, 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Four times the burst (100 ms at 1 MB/s): the reads are paced.
    let total = 400_001u64;
    s.write_all(&vec![b'z'; total as usize - 1]).await.unwrap();
    wait_for_bytes_in(&ada, &id, total).await;
    // The last read's wait is at most 0.3 s (400 KB at 1 MB/s, less the burst): past it, the
    // connection is idle, back to waiting on its socket. (A machine stalled longer only
    // makes this test close during the wait, which passes without showing anything.)
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (st, v) = ada
        .delete(&format!("/api/engines/{id}/connections/c1"))
        .await;
    assert_eq!(st, 204, "{v}");
    let mut buf = [0u8; 16];
    let r = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await;
    assert!(
        matches!(r, Ok(Ok(0)) | Ok(Err(_))),
        "closed through the API, but the connection stayed open: {r:?}"
    );
}

#[tokio::test]
async fn opening_connection_after_connection_does_not_go_round_the_byte_rate() {
    // Each connection's first read used to go unpaid: 32 connections sending 16 KiB each
    // (one read each) were all read at once, whatever the workspace's rate.
    let (_app, ada, id, to) = discard_under_rate((32_600, 32_799), 200_000).await;
    let started = Instant::now();
    // One after the other (32 at once would overflow the listen backlog of 5, and the
    // kernel's SYN retries would set the pace instead).
    let mut clients = Vec::new();
    for _ in 0..32 {
        let mut s = TcpStream::connect(to).await.unwrap();
        s.write_all(&[b'z'; 16384]).await.unwrap();
        clients.push(s);
    }
    wait_for_bytes_in(&ada, &id, 32 * 16384).await;
    // 512 KiB at 200 KB/s, less the 0.1 s burst, is about 2.5 s; two readers on the two
    // worker threads may each read once before the other's read is charged, so half that is
    // the bound (a lower bound, so a slow machine passes too). Unpaid, all 32 read at once.
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1_200),
        "512 KiB over 32 new connections at 200 KB/s took only {took:?}"
    );
    drop(clients);
}
