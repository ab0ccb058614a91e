//! The lecture's exercises in the page: a file uploaded with its progress and sent whole,
//! the program behind an engine copied from its Code tab, a built-in lab loaded and its
//! steps followed, and a chat room's members talking with Enter alone.

use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::json;
use sha2::Digest;

use crate::harness::*;

fn sha(b: &[u8]) -> String {
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

#[tokio::test]
async fn an_upload_shows_its_progress_to_100_percent_and_the_sha256_on_both_sides() {
    let _one_at_a_time = serial().await;
    let app = spawn_app().await;
    let driver = Driver::start().await;
    let b = driver.browser().await;
    b.viewport(1280, 720).await;
    b.goto(&app.base).await;
    let dir = std::env::temp_dir().join(format!("socketlab-upload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("lecture.bin");
    let data: Vec<u8> = (0..6u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    std::fs::write(&path, &data).unwrap();
    // The picker is a hidden input inside its label; WebDriver types the path into it.
    b.js("document.getElementById('file-input').hidden = false")
        .await;
    let input = b.client.find(Locator::Css("#file-input")).await.unwrap();
    input.send_keys(path.to_str().unwrap()).await.unwrap();
    let bar = b
        .wait_js(
            "(p => p && p.value === 100 && p.parentElement.textContent.includes('SHA-256') && p.parentElement.textContent)(document.querySelector('.upload-progress progress'))",
            "the upload bar at 100% with the SHA-256",
        )
        .await;
    assert!(bar.as_str().unwrap().contains(&sha(&data)), "{bar}");
    b.wait_js(
        &format!("[...document.querySelectorAll('#files .f-sha')].some(e => e.textContent.includes('{}'))", sha(&data)),
        "the file listed with its SHA-256",
    )
    .await;
    let (_, files) = app.get("/api/files").await;
    let fid = files[0]["id"].as_str().unwrap().to_string();
    // A file server sends it to a saving client: both show it arrived whole.
    let server = app
        .post("/api/engines", json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "file", "options": {"file": fid}}))
        .await;
    let client = app
        .post(
            "/api/engines",
            json!({"kind": "tcp-client", "target": server["local"], "options": {"save": true}}),
        )
        .await;
    for e in [&server, &client] {
        let id = e["id"].as_str().unwrap();
        b.click(&format!("#engines li[data-engine-id=\"{id}\"]"))
            .await;
        b.wait_js(
            &format!(
                "[...document.querySelectorAll('.engine-detail[data-engine-id=\"{id}\"] .transfer-table tr.done')]\
                 .some(r => r.querySelector('progress').value === 100 && r.textContent.includes('{}'))",
                sha(&data)
            ),
            "the transfer at 100% with the SHA-256",
        )
        .await;
    }
    b.screenshot("file-transfer.png").await;
    b.assert_no_page_errors().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_code_tab_shows_the_program_and_its_copy_button_copies_it() {
    let _one_at_a_time = serial().await;
    let app = spawn_app().await;
    let e = app
        .post("/api/engines", json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo", "name": "Echo server"}))
        .await;
    let id = e["id"].as_str().unwrap().to_string();
    let port = e["local"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let driver = Driver::start().await;
    let b = driver.browser().await;
    b.viewport(1024, 768).await;
    b.goto(&format!("{}/#{id}", app.base)).await;
    b.click(".view-tabs [data-tab=code]").await;
    let text = b
        .wait_js(
            "(p => p && p.textContent.includes('socket.socket') && p.textContent)(document.querySelector('.code-box pre.code'))",
            "the Python program",
        )
        .await;
    assert!(
        text.as_str()
            .unwrap()
            .contains(&format!("HOST, PORT = \"127.0.0.1\", {port}"))
    );
    let run = b
        .js("document.querySelector('.code-run').textContent")
        .await;
    assert_eq!(run, json!(format!("Run it: python3 {id}_echo_server.py")));
    // What the button hands the clipboard, recorded on its way there.
    b.js("(() => { const c = navigator.clipboard; if (c) { const w = c.writeText.bind(c); c.writeText = (t) => { window.copied = t; return w(t); }; } return 1; })()").await;
    b.click(".code-box button.copy").await;
    let said = b
        .wait_js(
            "document.querySelector('.code-box .copied').textContent",
            "the copy's result",
        )
        .await;
    assert!(said.as_str().unwrap().starts_with("copied"), "{said}");
    let copied = b.js("window.copied ?? null").await;
    let (st, program) = {
        let r = app
            .http
            .get(format!("{}/api/engines/{id}/code?lang=python", app.base))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    assert_eq!(st, 200);
    assert_eq!(
        copied,
        json!(program),
        "the button copies the whole program"
    );
    // Other languages, each with how to run it.
    b.click(".code-tabs [data-lang=tcl]").await;
    b.wait_js(
        "document.querySelector('.code-box pre.code').textContent.includes('socket -server')",
        "the Tcl program",
    )
    .await;
    assert!(
        b.js("document.querySelector('.code-note').textContent")
            .await
            .as_str()
            .unwrap()
            .contains("tcl-udp")
    );
    b.screenshot("code-tab.png").await;
    b.assert_no_page_errors().await;
}

#[tokio::test]
async fn a_built_in_lab_loads_in_one_click_and_its_steps_run_from_the_page() {
    let _one_at_a_time = serial().await;
    let app = spawn_app().await;
    let driver = Driver::start().await;
    let b = driver.browser().await;
    b.viewport(1280, 720).await;
    b.goto(&app.base).await;
    b.wait_js(
        "document.querySelectorAll('#labs li.lab').length >= 8",
        "the built-in labs",
    )
    .await;
    b.click("#labs button[data-load=add]").await;
    b.wait_js(
        "!document.getElementById('lab-steps').hidden",
        "the lab's steps",
    )
    .await;
    let (_, engines) = app.get("/api/engines").await;
    let engines = engines.as_array().unwrap().clone();
    assert_eq!(engines.len(), 2);
    let client = engines.iter().find(|e| e["kind"] == "tcp-client").unwrap();
    assert_eq!(
        client["target"],
        engines.iter().find(|e| e["kind"] == "tcp-server").unwrap()["local"]
    );
    // The first step's "Do it" sends 50,40; the client's log shows the server's 90.
    // Clicked by script: the steps are drawn again as the lab's engines start, and a
    // WebDriver click holds the element it found.
    b.wait_js(
        "document.querySelector(\"#lab-steps button[data-step='0']\")",
        "the first step's button",
    )
    .await;
    b.js("document.querySelector(\"#lab-steps button[data-step='0']\").click()")
        .await;
    let cid = client["id"].as_str().unwrap();
    b.wait_js(
        &format!(
            "[...document.querySelectorAll('.engine-detail[data-engine-id=\"{cid}\"] .log-rows .row.k-received .c-data')].some(e => e.textContent === '90')"
        ),
        "the sum in the client's log",
    )
    .await;
    // The terminal step shows the command with the server's real address.
    let cmd = b
        .js("document.querySelector('#lab-steps .step-run').value")
        .await;
    let server_port = engines.iter().find(|e| e["kind"] == "tcp-server").unwrap()["local"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    assert!(cmd.as_str().unwrap().contains(&server_port), "{cmd}");
    b.screenshot("labs.png").await;
    b.assert_no_page_errors().await;
}

#[tokio::test]
async fn two_chat_members_talk_with_enter_alone() {
    let _one_at_a_time = serial().await;
    let app = spawn_app().await;
    let driver = Driver::start().await;
    let b = driver.browser().await;
    b.viewport(1280, 720).await;
    b.goto(&app.base).await;
    b.click("[data-preset=chat-server]").await;
    b.wait_js("[...document.querySelectorAll('#engines li')].some(l => l.textContent.includes('Chat room'))", "the room").await;
    b.click("[data-preset=chat-client]").await;
    b.wait_js(
        "document.querySelectorAll('#engines li').length === 2",
        "the first member",
    )
    .await;
    b.click("[data-preset=chat-client]").await;
    b.wait_js(
        "document.querySelectorAll('#engines li').length === 3",
        "the second member",
    )
    .await;
    let (_, engines) = app.get("/api/engines").await;
    let members: Vec<String> = engines
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "tcp-client")
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    // The second member is selected: type, press Enter, nothing else.
    b.wait_js(
        &format!(
            "document.querySelector('.engine-detail')?.dataset.engineId === '{}'",
            members[1]
        ),
        "the second member shown",
    )
    .await;
    let box_ = b
        .client
        .find(Locator::Css(".composer textarea[name=data]"))
        .await
        .unwrap();
    box_.send_keys("hi all").await.unwrap();
    box_.send_keys(&Key::Enter.to_string()).await.unwrap();
    // The first member hears it as a line.
    b.click(&format!("#engines li[data-engine-id=\"{}\"]", members[0]))
        .await;
    b.wait_js(
        &format!(
            "[...document.querySelectorAll('.engine-detail[data-engine-id=\"{}\"] .log-rows .row.k-received .c-data')].some(e => e.textContent.endsWith('hi all\\\\n') || e.textContent.endsWith('hi all⏎'))",
            members[0]
        ),
        "the first member hearing it",
    )
    .await;
    // And answers, with Enter alone again.
    let box_ = b
        .client
        .find(Locator::Css(".composer textarea[name=data]"))
        .await
        .unwrap();
    box_.send_keys("hello back").await.unwrap();
    box_.send_keys(&Key::Enter.to_string()).await.unwrap();
    let (_, evs) = app
        .get(&format!("/api/events?engine={}&since=0", members[1]))
        .await;
    let _ = evs;
    for _ in 0..100 {
        let (_, evs) = app
            .get(&format!("/api/events?engine={}&since=0", members[1]))
            .await;
        if evs["events"].as_array().unwrap().iter().any(|e| {
            e["kind"] == "received"
                && e["text"]
                    .as_str()
                    .is_some_and(|t| t.ends_with("hello back\n"))
        }) {
            b.assert_no_page_errors().await;
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the second member never heard the answer");
}
