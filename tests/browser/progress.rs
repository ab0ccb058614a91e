//! Labs that check themselves, seen by the instructor: a lab handed out from the Class tab,
//! two students following it at different speeds (one in her browser, one with the API and
//! a terminal client), and the progress grid showing each one's steps live.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::*;

/// The states of a student's row in the grid, `done,current,todo`, once they are `want`.
fn grid_row(id: &str, want: &str) -> String {
    format!(
        "(() => {{ const r = document.querySelector('#progress-grid tr[data-ws-id=\"{id}\"]'); \
         const s = r && [...r.querySelectorAll('td[data-state]')].map(td => td.dataset.state).join(); \
         return s === {want:?} ? s : null; }})()"
    )
}

/// A student using the API with the credential joining gave.
struct Student {
    http: reqwest::Client,
    base: String,
    cred: String,
    id: String,
}

impl Student {
    async fn join(base: &str, code: &str, name: &str) -> Student {
        let http = reqwest::Client::new();
        let v: Value = http
            .post(format!("{base}/api/join"))
            .json(&json!({"code": code, "name": name}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Student {
            http,
            base: base.to_string(),
            cred: v["credential"].as_str().unwrap().to_string(),
            id: v["id"].as_str().unwrap().to_string(),
        }
    }

    async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.cred)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.cred)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits until the server has ticked `done` steps of the student's lab.
    async fn wait_done(&self, done: u64) {
        for _ in 0..500 {
            if self.get("/api/workspace").await["lab"]["done"] == done {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{} never had {done} steps done", self.id);
    }
}

/// The lecture's echo client from a terminal: connect, send, read the echo.
async fn terminal_client(addr: &str) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"Hello, world").await.unwrap();
    let mut got = [0u8; 12];
    s.read_exact(&mut got).await.unwrap();
}

#[tokio::test]
async fn the_instructor_sees_two_students_follow_a_handed_out_lab_live() {
    let _one_at_a_time = serial().await;
    let app = spawn_class((18_000, 18_999)).await;
    let driver = Driver::start().await;
    let teacher = driver.browser().await;
    teacher.viewport(1280, 720).await;
    teacher.goto(&app.base).await;
    let code = teacher
        .wait_js(
            "document.getElementById('class-code')?.textContent",
            "the class code",
        )
        .await
        .as_str()
        .unwrap()
        .to_string();

    // Ada follows in her browser, Bob with the API and a terminal.
    let ada = driver.browser().await;
    ada.viewport(1280, 720).await;
    ada.join(&app.base, &code, "Ada").await;
    let bob = Student::join(&app.base, &code, "Bob").await;
    let (_, rows) = app.get("/api/workspaces").await;
    let ada_id = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "Ada")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // The instructor hands the echo lab out to everyone, loaded, from the Class tab.
    teacher
        .wait_js(
            "document.querySelector('#handout-lab option[value=echo]')",
            "the labs to hand out",
        )
        .await;
    teacher.select("#handout-lab", "echo").await;
    teacher.click("#handout button[type=submit]").await;
    let said = teacher
        .wait_js(
            "document.querySelector('.handout-result')?.textContent || null",
            "the hand-out's answer",
        )
        .await;
    assert!(
        said.as_str().unwrap().contains("given to 2, loaded"),
        "{said}"
    );
    teacher.click("button[data-view=grid]").await;
    teacher
        .wait_js(
            &grid_row(&ada_id, "current,todo,todo"),
            "Ada's row, on step 1",
        )
        .await;
    teacher
        .wait_js(
            &grid_row(&bob.id, "current,todo,todo"),
            "Bob's row, on step 1",
        )
        .await;

    // Ada's page shows the lab's steps (it was loaded for her), and she does the first.
    ada.wait_js(
        "document.querySelector('#lab-steps:not([hidden]) .step.current [data-step=\"0\"]')",
        "Ada's steps, the first current",
    )
    .await;
    ada.js("document.querySelector('#lab-steps [data-step=\"0\"]').click()")
        .await;
    ada.wait_js(
        "document.querySelector('#lab-steps .step.done .step-state.ok')?.textContent.includes('saw it happen')",
        "Ada's first step ticked",
    )
    .await;
    // The server has it; the instructor's grid shows it within 2 s.
    teacher
        .wait_js_for(
            &grid_row(&ada_id, "done,current,todo"),
            "Ada's first step in the grid",
            Duration::from_secs(2),
        )
        .await;

    // Ada, faster, runs the lecture's client from a terminal too; Bob does his first step.
    let (_, ada_engines) = app.get(&format!("/api/engines?workspace={ada_id}")).await;
    let server = ada_engines
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "tcp-server")
        .unwrap()["local"]
        .as_str()
        .unwrap()
        .to_string();
    terminal_client(&server).await;
    let bob_engines = bob.get("/api/engines").await;
    let bob_client = bob_engines
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "tcp-client")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    bob.post(
        &format!("/api/engines/{bob_client}/send"),
        json!({"data": "hello"}),
    )
    .await;
    bob.wait_done(1).await;
    teacher
        .wait_js_for(
            &grid_row(&bob.id, "done,current,todo"),
            "Bob's first step in the grid",
            Duration::from_secs(2),
        )
        .await;
    teacher
        .wait_js_for(
            &grid_row(&ada_id, "done,done,current"),
            "Ada's second step in the grid",
            Duration::from_secs(2),
        )
        .await;
    ada.wait_js(
        "document.querySelectorAll('#lab-steps .step.done').length === 2",
        "Ada's page ticks her terminal step",
    )
    .await;
    // The table says the same, and sorts the one further behind first.
    teacher.screenshot("progress-grid.png").await;
    teacher.viewport(1920, 1080).await;
    teacher.screenshot("progress-grid-1920.png").await;
    ada.screenshot("progress-steps-ada-1280.png").await;
    teacher.click("button[data-view=table]").await;
    let cell = teacher
        .wait_js(
            "[...document.querySelectorAll('#ws-table tbody tr')].find(tr => tr.querySelector('.c-name').textContent === 'Ada')?.querySelector('.c-lab')?.textContent",
            "Ada's lab cell",
        )
        .await;
    assert!(
        cell.as_str()
            .unwrap()
            .starts_with("Echo server and client · 2/3"),
        "{cell}"
    );
    teacher.click("button[data-sort=lab]").await;
    let order = teacher
        .wait_js(
            "(() => { const n = [...document.querySelectorAll('#ws-table tbody tr .c-name')].map(td => td.textContent); return n.indexOf('Bob') < n.indexOf('Ada') ? n.join() : null; })()",
            "Bob (1 of 3) before Ada (2 of 3)",
        )
        .await;
    assert!(order.as_str().unwrap().contains("Bob"));
    teacher.assert_no_page_errors().await;
    ada.assert_no_page_errors().await;
    app.stop().await;
}
