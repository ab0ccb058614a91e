//! The stage: the scene of every socket at real screen sizes, the echo exchange and a chat's
//! broadcast drawn between the right lanes, stepping through it with the log following,
//! present mode, and 1,000 events without a long task.

use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::{Value, json};

use crate::harness::*;

/// An echo server and an echo client connected to it; returns (server, client).
async fn echo_pair(app: &App) -> (Value, Value) {
    let server = app
        .post("/api/engines", json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo", "name": "Echo server"}))
        .await;
    let client = app
        .post("/api/engines", json!({"kind": "tcp-client", "target": server["local"], "behavior": "manual", "name": "Echo client"}))
        .await;
    (server, client)
}

/// The column of the lane whose head has this role and address (`data-addr`), or null.
fn lane(role: &str, addr: &str) -> String {
    format!(
        "(h => h ? Number(h.dataset.lane) : null)(document.querySelector('svg.scene-head g.lane-head[data-role={role}][data-addr=\"{addr}\"]'))"
    )
}

/// Whether an arrow of `type` goes from lane expression `from` to lane expression `to` with a
/// label holding `text`.
fn arrow(from: &str, to: &str, text: &str) -> String {
    format!(
        "[...document.querySelectorAll('svg.scene g.arrow[data-type=data]')].some(g => Number(g.dataset.fromLane) === {from} \
         && Number(g.dataset.toLane) === {to} && g.querySelector('text.label')?.textContent.includes({text:?}))"
    )
}

/// The scene box's height over the window's, and whether the page itself scrolls.
const ROOM: &str = "[document.querySelector('.scene-box').getBoundingClientRect().height / innerHeight, \
                    document.scrollingElement.scrollHeight > innerHeight]";

#[tokio::test]
async fn the_scene_gets_the_room_at_projector_sizes_and_draws_the_echo_between_the_right_sockets() {
    let _one_at_a_time = serial().await;
    let app = spawn_app().await;
    let (server, client) = echo_pair(&app).await;
    let cid = client["id"].as_str().unwrap();
    app.post(
        &format!("/api/engines/{cid}/send"),
        json!({"data": "hello"}),
    )
    .await;
    let driver = Driver::start().await;
    let b = driver.browser().await;
    let server_addr = server["local"].as_str().unwrap();
    let client_addr = client["local"].as_str().unwrap();
    for (w, h) in [(1024, 768), (1280, 720), (1920, 1080)] {
        b.viewport(w, h).await;
        b.goto(&format!("{}/#{cid}", app.base)).await;
        // The client's ephemeral-port lane and the server's accepted connection, beside its
        // listening socket.
        let client_lane = lane("client", client_addr);
        // An accepted socket's head shows the peer it talks to; its data-addr is the server's.
        let accepted = format!(
            "(h => h ? Number(h.dataset.lane) : null)([...document.querySelectorAll('svg.scene-head g.lane-head[data-role=accepted][data-addr=\"{server_addr}\"]')].find(g => g.textContent.includes('{client_addr}')))"
        );
        b.wait_js(
            &format!(
                "{client_lane} !== null && {accepted} !== null && {} !== null",
                lane("listen", server_addr)
            ),
            "the three lanes",
        )
        .await;
        b.wait_js(
            &arrow(&client_lane, &accepted, "hello"),
            "hello from the client's port to the server's new socket",
        )
        .await;
        b.wait_js(&arrow(&accepted, &client_lane, "hello"), "the echo back")
            .await;
        let room = b.js(ROOM).await;
        let share = room[0].as_f64().unwrap();
        assert!(
            share >= 0.4,
            "at {w}x{h} the scene has {share:.2} of the height"
        );
        assert_eq!(
            room[1],
            json!(false),
            "at {w}x{h} the page itself does not scroll"
        );
        if (w, h) == (1280, 720) {
            b.screenshot("scene.png").await;
        }
    }
    // The log reads like the lecture: socket(AF_INET, SOCK_STREAM), then bind().
    b.click(&format!(
        "#engines li[data-engine-id=\"{}\"]",
        server["id"].as_str().unwrap()
    ))
    .await;
    let order = b
        .wait_js(
            "(rows => rows.length >= 2 && rows.map(r => r.querySelector('.c-call').textContent + ' ' + r.querySelector('.c-note, .c-data').textContent))\
             ([...document.querySelectorAll('.engine-detail .log-rows .row')])",
            "the server's log",
        )
        .await;
    assert_eq!(order[0], json!("socket() AF_INET, SOCK_STREAM"));
    assert_eq!(order[1], json!("bind() "));
    b.assert_no_page_errors().await;
}

#[tokio::test]
async fn stepping_moves_the_same_event_in_the_scene_and_the_log_and_present_mode_fills_the_screen()
{
    let _one_at_a_time = serial().await;
    let app = spawn_app().await;
    let (_, client) = echo_pair(&app).await;
    let cid = client["id"].as_str().unwrap();
    for word in ["one", "two"] {
        app.post(&format!("/api/engines/{cid}/send"), json!({"data": word}))
            .await;
    }
    let driver = Driver::start().await;
    let b = driver.browser().await;
    b.viewport(1280, 720).await;
    b.goto(&format!("{}/#{cid}", app.base)).await;
    b.wait_js(&arrow("0", "2", "two"), "the last send drawn")
        .await;
    // Where the scene's cursor is, and which row the log marks.
    const AT: &str = "[Number(document.getElementById('stage').dataset.at), \
                      Number(document.querySelector('svg.scene g.call.current')?.dataset.seq), \
                      Number(document.querySelector('.engine-detail .log-rows .row.current')?.dataset.seq)]";
    b.click("#stage .s-back").await;
    let first = b
        .wait_js(
            &format!("(a => a[0] && a[0] === a[1] && a[1] === a[2] && a)({AT})"),
            "the scene and the log at one event",
        )
        .await;
    b.click("#stage .s-back").await;
    let second = b
        .wait_js(
            &format!(
                "(a => a[0] && a[0] !== {} && a[0] === a[1] && a[1] === a[2] && a)({AT})",
                first[0]
            ),
            "one event back in both",
        )
        .await;
    // The keyboard: → forward again, from the scene.
    let scene = b.client.find(Locator::Css(".scene-box")).await.unwrap();
    scene
        .send_keys(&char::from(Key::Right).to_string())
        .await
        .unwrap();
    b.wait_js(
        &format!(
            "(a => a[0] === {} && a[1] === a[0] && a[2] === a[0])({AT})",
            first[0]
        ),
        "→ back to the later event",
    )
    .await;
    scene
        .send_keys(&char::from(Key::Left).to_string())
        .await
        .unwrap();
    b.wait_js(
        &format!("(a => a[0] === {} && a[1] === a[0])({AT})", second[0]),
        "← to the earlier one",
    )
    .await;
    // Nothing after the cursor is drawn yet: stepping shows the exchange as it unfolded.
    let later = b
        .js("(at => [...document.querySelectorAll('svg.scene g.call')].filter(g => Number(g.dataset.row) > at).length)\
             (Number(document.querySelector('svg.scene g.call.current').dataset.row))")
        .await;
    assert_eq!(later, json!(0));
    // A log row clicked moves the scene there.
    let pick = b
        .js("document.querySelector('.engine-detail .log-rows .row[data-seq]').dataset.seq")
        .await;
    // (Clicked from script: the virtual log redraws its rows, so a found element may go stale.)
    b.js("(document.querySelector('.engine-detail .log-rows .row[data-seq]').click(), 1)")
        .await;
    b.wait_js(
        &format!("document.getElementById('stage').dataset.at === {pick:?}"),
        "the scene at the clicked row",
    )
    .await;
    // Live again, then play replays from the first event.
    b.click("#stage .s-live").await;
    b.click("#stage .s-play").await;
    b.wait_js(
        "document.getElementById('stage').dataset.playing === 'true'",
        "playing",
    )
    .await;
    b.click("#stage .s-play").await;
    b.wait_js(
        "document.getElementById('stage').dataset.playing === 'false'",
        "paused",
    )
    .await;

    // Present mode from its button: the scene alone, most of the height.
    b.click("#stage .s-present").await;
    let share = b
        // Present mode may also take the screen (fullscreen), which resizes the window a moment
        // later: the share is read once the layout has settled on it.
        .wait_js("document.body.classList.contains('present') && (r => r >= 0.8 && r)(document.querySelector('.scene-box').getBoundingClientRect().height / innerHeight)", "present mode, the scene most of the height")
        .await;
    assert!(share.as_f64().unwrap() >= 0.8, "present mode: {share}");
    b.click("#stage .s-present").await;
    b.wait_js(
        "!document.body.classList.contains('present')",
        "back from present mode",
    )
    .await;
    // And from the address, as the watch page opens it.
    b.goto(&format!("{}/?present", app.base)).await;
    let share = b
        .wait_js("document.body.classList.contains('present') && document.querySelector('svg.scene g.arrow') && (r => r >= 0.8 && r)(document.querySelector('.scene-box').getBoundingClientRect().height / innerHeight)", "present mode from ?present, the scene most of the height")
        .await;
    assert!(share.as_f64().unwrap() >= 0.8, "present mode: {share}");
    b.js("(document.getElementById('stage').querySelector('.s-back').click(), 1)")
        .await;
    b.screenshot("scene-present.png").await;
    b.assert_no_page_errors().await;
}

#[tokio::test]
async fn a_chat_with_three_members_draws_the_broadcast_to_the_other_two() {
    let _one_at_a_time = serial().await;
    let app = spawn_app().await;
    let room = app
        .post("/api/engines", json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "chat", "name": "Chat room"}))
        .await;
    let mut members = Vec::new();
    for name in ["Ada", "Bob", "Cy"] {
        let m = app
            .post("/api/engines", json!({"kind": "tcp-client", "target": room["local"], "behavior": "manual", "name": name}))
            .await;
        members.push(m);
    }
    let driver = Driver::start().await;
    let b = driver.browser().await;
    b.viewport(1280, 720).await;
    let ada = members[0]["id"].as_str().unwrap();
    b.goto(&format!("{}/#{ada}", app.base)).await;
    b.wait_js(
        "document.querySelectorAll('svg.scene-head g.lane-head').length === 7",
        "3 members, the room and its 3 connections",
    )
    .await;
    b.type_into(
        ".composer textarea[name=data]",
        &format!("hi all{}", char::from(Key::Enter)),
    )
    .await;
    let room_id = room["id"].as_str().unwrap();
    for other in &members[1..] {
        let lane_of = lane("client", other["local"].as_str().unwrap());
        b.wait_js(
            &format!(
                "[...document.querySelectorAll('svg.scene g.arrow[data-type=data][data-from-engine=\"{room_id}\"]')]\
                 .some(g => Number(g.dataset.toLane) === {lane_of} && g.textContent.includes('hi all'))"
            ),
            "the room's send() to another member",
        )
        .await;
    }
    b.wait_js(
        &format!("[...document.querySelectorAll('svg.scene g.arrow[data-type=data][data-from-engine=\"{ada}\"][data-to-engine=\"{room_id}\"]')].length === 1"),
        "Ada's line into the room",
    )
    .await;
    b.assert_no_page_errors().await;
}

#[tokio::test]
async fn a_thousand_events_keep_the_longest_task_under_100_ms() {
    let _one_at_a_time = serial().await;
    let app = spawn_app().await;
    let (_, client) = echo_pair(&app).await;
    let cid = client["id"].as_str().unwrap();
    let driver = Driver::start().await;
    let b = driver.browser().await;
    b.viewport(1280, 720).await;
    b.goto(&format!("{}/#{cid}", app.base)).await;
    b.js("(window.__tasks = [], new PerformanceObserver(l => l.getEntries().forEach(e => window.__tasks.push([Math.round(e.startTime), Math.round(e.duration)]))).observe({entryTypes: ['longtask']}), 1)").await;
    // 250 round trips, each four events (send, recv, send, recv): 160 a second, under the
    // live stream's 200, so every one of them reaches the scene.
    app.post(
        &format!("/api/engines/{cid}/send"),
        json!({"data": "ping", "repeat": 250, "interval_ms": 25}),
    )
    .await;
    let n = b
        .wait_js_for(
            "(n => n >= 1000 && n)(Number(document.querySelector('#stage .s-count').title.match(/of (\\d+)/)?.[1]))",
            "1,000 events in the scene",
            std::time::Duration::from_secs(30),
        )
        .await;
    let arrived = b.js("Math.round(performance.now())").await;
    let costs = b
        .js("[document.getElementById('stage').dataset.buildMs, document.querySelector('.scene-box').dataset.paintMs]")
        .await;
    eprintln!(
        "the last rebuild took {} ms, the last paint {} ms",
        costs[0], costs[1]
    );
    // Scrolling through it, stepping back and playing are no long tasks either.
    b.js("(document.querySelector('.scene-box').scrollTop = 0, 1)")
        .await;
    b.click("#stage .s-first").await;
    b.click("#stage .s-play").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let drawn = b
        .js("document.querySelectorAll('svg.scene g.call').length")
        .await;
    assert!(
        drawn.as_u64().unwrap() < 120,
        "only the rows in view are drawn: {drawn}"
    );
    let tasks = b.js("window.__tasks").await;
    let longest = tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t[1].as_f64().unwrap())
        .fold(0.0, f64::max);
    eprintln!(
        "{n} events: the page's longest task {longest} ms; long tasks [start, ms]: {tasks} (all arrived at {arrived})"
    );
    assert!(
        longest < 100.0,
        "the longest task took {longest} ms: {tasks}"
    );
    b.assert_no_page_errors().await;
}
