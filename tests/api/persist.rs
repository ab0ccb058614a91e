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
    // A port-0 server starts again on the port its clients know (no port block here to
    // make it predictable: the saved address does).
    let (st, v) = app
        .post(
            &format!("/api/engines/{}/start", e["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(
        (st, v["local"].clone()),
        (StatusCode::OK, e["local"].clone()),
        "{v}"
    );
    app.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The real binary, in class mode on `dir`, with its stderr kept (and watchable while it runs).
struct Proc {
    child: tokio::process::Child,
    base: String,
    err: tokio::task::JoinHandle<String>,
    err_so_far: tokio::sync::watch::Receiver<String>,
}

const TOKEN: &str = "persist-test-token-0123456789";

async fn start_binary(dir: &Path, ports: &str) -> Proc {
    start_binary_pausing(dir, ports, None).await
}

/// Starts the binary; with `pause` (`POINT:FILE`), its saves of FILE stop for good at POINT
/// (see `SOCKETLAB_TEST_PAUSE_SAVE` in `src/workspace/store.rs`).
async fn start_binary_pausing(dir: &Path, ports: &str, pause: Option<&str>) -> Proc {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_socketlab"));
    cmd.args([
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
    .env_remove("SOCKETLAB_TEST_PAUSE_SAVE")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    if let Some(p) = pause {
        cmd.env("SOCKETLAB_TEST_PAUSE_SAVE", p);
    }
    let mut child = cmd.spawn().unwrap();
    let err = child.stderr.take().unwrap();
    let (tx, err_so_far) = tokio::sync::watch::channel(String::new());
    let err = tokio::spawn(async move {
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(err).lines();
        let mut s = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            s.push_str(&line);
            s.push('\n');
            tx.send_replace(s.clone());
        }
        s
    });
    let (base, mut out) = read_base(&mut child).await;
    tokio::spawn(async move {
        let mut sink = String::new();
        let _ = out.read_to_string(&mut sink).await;
    });
    Proc {
        child,
        base,
        err,
        err_so_far,
    }
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

    /// Waits (30 s at most) until the binary's stderr contains `needle`.
    async fn wait_stderr(&mut self, needle: &str) {
        let seen = tokio::time::timeout(
            Duration::from_secs(30),
            self.err_so_far.wait_for(|s| s.contains(needle)),
        )
        .await
        .is_ok_and(|r| r.is_ok());
        assert!(
            seen,
            "the binary never printed {needle:?}: {}",
            self.err_so_far.borrow().as_str()
        );
    }

    async fn kill(mut self) -> String {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        self.err.await.unwrap_or_default()
    }
}

/// The files of `dir` whose name starts with `name` and has `.corrupt-` in it.
fn moved_aside(dir: &Path, name: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with(&format!("{name}.corrupt-"))
        })
        .collect()
}

#[tokio::test]
async fn a_file_that_does_not_load_is_moved_aside_whole_and_its_ports_kept() {
    let dir = temp_dir("corrupt");
    let p = start_binary(&dir, "14000-14999").await;
    let teacher = p.user(TOKEN);
    let code = teacher.class_code().await;
    let app_like = TestApp::at(&p.base);
    teacher.engine(tcp_spec("echo")).await;
    let mut names = Vec::new();
    for name in ["Ada", "Bob", "Cy"] {
        let (u, ws) = User::join(&app_like, &code, name).await;
        u.engine(tcp_spec("echo")).await;
        names.push((
            ws["id"].as_str().unwrap().to_string(),
            u,
            ws["port_range"].clone(),
        ));
    }
    p.kill().await;
    let wdir = dir.join("class/workspaces");
    let bob = wdir.join(format!("{}.json", names[1].0));
    // Bob's file cut short (a disk that filled, a bad copy): its block still readable.
    let whole = std::fs::read(&bob).unwrap();
    let cut = whole[..whole.len() * 4 / 5].to_vec();
    assert!(String::from_utf8_lossy(&cut).contains("\"block\""));
    std::fs::write(&bob, &cut).unwrap();
    // The instructor's file, one character changed by hand.
    let instructor = wdir.join("instructor.json");
    let mut edited = std::fs::read(&instructor).unwrap();
    edited[0] = b'[';
    std::fs::write(&instructor, &edited).unwrap();
    let p = start_binary(&dir, "14000-14999").await;
    let teacher = p.user(TOKEN);
    // Neither was overwritten: both moved aside, byte for byte.
    assert!(
        !bob.exists(),
        "Bob's file is no longer where it would be read"
    );
    let moved = moved_aside(&wdir, &format!("{}.json", names[1].0));
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert!(
        std::fs::read(&moved[0]).unwrap() == cut,
        "Bob's file, unchanged"
    );
    let moved_i = moved_aside(&wdir, "instructor.json");
    assert_eq!(moved_i.len(), 1, "{moved_i:?}");
    assert!(
        std::fs::read(&moved_i[0]).unwrap() == edited,
        "the instructor's, unchanged"
    );
    // The instructor still signs in (a fresh workspace, said so); the others load.
    let (st, me) = teacher.get("/api/workspace").await;
    assert_eq!(st, StatusCode::OK, "{me}");
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
    // The Class tab names Bob's, where it is, and the ports kept for it.
    let not_loaded = me["class"]["not_loaded"].as_array().unwrap().clone();
    assert_eq!(not_loaded.len(), 1, "{me}");
    assert_eq!(not_loaded[0]["id"], names[1].0.as_str());
    assert_eq!(not_loaded[0]["port_range"], names[1].2);
    assert_eq!(not_loaded[0]["moved_to"], moved[0].display().to_string());
    // A new student does not get Bob's ports while they are kept for him.
    let (_, dee) = User::join(&TestApp::at(&p.base), &code, "Dee").await;
    assert_ne!(dee["port_range"], names[1].2, "Bob's block is kept for him");
    let err = p.kill().await;
    for path in [&bob, &moved[0], &moved_i[0]] {
        assert!(
            err.contains(&path.display().to_string()),
            "the startup output names {}: {err}",
            path.display()
        );
    }
    // Started again, with a pipe and a directory where files should be: the start does not
    // hang on the pipe, and Bob's block is still kept (the moved file is still not loaded).
    let fifo = wdir.join("wfifo0001.json");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::create_dir(wdir.join("wdir00001.json")).unwrap();
    let p = start_binary(&dir, "14000-14999").await;
    let teacher = p.user(TOKEN);
    let (_, me) = teacher.get("/api/workspace").await;
    let listed: Vec<(String, Value)> = me["class"]["not_loaded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["id"].as_str().unwrap().to_string(),
                b["port_range"].clone(),
            )
        })
        .collect();
    assert!(
        listed.contains(&(names[1].0.clone(), names[1].2.clone())),
        "{listed:?}"
    );
    assert!(
        listed.contains(&("wfifo0001".into(), Value::Null)),
        "{listed:?}"
    );
    assert!(
        listed.contains(&("wdir00001".into(), Value::Null)),
        "{listed:?}"
    );
    let (_, fay) = User::join(&TestApp::at(&p.base), &code, "Fay").await;
    assert_ne!(fay["port_range"], names[1].2, "kept across restarts");
    // Removed by the instructor, the block is free again; the file stays on disk, renamed
    // so later starts no longer keep its ports.
    let (st, _) = teacher
        .delete(&format!("/api/workspaces/{}", names[1].0))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, me) = teacher.get("/api/workspace").await;
    assert!(
        !me["class"]["not_loaded"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["id"] == names[1].0.as_str())
    );
    let (_, eve) = User::join(&TestApp::at(&p.base), &code, "Eve").await;
    assert_eq!(
        eve["port_range"], names[1].2,
        "the freed block is handed out again"
    );
    assert!(!moved[0].exists());
    let kept = std::path::PathBuf::from(format!("{}.removed", moved[0].display()));
    assert!(
        std::fs::read(&kept).unwrap() == cut,
        "still there, unchanged"
    );
    p.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn two_files_that_claim_one_port_block_do_not_share_it() {
    let dir = temp_dir("twoblocks");
    let p = start_binary(&dir, "14000-14999").await;
    let code = p.user(TOKEN).class_code().await;
    let (_, ada) = User::join(&TestApp::at(&p.base), &code, "Ada").await;
    let (dee, dee_ws) = User::join(&TestApp::at(&p.base), &code, "Dee").await;
    p.kill().await;
    // Dee's file edited to claim Ada's block.
    let file = dir
        .join("class/workspaces")
        .join(format!("{}.json", dee_ws["id"].as_str().unwrap()));
    let mut v: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    v["block"] = 0.into();
    std::fs::write(&file, serde_json::to_vec(&v).unwrap()).unwrap();
    let p = start_binary(&dir, "14000-14999").await;
    let (_, list) = p.user(TOKEN).get("/api/workspaces").await;
    let range_of = |id: &Value| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|w| w["id"] == *id)
            .unwrap()["port_range"]
            .clone()
    };
    assert_eq!(
        range_of(&ada["id"]),
        ada["port_range"],
        "the older keeps its block"
    );
    assert_ne!(range_of(&dee_ws["id"]), ada["port_range"]);
    let (st, v) = p
        .user(&dee.cred)
        .post("/api/engines", tcp_spec("echo"))
        .await;
    assert!(st.is_client_error(), "Dee has no ports now: {st} {v}");
    let err = p.kill().await;
    assert!(
        err.contains("is workspace"),
        "the startup output says so: {err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The names of a workspace's engines as listed by the API.
async fn engine_names(u: &User) -> Vec<String> {
    let (st, list) = u.get("/api/engines").await;
    assert_eq!(st, StatusCode::OK, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn names_in_file(bytes: &[u8]) -> Vec<String> {
    let v: Value = serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)));
    v["engines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["spec"]["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn a_kill_during_a_save_leaves_the_previous_version_whole() {
    const PORTS: &str = "15000-15999";
    let dir = temp_dir("kill");
    let p = start_binary(&dir, PORTS).await;
    let code = p.user(TOKEN).class_code().await;
    let (ada, ada_ws) = User::join(&TestApp::at(&p.base), &code, "Ada").await;
    let ada_id = ada_ws["id"].as_str().unwrap().to_string();
    p.user(&ada.cred)
        .engine(json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "echo", "name": "kept"}))
        .await;
    p.kill().await;
    let name = format!("{ada_id}.json");
    let file = dir.join("class/workspaces").join(&name);
    let temp_files = || {
        std::fs::read_dir(file.parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .count()
    };
    let mut expected = vec!["kept".to_string()];
    // Each moment of a save, on purpose: the process is killed while the save that writes the
    // new engine is frozen there (the request never gets its answer).
    for (point, lands) in [
        ("half-written", false),
        ("before-rename", false),
        ("renamed", true),
    ] {
        let before = std::fs::read(&file).unwrap();
        assert_eq!(names_in_file(&before), expected);
        let mut p = start_binary_pausing(&dir, PORTS, Some(&format!("{point}:{name}"))).await;
        let u = p.user(&ada.cred);
        let made = format!("made at {point}");
        let spec =
            json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "echo", "name": made});
        let create = tokio::spawn(async move { u.post("/api/engines", spec).await });
        p.wait_stderr(&format!("saving {name} stopped at")).await;
        let err = p.kill().await;
        create.abort();
        let now = std::fs::read(&file).unwrap();
        if lands {
            expected.push(made);
            assert_eq!(
                names_in_file(&now),
                expected,
                "{point}: the new version is whole"
            );
            assert_eq!(temp_files(), 0, "{point}: the temp file became the file");
        } else {
            assert!(
                now == before,
                "{point}: the previous version, byte for byte"
            );
            assert_eq!(
                temp_files(),
                1,
                "{point}: the half-made save is left beside it"
            );
        }
        assert!(!err.contains("corrupt"), "{err}");
        // Started again, Ada's workspace loads whole, and the leftover is cleared away.
        let next = start_binary(&dir, PORTS).await;
        assert_eq!(
            engine_names(&next.user(&ada.cred)).await,
            expected,
            "{point}: Ada's workspace after the restart"
        );
        assert_eq!(
            temp_files(),
            0,
            "{point}: the leftover temp file is removed at load"
        );
        let err = next.kill().await;
        assert!(!err.contains("corrupt"), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_server_comes_back_only_inside_the_block_its_workspace_has_now() {
    let dir = temp_dir("newports");
    let p = start_binary(&dir, "14000-14999").await;
    let code = p.user(TOKEN).class_code().await;
    let (ada, _) = User::join(&TestApp::at(&p.base), &code, "Ada").await;
    let e = ada.engine(tcp_spec("echo")).await;
    assert!(local_of(&e).port() < 14_100);
    p.kill().await;
    // The instructor narrows --ports: Ada's block is now 14100-14199.
    let p = start_binary(&dir, "14100-14999").await;
    let u = p.user(&ada.cred);
    let (_, me) = u.get("/api/workspace").await;
    assert_eq!(me["port_range"], json!([14_100, 14_199]));
    let (st, v) = u
        .post(
            &format!("/api/engines/{}/start", e["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let port = local_of(&v).port();
    assert!(
        (14_100..=14_199).contains(&port),
        "not its old port {port}: {v}"
    );
    p.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
}
