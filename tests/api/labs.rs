//! Labs: every built-in lab loads and its steps work as written (each one followed: its
//! send done, its command run, its expectation checked, and the step ticked by the server); saving, a restart, export and
//! import give a lab back identical; a malformed import names the field; a load that fails
//! leaves nothing.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use socketlab::Config;
use tokio::io::AsyncWriteExt;

use crate::helpers::*;

/// Runs a step's command in `dir` with its input; returns what it printed.
async fn run_step(cmd: &str, input: &str, dir: &std::path::Path) -> String {
    let mut child = tokio::process::Command::new("bash")
        .args(["-c", cmd])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(15), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{cmd}: still running after 15 s"))
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn every_built_in_lab_loads_and_its_steps_work_as_written() {
    let app = spawn_app().await;
    let (st, labs) = app.get("/api/labs").await;
    assert_eq!(st.as_u16(), 200);
    let builtins: Vec<Value> = labs
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["builtin"] == true)
        .cloned()
        .collect();
    let names: Vec<&str> = builtins.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "echo",
            "add",
            "udp-uppercase",
            "greeting",
            "udp-print",
            "chat",
            "file-transfer",
            "many-clients"
        ]
    );
    for lab in &builtins {
        let id = lab["id"].as_str().unwrap();
        // Each lab in a fresh workspace, as a class would start it.
        let app = spawn_app().await;
        let mut ws = app.ws("").await;
        let (st, loaded) = app.post(&format!("/api/labs/{id}/load"), json!({})).await;
        assert_eq!(st.as_u16(), 200, "{id}: {loaded}");
        let engines = loaded["engines"].as_array().unwrap();
        assert_eq!(
            engines.len(),
            lab["engines"].as_array().unwrap().len(),
            "{id}"
        );
        // Clients aim at the lab's own server: @0 resolved to its real address.
        for (e, spec) in engines.iter().zip(lab["engines"].as_array().unwrap()) {
            assert_eq!(e["state"], "running", "{id}: {e}");
            if spec["target"] == "@0" {
                assert_eq!(e["target"], engines[0]["local"], "{id}");
            }
        }
        let dir = temp_dir("lab");
        for (i, step) in loaded["steps"].as_array().unwrap().iter().enumerate() {
            let at = format!("{id} step {i} ({})", step["text"]);
            let run = step["run"].as_str();
            if let Some(r) = run {
                assert!(!r.contains('@'), "{at}: unresolved {r}");
            }
            if !step["send"].is_null() {
                let eid = step["engine"].as_str().unwrap();
                let (st, v) = app
                    .post(&format!("/api/engines/{eid}/send"), step["send"].clone())
                    .await;
                assert_eq!(st.as_u16(), 200, "{at}: {v}");
            }
            let output = match run {
                Some(cmd) => run_step(cmd, step["input"].as_str().unwrap_or(""), &dir).await,
                None => String::new(),
            };
            let expect = &step["expect"];
            assert!(
                !expect.is_null() || run.is_some(),
                "{at}: a step should say what happens"
            );
            if let Some(o) = expect["output"].as_str() {
                assert!(
                    output.contains(o),
                    "{at}: expected {o:?} in the output of {run:?}: {output}"
                );
            }
            if let Some(eid) = expect["engine"].as_str() {
                let kind = expect["kind"].as_str().unwrap_or("received").to_string();
                let text = expect["text"].as_str().map(str::to_string);
                app.wait_event(eid, &at, |e| {
                    e["kind"] == kind.as_str()
                        && text
                            .as_deref()
                            .is_none_or(|t| e["text"].as_str().is_some_and(|x| x.contains(t)))
                })
                .await;
            }
            // The server ticked the step, seen (not said), and no other step before it.
            let seen = ws
                .until(&format!("{at}: its step event"), |e| e["kind"] == "step")
                .await;
            let tick = seen.last().unwrap();
            assert_eq!(
                (
                    tick["lab"].as_str(),
                    tick["step"].as_u64(),
                    tick["how"].as_str()
                ),
                (Some(id), Some(i as u64), Some("seen")),
                "{at}: {tick}"
            );
        }
        let (_, me) = app.get("/api/workspace").await;
        let run = &me["lab"];
        assert_eq!(
            (run["id"].as_str(), run["done"].as_u64()),
            (Some(id), run["total"].as_u64()),
            "{run}"
        );
        assert!(run["current"].is_null(), "{run}");
        for s in run["steps"].as_array().unwrap() {
            assert_eq!(
                (s["done"].as_bool(), s["how"].as_str()),
                (Some(true), Some("seen")),
                "{id}: {s}"
            );
        }
        app.shutdown().await;
    }
}

#[tokio::test]
async fn a_saved_lab_survives_a_restart_and_loads_back_identical() {
    let dir = temp_dir("labs-persist");
    let config = || Config {
        data_dir: Some(dir.clone()),
        ..Config::default()
    };
    let app = spawn_app_with(config()).await;
    let s = app.engine(tcp_spec("uppercase")).await;
    app.engine(
        json!({"kind": "tcp-client", "target": local_of(&s).to_string(), "name": "shouter"}),
    )
    .await;
    let (st, v) = app.post("/api/labs", json!({"from_current": true})).await;
    assert!(assert_error(st, &v, 400, "invalid_spec").starts_with("field name"));
    let (st, saved) = app
        .post(
            "/api/labs",
            json!({"name": "Shouting", "description": "mine", "from_current": true}),
        )
        .await;
    assert_eq!(st.as_u16(), 201, "{saved}");
    assert_eq!(saved["engines"][1]["target"], "@0");
    let id = saved["id"].as_str().unwrap().to_string();
    let (_, exported) = app.get(&format!("/api/labs/{id}")).await;
    assert_eq!(exported, saved);
    app.shutdown().await;

    let app = spawn_app_with(config()).await;
    let (_, back) = app.get(&format!("/api/labs/{id}")).await;
    assert_eq!(back, saved, "the same lab after a restart");
    // Loaded: a new server on a new port, and the client aimed at it.
    for e in app.get("/api/engines").await.1.as_array().unwrap() {
        app.delete(&format!("/api/engines/{}", e["id"].as_str().unwrap()))
            .await;
    }
    let (st, loaded) = app.post(&format!("/api/labs/{id}/load"), json!({})).await;
    assert_eq!(st.as_u16(), 200, "{loaded}");
    assert_eq!(
        loaded["engines"][1]["target"],
        loaded["engines"][0]["local"]
    );
    assert_eq!(loaded["engines"][1]["name"], "shouter");
    // Exported and imported elsewhere: the same lab under a new id.
    let other = spawn_app().await;
    let (st, imported) = other.post("/api/labs", exported.clone()).await;
    assert_eq!(st.as_u16(), 201, "{imported}");
    let mut same = imported.clone();
    same["id"] = exported["id"].clone();
    assert_eq!(same, exported);
    // Changed and deleted; built-ins are neither.
    let mut changed = exported.clone();
    changed["name"] = json!("Shouting, louder");
    let r = app
        .http
        .put(format!("{}/api/labs/{id}", app.base))
        .json(&changed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        app.get(&format!("/api/labs/{id}")).await.1["name"],
        "Shouting, louder"
    );
    let r = app
        .http
        .put(format!("{}/api/labs/echo", app.base))
        .json(&changed)
        .send()
        .await
        .unwrap();
    // A built-in lab is everyone's and not the caller's to change: 403, saying so.
    assert_eq!(r.status().as_u16(), 403);
    let (st, v) = app.delete("/api/labs/echo").await;
    assert!(assert_error(st, &v, 403, "forbidden").contains("built in"));
    let (st, _) = app.delete(&format!("/api/labs/{id}")).await;
    assert_eq!(st.as_u16(), 204);
    let (st, v) = app.get(&format!("/api/labs/{id}")).await;
    assert_error(st, &v, 404, "not_found");
}

#[tokio::test]
async fn a_malformed_import_is_refused_naming_the_field() {
    let app = spawn_app().await;
    let server = json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo"});
    let cases = [
        (json!({"engines": [server]}), "field name"),
        (json!({"name": "x", "engines": []}), "field engines"),
        (
            json!({"name": "x", "engines": [server, {"kind": "tcp-client", "target": "@7"}]}),
            "field engines[1].target",
        ),
        (
            json!({"name": "x", "engines": [server, {"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo", "options": {"rules": [{"match": "regex", "pattern": "(", "reply": "x"}]}}]}),
            "field engines[1].options.rules[0].pattern",
        ),
        (
            json!({"name": "x", "engines": [server], "steps": [{"text": "go", "send": {"data": "x"}}]}),
            "field steps[0].engine",
        ),
        (
            json!({"name": "x", "engines": [server], "steps": [{"text": "go", "expect": {"engine": 0, "colour": 1}}]}),
            "field steps[0].expect.colour",
        ),
        (
            json!({"name": "x", "engines": [server], "files": [{"name": "../x", "text": ""}]}),
            "field files[0].name",
        ),
    ];
    for (body, field) in cases {
        let (st, v) = app.post("/api/labs", body.clone()).await;
        let msg = assert_error(st, &v, 400, "invalid_spec");
        assert!(msg.starts_with(field), "{body}: {msg}");
    }
    let (st, v) = app.post_raw("/api/labs", "{not json").await;
    assert!(assert_error(st, &v, 400, "invalid_spec").contains("JSON"));
    assert_eq!(
        app.get("/api/labs")
            .await
            .1
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["builtin"] != true)
            .count(),
        0
    );
}

#[tokio::test]
async fn a_load_that_fails_half_way_leaves_nothing_and_names_the_engine() {
    let app = spawn_app().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let lab = json!({"name": "clash", "engines": [
        {"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo"},
        {"kind": "tcp-client", "target": "@0"},
        {"kind": "tcp-server", "bind": format!("127.0.0.1:{port}"), "behavior": "echo"}
    ]});
    let (st, saved) = app.post("/api/labs", lab).await;
    assert_eq!(st.as_u16(), 201);
    let (st, v) = app
        .post(
            &format!("/api/labs/{}/load", saved["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert!(
        assert_error(st, &v, 409, "address_in_use").starts_with("engines[2]"),
        "{v}"
    );
    assert_eq!(app.get("/api/engines").await.1, json!([]));
    let (st, v) = app.post("/api/labs/nope/load", json!({})).await;
    assert_error(st, &v, 404, "not_found");
}
