//! Labs that check themselves: a wrong action ticks nothing, an output-only step is said
//! done and marked so, a run survives a restart, a lab handed out reaches every student
//! (and one who joins later) with its ports moved into each block, and the class's progress
//! comes out as CSV. (Every built-in lab followed step by step, each step ticked as seen, is
//! `labs::every_built_in_lab_loads_and_its_steps_work_as_written`.)

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use socketlab::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// Loads built-in `lab`; returns the load's answer.
async fn load(app: &TestApp, lab: &str) -> Value {
    let (st, v) = app.post(&format!("/api/labs/{lab}/load"), json!({})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v
}

/// The lecture's echo client: connect, send, read the echo, close.
async fn echo_client(addr: &str, msg: &[u8]) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(msg).await.unwrap();
    let mut got = vec![0u8; msg.len()];
    s.read_exact(&mut got).await.unwrap();
    assert_eq!(got, msg);
}

#[tokio::test]
async fn a_wrong_action_ticks_nothing_and_the_right_one_ticks_its_step() {
    let app = spawn_app().await;
    let mut ws = app.ws("").await;
    let loaded = load(&app, "echo").await;
    let client = loaded["engines"][1]["id"].as_str().unwrap().to_string();
    let server = loaded["engines"][0]["local"].as_str().unwrap().to_string();
    // Step 0 wants the client to get "hello" back; "goodbye" comes back instead, and a
    // terminal client says what step 1 wants but before step 0 is done.
    let (st, v) = app.send(&client, json!({"data": "goodbye"})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    echo_client(&server, b"Hello, world").await;
    let seen = ws
        .until("the terminal client's close", |e| {
            e["kind"] == "closed" && e["engine"] == loaded["engines"][0]["id"]
        })
        .await;
    assert!(
        seen.iter().all(|e| e["kind"] != "step"),
        "nothing was to be ticked: {seen:#?}"
    );
    let (_, me) = app.get("/api/workspace").await;
    assert_eq!(
        (me["lab"]["done"].as_u64(), me["lab"]["current"].as_u64()),
        (Some(0), Some(0)),
        "{me}"
    );
    // Now as the step says.
    app.send(&client, json!({"data": "hello"})).await;
    let tick = ws.until("step 0", |e| e["kind"] == "step").await;
    let tick = tick.last().unwrap();
    assert_eq!(
        (
            tick["step"].as_u64(),
            tick["how"].as_str(),
            tick["engine"].as_str()
        ),
        (Some(0), Some("seen"), Some(client.as_str()))
    );
    let (_, me) = app.get("/api/workspace").await;
    let run = &me["lab"];
    assert_eq!(
        (
            run["id"].as_str(),
            run["done"].as_u64(),
            run["total"].as_u64(),
            run["current"].as_u64()
        ),
        (Some("echo"), Some(1), Some(3), Some(1)),
        "{run}"
    );
    assert_eq!(run["steps"][0]["how"], "seen");
    assert!(run["steps"][0]["at"].is_string());
    // The page's view of the run carries each step's text and action, each member once.
    let raw = app
        .http
        .get(format!("{}/api/labs/run", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(raw.matches("\"checked\"").count(), 3, "{raw}");
    let (_, full) = app.get("/api/labs/run").await;
    assert!(
        full["steps"][1]["run"]
            .as_str()
            .unwrap()
            .contains("python3"),
        "{full}"
    );
    assert_eq!(full["steps"][1]["checked"], true);
    app.shutdown().await;
}

#[tokio::test]
async fn an_output_only_step_is_said_done_and_marked_self_reported() {
    let app = spawn_app().await;
    let lab = json!({"name": "Said", "engines": [
        {"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo"}],
        "steps": [
            {"text": "Run it and look", "run": "nc -N @0.host @0.port", "expect": {"output": "hi"}},
            {"text": "Send hi", "expect": {"engine": 0, "text": "hi"}}]});
    let (st, saved) = app.post("/api/labs", lab).await;
    assert_eq!(st, StatusCode::CREATED, "{saved}");
    let mut ws = app.ws("").await;
    let id = saved["id"].as_str().unwrap();
    let loaded = load(&app, id).await;
    assert_eq!(
        (
            loaded["steps"][0]["checked"].as_bool(),
            loaded["steps"][1]["checked"].as_bool()
        ),
        (Some(false), Some(true))
    );
    // A step the server checks is not ticked by hand; a step number that is not there is
    // named as such.
    let (st, v) = app.post("/api/labs/run/steps/1/done", json!({})).await;
    assert_error(st, &v, 400, "invalid_spec");
    let (st, v) = app.post("/api/labs/run/steps/7/done", json!({})).await;
    assert_error(st, &v, 404, "not_found");
    let (st, v) = app.post("/api/labs/run/steps/x/done", json!({})).await;
    assert_error(st, &v, 400, "invalid_spec");
    // A click on a page still showing another lab ticks nothing.
    let (st, v) = app
        .post("/api/labs/run/steps/0/done?lab=echo", json!({}))
        .await;
    assert_error(st, &v, 404, "not_found");
    let (st, v) = app
        .post(&format!("/api/labs/run/steps/0/done?lab={id}"), json!({}))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        (v["steps"][0]["how"].as_str(), v["current"].as_u64()),
        (Some("self"), Some(1))
    );
    let tick = ws.until("the step event", |e| e["kind"] == "step").await;
    assert_eq!(tick.last().unwrap()["how"], "self");
    // Saying it twice changes nothing.
    let (_, again) = app.post("/api/labs/run/steps/0/done", json!({})).await;
    assert_eq!(again["steps"][0]["at"], v["steps"][0]["at"]);
    // Loading another lab ends the run, kept among the earlier ones.
    load(&app, "echo").await;
    let (_, runs) = app.get("/api/labs/runs").await;
    assert_eq!(runs["current"]["id"], "echo");
    assert_eq!(runs["runs"][0]["id"].as_str(), Some(id));
    assert_eq!(runs["runs"][0]["done"], 1);
    assert!(runs["runs"][0]["ended"].is_string());
    app.shutdown().await;
}

#[tokio::test]
async fn a_run_survives_a_restart_and_goes_on_being_checked() {
    let dir = temp_dir("run-restart");
    let config = Config {
        data_dir: Some(dir.clone()),
        ..Config::default()
    };
    let (app, _) = spawn_app_ready(config.clone()).await;
    let mut ws = app.ws("").await;
    let loaded = load(&app, "echo").await;
    let client = loaded["engines"][1]["id"].as_str().unwrap();
    app.send(client, json!({"data": "hello"})).await;
    ws.until("step 0", |e| e["kind"] == "step").await;
    let (_, before) = app.get("/api/workspace").await;
    drop(ws);
    app.shutdown().await;

    let (app, _) = spawn_app_ready(config).await;
    let (_, after) = app.get("/api/workspace").await;
    assert_eq!(after["lab"]["steps"], before["lab"]["steps"], "{after}");
    assert_eq!(after["lab"]["started"], before["lab"]["started"]);
    // Its engines come back stopped; started again, the next step is checked as before.
    let server = loaded["engines"][0]["id"].as_str().unwrap();
    let (st, v) = app
        .post(&format!("/api/engines/{server}/start"), json!({}))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let mut ws = app.ws("").await;
    echo_client(v["local"].as_str().unwrap(), b"Hello, world").await;
    let tick = ws.until("step 1", |e| e["kind"] == "step").await;
    assert_eq!(tick.last().unwrap()["step"], 1);
    app.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_lab_handed_out_reaches_thirty_students_and_a_late_joiner_in_their_own_ports() {
    let (app, teacher) = spawn_class((16_000, 16_999), |c| {
        if let Some(class) = c.class.as_mut() {
            class.ports_per_workspace = 25;
        }
    })
    .await;
    let code = teacher.class_code().await;
    let mut students = Vec::new();
    for i in 0..30 {
        students.push(User::join(&app, &code, &format!("Student {i:02}")).await);
    }
    // The instructor's lab binds a fixed port no student may use.
    let lab = json!({"name": "Fixed echo", "engines": [
        {"kind": "tcp-server", "bind": "127.0.0.1:34567", "behavior": "echo"},
        {"kind": "tcp-client", "target": "@0"}],
        "steps": [{"text": "send hi", "engine": 1, "send": {"data": "hi"}, "expect": {"engine": 1, "text": "hi"}}]});
    let (st, saved) = teacher.post("/api/labs", lab).await;
    assert_eq!(st, StatusCode::CREATED, "{saved}");
    // A student's own lab of the same name is never taken for the hand-out's copy.
    let own = json!({"name": "Fixed echo", "engines": [{"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "echo"}],
        "steps": [{"text": "my own notes"}]});
    let (st, own) = students[1].0.post("/api/labs", own).await;
    assert_eq!(st, StatusCode::CREATED, "{own}");
    // Students cannot hand labs out; an unknown lab or student gives nothing to anyone.
    let (st, v) = students[0]
        .0
        .post("/api/class/labs", json!({"lab": saved["id"], "to": "all"}))
        .await;
    assert_eq!(st.as_u16(), 403, "{v}");
    let (st, v) = teacher
        .post("/api/class/labs", json!({"lab": "nope", "to": "all"}))
        .await;
    assert_error(st, &v, 404, "not_found");
    let (st, v) = teacher
        .post(
            "/api/class/labs",
            json!({"lab": saved["id"], "to": ["wnothere"]}),
        )
        .await;
    assert_error(st, &v, 404, "not_found");
    assert_eq!(v["error"]["field"], "to");
    let (st, v) = teacher
        .post(
            "/api/class/labs",
            json!({"lab": saved["id"], "to": "everyone"}),
        )
        .await;
    assert_error(st, &v, 400, "invalid_spec");

    let (st, out) = teacher
        .post(
            "/api/class/labs",
            json!({"lab": saved["id"], "to": "all", "load": true}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{out}");
    assert_eq!(
        (
            out["given"].as_u64(),
            out["failed"].as_u64(),
            out["ports_rewritten"].as_u64()
        ),
        (Some(30), Some(0), Some(30)),
        "{out}"
    );
    assert_eq!(out["late_joiners"], true);
    for g in out["workspaces"].as_array().unwrap() {
        assert_eq!(g["loaded"], true, "{g}");
        assert_eq!(
            g["rewritten"],
            json!([{"field": "engines[0].bind", "from": 34567, "to": 0}]),
            "{g}"
        );
    }
    // Each student has it loaded, its server inside the student's own block, and a run.
    let check = |u: User, me: Value| async move {
        let (lo, hi) = (
            me["port_range"][0].as_u64().unwrap(),
            me["port_range"][1].as_u64().unwrap(),
        );
        let (_, list) = u.get("/api/engines").await;
        let server = list
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "tcp-server")
            .unwrap_or_else(|| panic!("no server: {list}"))
            .clone();
        let port = u64::from(local_of(&server).port());
        assert!((lo..=hi).contains(&port), "{port} outside {lo}-{hi}");
        let (_, w) = u.get("/api/workspace").await;
        assert_eq!(
            (w["lab"]["name"].as_str(), w["lab"]["total"].as_u64()),
            (Some("Fixed echo"), Some(1)),
            "{w}"
        );
        let (_, labs) = u.get("/api/labs").await;
        assert!(
            labs.as_array()
                .unwrap()
                .iter()
                .any(|l| l["name"] == "Fixed echo")
        );
    };
    for (u, _) in &students {
        let (_, me) = u.get("/api/workspace").await;
        check(u.clone(), me).await;
    }
    let (_, kept) = students[1]
        .0
        .get(&format!("/api/labs/{}", own["id"].as_str().unwrap()))
        .await;
    assert_eq!(kept["steps"][0]["text"], "my own notes", "{kept}");
    // Handed out again, loaded: the copy is replaced, and so are the engines the first
    // hand-out loaded; the ids given twice count once.
    let s2 = students[2].1["id"].as_str().unwrap().to_string();
    let (st, again) = teacher
        .post(
            "/api/class/labs",
            json!({"lab": saved["id"], "to": [s2, s2], "load": true}),
        )
        .await;
    assert_eq!(
        (st, again["given"].as_u64(), again["loaded"].as_u64()),
        (StatusCode::OK, Some(1), Some(1)),
        "{again}"
    );
    let (_, list) = students[2].0.get("/api/engines").await;
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let (_, labs) = students[2].0.get("/api/labs").await;
    assert_eq!(
        labs.as_array()
            .unwrap()
            .iter()
            .filter(|l| l["name"] == "Fixed echo")
            .count(),
        1
    );
    // One who joins later gets it too, loaded, in a block of its own.
    let (late, _) = User::join(&app, &code, "Late Lucy").await;
    let (_, me) = late.get("/api/workspace").await;
    check(late.clone(), me).await;

    // Handed out to chosen students, without loading: only they get it, not loaded.
    let chosen = students[3].1["id"].as_str().unwrap().to_string();
    let (st, out) = teacher
        .post("/api/class/labs", json!({"lab": "add", "to": [chosen]}))
        .await;
    assert_eq!(st, StatusCode::OK, "{out}");
    assert_eq!(
        (out["given"].as_u64(), out["late_joiners"].as_bool()),
        (Some(1), Some(false))
    );
    assert_eq!(out["workspaces"][0]["loaded"], false);
    let (_, labs) = students[3].0.get("/api/labs").await;
    assert_eq!(
        labs.as_array()
            .unwrap()
            .iter()
            .filter(|l| l["name"] == "Add server")
            .count(),
        2,
        "the built-in and the copy"
    );
    let (_, labs) = students[4].0.get("/api/labs").await;
    assert_eq!(
        labs.as_array()
            .unwrap()
            .iter()
            .filter(|l| l["name"] == "Add server")
            .count(),
        1
    );

    // Student 0 does the step; the instructor's rows and the CSV say so.
    let (_, list) = students[0].0.get("/api/engines").await;
    let client = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "tcp-client")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    students[0]
        .0
        .post(
            &format!("/api/engines/{client}/send"),
            json!({"data": "hi"}),
        )
        .await;
    let s0 = students[0].1["id"].as_str().unwrap().to_string();
    let mut row = Value::Null;
    for _ in 0..250 {
        let (_, rows) = teacher.get("/api/workspaces").await;
        row = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == s0.as_str())
            .unwrap()
            .clone();
        if row["lab"]["done"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        (row["lab"]["done"].as_u64(), row["lab"]["total"].as_u64()),
        (Some(1), Some(1)),
        "{row}"
    );
    assert!(row["lab"]["since_last_step_secs"].as_u64().is_some());
    let r = teacher
        .http
        .get(format!("{}/api/class/progress.csv", teacher.base))
        .bearer_auth(&teacher.cred)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "workspace,name,lab,step,done,how,at,handed_out");
    // 31 students with one step each, and the instructor with no lab: one row each.
    assert_eq!(lines.len(), 1 + 31 + 1, "{csv}");
    let mine: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with(&format!("{s0},")))
        .collect();
    assert_eq!(mine.len(), 1);
    assert!(
        mine[0].contains(",Fixed echo,0,true,seen,20"),
        "{}",
        mine[0]
    );
    assert!(
        mine[0].ends_with(&format!(",{}", saved["id"].as_str().unwrap())),
        "{}",
        mine[0]
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("instructor,") && l.ends_with(",,,,,"))
    );
    let (st, v) = students[0].0.get("/api/class/progress.csv").await;
    assert_eq!(st.as_u16(), 403, "{v}");
    app.shutdown().await;
}

#[tokio::test]
async fn save_as_lab_keeps_the_sends_as_steps_that_expect_the_replies() {
    let app = spawn_app().await;
    // A fixed port, found free (the lab is saved with port 0 unless asked to keep it).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = app
        .engine(json!({"kind": "tcp-server", "bind": format!("127.0.0.1:{port}"), "behavior": "add", "name": "Adder"}))
        .await;
    let client = app
        .engine(json!({"kind": "tcp-client", "target": server["local"], "name": "Asker"}))
        .await;
    let cid = client["id"].as_str().unwrap();
    app.wait_engine(cid, "connected", |v| v["stats"]["connections_open"] == 1)
        .await;
    for q in ["50,40", "2,2"] {
        let (st, v) = app.send(cid, json!({"data": q})).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let answer = if q == "50,40" { "90" } else { "4" };
        app.wait_event(cid, answer, |e| {
            e["kind"] == "received" && e["text"].as_str().is_some_and(|t| t.contains(answer))
        })
        .await;
    }
    let (st, lab) = app
        .post(
            "/api/labs",
            json!({"name": "My adder", "from_current": true}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{lab}");
    assert_eq!(lab["engines"][0]["bind"], "127.0.0.1:0", "{lab}");
    assert_eq!(lab["engines"][1]["target"], "@0");
    assert_eq!(
        lab["steps"],
        json!([
            {"text": "Asker sends \"50,40\"", "engine": 1, "send": {"data": "50,40"}, "expect": {"engine": 1, "text": "90"}},
            {"text": "Asker sends \"2,2\"", "engine": 1, "send": {"data": "2,2"}, "expect": {"engine": 1, "text": "4"}}
        ])
    );
    let (_, kept) = app
        .post(
            "/api/labs",
            json!({"name": "Kept", "from_current": true, "keep_ports": true}),
        )
        .await;
    assert_eq!(kept["engines"][0]["bind"], format!("127.0.0.1:{port}"));

    // Loaded elsewhere and followed, its steps tick.
    let other = spawn_app().await;
    let mut body = lab.clone();
    body.as_object_mut().unwrap().remove("id");
    let (st, imported) = other.post("/api/labs", body).await;
    assert_eq!(st, StatusCode::CREATED, "{imported}");
    let mut ws = other.ws("").await;
    let loaded = load(&other, imported["id"].as_str().unwrap()).await;
    let asker = loaded["engines"][1]["id"].as_str().unwrap();
    other
        .wait_engine(asker, "connected", |v| v["stats"]["connections_open"] == 1)
        .await;
    for (i, step) in loaded["steps"].as_array().unwrap().iter().enumerate() {
        other.send(asker, step["send"].clone()).await;
        let tick = ws
            .until(&format!("step {i}"), |e| e["kind"] == "step")
            .await;
        assert_eq!(tick.last().unwrap()["step"], i);
    }
    app.shutdown().await;
    other.shutdown().await;
}
