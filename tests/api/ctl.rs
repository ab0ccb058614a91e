//! `socketlab ctl` against a real server: every command, its errors (the API's message and
//! exit status 1), and `watch` following the stream across a restart.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use socketlab::Config;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::oneshot;

use crate::helpers::*;

/// Runs `socketlab ctl ARGS` against `url` with `token`: exit status, stdout, stderr.
async fn ctl(url: &str, token: Option<&str>, args: &[&str]) -> (i32, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_socketlab"));
    cmd.arg("ctl")
        .args(args)
        .env("SOCKETLAB_URL", url)
        .env_remove("SOCKETLAB_TOKEN");
    if let Some(t) = token {
        cmd.env("SOCKETLAB_TOKEN", t);
    }
    let out = tokio::time::timeout(Duration::from_secs(20), cmd.output())
        .await
        .expect("ctl finished")
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `ctl` and insists it succeeded; its stdout.
async fn ok(url: &str, token: &str, args: &[&str]) -> String {
    let (code, out, err) = ctl(url, Some(token), args).await;
    assert_eq!(code, 0, "ctl {args:?}: {out}{err}");
    out
}

#[tokio::test]
async fn every_command_does_what_it_says_and_errors_exit_1_with_the_apis_message() {
    let (app, _teacher) = spawn_class((19_000, 19_499), |_| {}).await;
    let url = app.base.clone();
    let t = CLASS_TOKEN;
    let server = ok(
        &url,
        t,
        &["new", "tcp-server", "--behavior", "echo", "--name", "srv"],
    )
    .await;
    assert_eq!(server.trim(), "e1");
    let client = ok(&url, t, &["new", "tcp-client", "--target", "e1"]).await;
    assert_eq!(client.trim(), "e2");
    let ls = ok(&url, t, &["ls"]).await;
    assert!(
        ls.lines()
            .any(|l| l.starts_with("e1 ") && l.contains("tcp-server") && l.contains("running")),
        "{ls}"
    );
    assert!(
        ls.lines()
            .any(|l| l.starts_with("e2 ") && l.contains("tcp-client")),
        "{ls}"
    );
    let sent = ok(&url, t, &["send", "e2", "hello"]).await;
    assert!(sent.starts_with("sent 5 B to 127.0.0.1:"), "{sent}");
    ok(&url, t, &["send", "e2", "68 69", "--hex"]).await;
    // Both sends came back: the pcap holds them.
    let user = User::new(&app, t);
    for _ in 0..250 {
        let (_, e) = user.get("/api/engines/e2").await;
        if e["stats"]["bytes_in"] == 7 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let dir = temp_dir("ctl");
    let file = dir.join("echo.pcap");
    let said = ok(&url, t, &["pcap", "e2", "-o", file.to_str().unwrap()]).await;
    let pcap = std::fs::read(&file).unwrap();
    assert!(
        pcap.len() > 24 && said.contains(&pcap.len().to_string()),
        "{said}"
    );
    assert_eq!(&pcap[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "a pcap file");
    assert!(pcap.windows(5).any(|w| w == b"hello"));
    assert!(ok(&url, t, &["stop", "e2"]).await.contains("stopped"));
    assert!(ok(&url, t, &["start", "e2"]).await.contains("running"));
    let labs = ok(&url, t, &["labs"]).await;
    assert!(
        labs.lines()
            .any(|l| l.starts_with("echo ") && l.contains("lecture")),
        "{labs}"
    );
    let loaded = ok(&url, t, &["load", "add"]).await;
    assert_eq!(loaded.lines().count(), 2, "{loaded}");
    let class = ok(&url, t, &["class"]).await;
    assert!(
        class.contains("Instructor") && class.contains("Add server 0/4"),
        "{class}"
    );
    assert!(ok(&url, t, &["rm", "e2"]).await.contains("e2 deleted"));
    assert!(!ok(&url, t, &["ls"]).await.contains("\ne2 "));

    // Errors: the API's message on stderr, exit status 1, nothing on stdout.
    let (code, out, err) = ctl(&url, Some(t), &["stop", "e99"]).await;
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(
        err.contains("404 not_found") && err.contains("e99"),
        "{err}"
    );
    let (code, _, err) = ctl(&url, Some("wrong-token"), &["ls"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("401 unauthorized"), "{err}");
    let (code, _, err) = ctl(&url, Some(t), &["new", "tcp-server"]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("field behavior is missing") && err.contains("echo"),
        "{err}"
    );
    let (code, _, err) = ctl(
        &url,
        Some(t),
        &[
            "new",
            "tcp-server",
            "--bind",
            "127.0.0.1:80",
            "--behavior",
            "echo",
        ],
    )
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("privileged"), "{err}");
    let (code, _, err) = ctl("http://127.0.0.1:1", Some(t), &["ls"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("cannot reach socketlab"), "{err}");
    let (code, _, err) = ctl(&url, Some(t), &["frobnicate"]).await;
    assert_eq!(code, 2, "a usage error: {err}");
    app.shutdown().await;
}

/// A server on `addr` keeping its workspaces in `dir`; stopped by sending on the channel.
async fn serve_at(
    addr: std::net::SocketAddr,
    dir: &std::path::Path,
) -> (
    oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let mut config = Config::default();
    config.access.token = Some("ctl-watch-token-0123456789".into());
    config.data_dir = Some(dir.to_path_buf());
    let (stop, stopped) = oneshot::channel::<()>();
    let h = tokio::spawn(socketlab::serve(listener, config, async move {
        let _ = stopped.await;
    }));
    (stop, h)
}

#[tokio::test]
async fn watch_prints_the_log_and_follows_a_restart() {
    const T: &str = "ctl-watch-token-0123456789";
    let dir = temp_dir("ctl-watch");
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{addr}");
    let (stop, h) = serve_at(addr, &dir).await;
    ok(&url, T, &["new", "tcp-server", "--behavior", "echo"]).await;
    ok(&url, T, &["new", "tcp-client", "--target", "e1"]).await;
    let mut watch = tokio::process::Command::new(env!("CARGO_BIN_EXE_socketlab"))
        .args(["ctl", "watch"])
        .env("SOCKETLAB_URL", &url)
        .env("SOCKETLAB_TOKEN", T)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let mut until = async |seen: &mut Vec<String>, what: &str, send: &dyn Fn()| {
        let end = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            send();
            match tokio::time::timeout(Duration::from_millis(300), lines.next_line()).await {
                Ok(Ok(Some(l))) => {
                    let hit = l.contains(what);
                    seen.push(l);
                    if hit {
                        return;
                    }
                }
                Ok(_) => panic!("watch ended; it printed {seen:#?}"),
                Err(_) => assert!(
                    tokio::time::Instant::now() < end,
                    "no {what:?} in {seen:#?}"
                ),
            }
        }
    };
    // Sent until watch shows it (it may connect after the first send).
    let url2 = url.clone();
    let send = |data: &'static str| {
        let url = url2.clone();
        move || {
            let url = url.clone();
            tokio::spawn(async move { ctl(&url, Some(T), &["send", "e2", data]).await });
        }
    };
    // Watch may connect between a send and its echo, so its first "before" can be the
    // echo's recv(): read on until a send() of it shows.
    let sent_line = |l: &String| l.contains("\"before\"") && l.contains("send()");
    while !seen.iter().any(sent_line) {
        until(&mut seen, "\"before\"", &send("before")).await;
    }
    let line: &String = seen.iter().find(|l| sent_line(l)).unwrap();
    assert!(
        line.contains("e2") && line.contains("send()") && line.contains("6 B"),
        "{line}"
    );
    assert!(
        !seen.iter().any(|l| l.contains('\x1b')),
        "no colour when piped: {seen:?}"
    );

    // The server restarts (its engines come back stopped); watch goes on by itself.
    drop(stop);
    let _ = h.await;
    let (stop, h) = serve_at(addr, &dir).await;
    ok(&url, T, &["start", "e1"]).await;
    ok(&url, T, &["start", "e2"]).await;
    until(&mut seen, "\"after\"", &send("after")).await;
    assert!(
        seen.iter().any(|l| l.contains("restarted")),
        "the restart is said: {seen:#?}"
    );
    drop(watch);
    drop(stop);
    let _ = h.await;
    let _ = std::fs::remove_dir_all(&dir);
    let _: Option<Value> = None;
    let _ = json!(null);
}
