//! Keeping workspaces across restarts: every workspace and its engines come back (stopped),
//! a corrupt file is reported by name while the rest load, and a kill in the middle of a save
//! leaves the previous version whole.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use socketlab::Config;
use tokio::io::AsyncReadExt;

use crate::helpers::*;

fn class_config(dir: &Path, ports: (u16, u16)) -> Config {
    Config {
        class: Some(socketlab::config::ClassConfig {
            ports,
            ..Default::default()
        }),
        data_dir: Some(dir.to_path_buf()),
        ..Config::default()
    }
}

#[tokio::test]
async fn a_restart_brings_back_every_workspace_and_its_engines_stopped() {
    let dir = temp_dir("restart");
    let (app, started) = spawn_app_ready(class_config(&dir, (13_000, 13_999))).await;
    let token = started.token.clone().expect("a generated instructor token");
    let code = started.code.clone().unwrap();
    let teacher = User::new(&app, &token);
    teacher
        .engine(json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "uppercase", "name": "demo"}))
        .await;
    let mut students = Vec::new();
    for name in ["Ada", "Bob", "Cy"] {
        let (u, ws) = User::join(&app, &code, name).await;
        let e = u
            .engine(
                json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo",
                           "name": format!("{name}'s echo"), "options": {"recv_size": 4}}),
            )
            .await;
        u.engine(json!({"kind": "tcp-client", "target": e["local"].clone()}))
            .await;
        let gone = u.engine(udp_spec("discard")).await;
        let (st, _) = u
            .delete(&format!("/api/engines/{}", gone["id"].as_str().unwrap()))
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        students.push((u, ws, e));
    }
    let (st, made) = teacher
        .post("/api/workspaces", json!({"name": "Dee"}))
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let (ada, ada_ws, _) = &students[0];
    let (_, rewatch) = ada.post("/api/workspace/watch", json!({})).await;
    let (_, before) = teacher.get("/api/workspaces").await;
    app.shutdown().await;

    let (app, again) = spawn_app_ready(class_config(&dir, (13_000, 13_999))).await;
    assert_eq!(
        again.token.as_deref(),
        Some(token.as_str()),
        "the instructor's link still works"
    );
    assert_eq!(
        again.code.as_deref(),
        Some(code.as_str()),
        "so does the join link"
    );
    assert!(again.problems.is_empty(), "{:?}", again.problems);
    let teacher = User::new(&app, &token);
    let (_, after) = teacher.get("/api/workspaces").await;
    let ids = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|w| {
                (
                    w["id"].clone(),
                    w["name"].clone(),
                    w["engines"].clone(),
                    w["port_range"].clone(),
                    last_segment(&w["watch_url"]),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&after), ids(&before));
    let (_, mine) = teacher.get("/api/engines").await;
    assert_eq!(
        (mine[0]["name"].as_str(), mine[0]["state"].as_str()),
        (Some("demo"), Some("stopped"))
    );
    for (old, ws, server) in &students {
        // The student's session survives the restart.
        let u = User::new(&app, &old.cred);
        let (st, list) = u.get("/api/engines").await;
        assert_eq!(
            st,
            StatusCode::OK,
            "{} after the restart: {list}",
            ws["name"]
        );
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(
            list.iter()
                .map(|e| e["id"].as_str().unwrap())
                .collect::<Vec<_>>(),
            ["e1", "e2"]
        );
        assert!(list.iter().all(|e| e["state"] == "stopped"));
        assert_eq!(list[0]["name"], server["name"]);
        assert_eq!(list[0]["options"]["recv_size"], 4);
        assert_eq!(list[0]["created"], server["created"]);
        // Start brings it back on the port it had.
        let (st, v) = u.post("/api/engines/e1/start", json!({})).await;
        assert_eq!(
            (st, v["local"].clone()),
            (StatusCode::OK, server["local"].clone()),
            "{v}"
        );
        // New engines go on from the old ids (the deleted e3 is not reused).
        let next = u.engine(udp_spec("echo")).await;
        assert_eq!(next["id"], "e4");
    }
    // The regenerated watch link is the one that works.
    let watch = User::new(&app, &last_segment(&rewatch["watch_url"]));
    let (_, me) = watch.get("/api/workspace").await;
    assert_eq!(
        (me["role"].as_str(), me["id"].clone()),
        (Some("watcher"), ada_ws["id"].clone())
    );
    // The one-person link made before the restart still opens its workspace.
    let (_, dee) = User::join(&app, &last_segment(&made["join_url"]), "").await;
    assert_eq!(dee["id"], made["id"]);
    let _ = ada;
    app.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn personal_mode_keeps_its_engines_too() {
    let dir = temp_dir("personal");
    let config = Config {
        data_dir: Some(dir.clone()),
        ..Config::default()
    };
    let (app, _) = spawn_app_ready(config.clone()).await;
    let e = app.engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "add", "name": "adder"})).await;
    app.shutdown().await;
    let (app, started) = spawn_app_ready(config).await;
    assert!(started.problems.is_empty());
    let (_, list) = app.get("/api/engines").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(
        (list[0]["name"].clone(), list[0]["state"].as_str()),
        (e["name"].clone(), Some("stopped"))
    );
    let (_, me) = app.get("/api/workspace").await;
    assert_eq!(
        (me["id"].as_str(), me["role"].as_str(), me["mode"].as_str()),
        (Some("default"), Some("owner"), Some("personal"))
    );
    app.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The real binary, in class mode on `dir`, with its stderr kept.
struct Proc {
    child: tokio::process::Child,
    base: String,
    err: tokio::task::JoinHandle<String>,
}

const TOKEN: &str = "persist-test-token-0123456789";

async fn start_binary(dir: &Path, ports: &str) -> Proc {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_socketlab"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--class",
            "--ports",
            ports,
            "--token",
            TOKEN,
        ])
        .arg("--data-dir")
        .arg(dir)
        .env_remove("SOCKETLAB_TOKEN")
        .env_remove("SOCKETLAB_DATA_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let err = tokio::spawn(async move {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s).await;
        s
    });
    let (base, mut out) = read_base(&mut child).await;
    tokio::spawn(async move {
        let mut sink = String::new();
        let _ = out.read_to_string(&mut sink).await;
    });
    Proc { child, base, err }
}

impl Proc {
    fn user(&self, cred: &str) -> User {
        User {
            base: self.base.clone(),
            addr: self.base.trim_start_matches("http://").parse().unwrap(),
            cred: cred.into(),
            http: reqwest::Client::new(),
        }
    }

    async fn kill(mut self) -> String {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        self.err.await.unwrap_or_default()
    }
}

#[tokio::test]
async fn a_corrupt_file_is_reported_by_name_and_the_others_load() {
    let dir = temp_dir("corrupt");
    let p = start_binary(&dir, "14000-14999").await;
    let teacher = p.user(TOKEN);
    let code = teacher.class_code().await;
    let app_like = TestApp::at(&p.base);
    let mut names = Vec::new();
    for name in ["Ada", "Bob", "Cy"] {
        let (u, ws) = User::join(&app_like, &code, name).await;
        u.engine(tcp_spec("echo")).await;
        names.push((ws["id"].as_str().unwrap().to_string(), u));
    }
    p.kill().await;
    let bad = dir
        .join("class/workspaces")
        .join(format!("{}.json", names[1].0));
    std::fs::write(&bad, b"{\"version\": 1, \"id\": \"trunc").unwrap();
    let p = start_binary(&dir, "14000-14999").await;
    let teacher = p.user(TOKEN);
    let (_, list) = teacher.get("/api/workspaces").await;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&names[0].0.as_str()) && ids.contains(&names[2].0.as_str()),
        "{ids:?}"
    );
    assert!(!ids.contains(&names[1].0.as_str()));
    assert_eq!(
        p.user(&names[2].1.cred)
            .get("/api/engines")
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let err = p.kill().await;
    assert!(
        err.contains(&bad.display().to_string()) && err.contains("corrupt"),
        "the startup output names the file: {err}"
    );
    assert!(
        bad.exists(),
        "the corrupt file is left for a person to look at"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_kill_during_a_save_leaves_the_previous_version_whole() {
    let dir = temp_dir("kill");
    let p = start_binary(&dir, "15000-15999").await;
    let code = p.user(TOKEN).class_code().await;
    let (ada, ada_ws) = User::join(&TestApp::at(&p.base), &code, "Ada").await;
    let ada_id = ada_ws["id"].as_str().unwrap().to_string();
    let file = dir.join("class/workspaces").join(format!("{ada_id}.json"));
    let mut p = Some(p);
    let mut interrupted = 0;
    let mut rounds = 0;
    while interrupted < 3 {
        rounds += 1;
        assert!(rounds <= 200, "in {rounds} kills none landed mid-save");
        let proc = p.take().unwrap();
        let u = proc.user(&ada.cred);
        // Saves back to back: every create and delete rewrites Ada's file.
        let churn = tokio::spawn(async move {
            loop {
                let (st, e) = u.post("/api/engines", udp_spec("echo")).await;
                if st == StatusCode::CONFLICT {
                    // Kills between a create and its delete left engines behind: clear them.
                    let (_, all) = u.get("/api/engines").await;
                    for e in all.as_array().into_iter().flatten() {
                        let _ = u
                            .delete(&format!("/api/engines/{}", e["id"].as_str().unwrap()))
                            .await;
                    }
                    continue;
                }
                if st != StatusCode::CREATED {
                    break;
                }
                let _ = u
                    .delete(&format!("/api/engines/{}", e["id"].as_str().unwrap()))
                    .await;
            }
        });
        tokio::time::sleep(Duration::from_millis(20 + (rounds * 7 % 40) as u64)).await;
        let err = proc.kill().await;
        churn.abort();
        let leftovers = std::fs::read_dir(file.parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().contains(".tmp-"));
        if leftovers {
            interrupted += 1;
        }
        // Whatever moment the kill came, the file is one whole version.
        let text = std::fs::read(&file).unwrap();
        let v: Value = serde_json::from_slice(&text)
            .unwrap_or_else(|e| panic!("round {rounds}: {e}: {}", String::from_utf8_lossy(&text)));
        assert_eq!(v["id"], ada_id.as_str());
        assert!(!err.contains("corrupt"), "{err}");
        let next = start_binary(&dir, "15000-15999").await;
        let (st, _) = next.user(&ada.cred).get("/api/engines").await;
        assert_eq!(st, StatusCode::OK, "round {rounds}: Ada's workspace loaded");
        p = Some(next);
    }
    let err = p.take().unwrap().kill().await;
    assert!(!err.contains("corrupt"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
