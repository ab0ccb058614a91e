//! The page under a flood: a sample shown and said to be one, and every event fetched from the
//! history when asked for.

use std::time::Duration;

use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn under_a_flood_the_page_says_it_shows_a_sample_and_fetches_every_event_on_demand() {
    let _one_at_a_time = serial().await;
    let app = spawn_app().await;
    let e = app
        .post(
            "/api/engines",
            json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "echo"}),
        )
        .await;
    let id = e["id"].as_str().unwrap().to_string();
    let driver = Driver::start().await;
    let b = driver.browser().await;
    b.goto(&format!("{}/#{id}", app.base)).await;
    b.wait_js(
        &format!("document.querySelector('.engine-detail')?.dataset.engineId === '{id}'"),
        "the engine selected",
    )
    .await;
    // About 4,000 events a second (a recvfrom() and a sendto() per datagram) for a second
    // and a half: well over the page's 200 a second.
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let target = e["local"].as_str().unwrap().to_string();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    for i in 0..150u32 {
        tick.tick().await;
        for j in 0..20u32 {
            sock.send_to(format!("datagram {i}-{j}").as_bytes(), &target)
                .await
                .unwrap();
        }
        if i == 100 {
            let notice = b
                .wait_js(
                    "(s => s && !s.hidden && s.textContent)(document.querySelector('.engine-detail .sampling'))",
                    "the sampling notice during the flood",
                )
                .await;
            let text = notice.as_str().unwrap().to_string();
            assert!(
                text.ends_with("events/s, showing a sample; every event is kept"),
                "{text}"
            );
            b.screenshot("sampling.png").await;
        }
    }
    // Paused, the newest summary is expanded into every event it stood for, from the history.
    // The log draws only the rows in view, and the flood's last window may end in more plain
    // rows than fit (a busy machine lets stragglers through at the window's start), so each
    // look that finds no summary scrolls up half a view and looks again.
    b.click(".engine-detail .toolbar button[aria-pressed]")
        .await;
    let range = b
        .wait_js(
            "(() => { \
               const r = [...document.querySelectorAll('.engine-detail .log-rows .row.k-summary')].pop(); \
               if (r) return [Number(r.dataset.first), Number(r.dataset.seq)]; \
               const log = document.querySelector('.engine-detail .log'); \
               log.scrollTop = Math.max(0, log.scrollTop - log.clientHeight / 2); \
               return null; })()",
            "a summary row",
        )
        .await;
    let (first, last) = (range[0].as_u64().unwrap(), range[1].as_u64().unwrap());
    assert!(last > first, "{range}");
    b.js(&format!(
        "(document.querySelector('.engine-detail .row.k-summary[data-seq=\"{last}\"] button.expand').click(), 1)"
    ))
    .await;
    b.wait_js(
        &format!("!document.querySelector('.engine-detail .row.k-summary[data-seq=\"{last}\"]')"),
        "the summary replaced by its events",
    )
    .await;
    // Its events now stand where it stood, and the log draws only the rows in view: each
    // look that does not find the last one halves the part of the log it can be in (rows
    // are in seq order), so it is found in a few looks wherever the view was left.
    b.wait_js(
        &format!("(() => {{ \
           const log = document.querySelector('.engine-detail .log'); \
           const rows = [...document.querySelectorAll('.engine-detail .log-rows .row')]; \
           if (rows.some((r) => Number(r.dataset.seq) === {last} && (r.classList.contains('k-received') || r.classList.contains('k-sent')))) return true; \
           const seqs = rows.map((r) => Number(r.dataset.seq)).filter((n) => n > 0); \
           const w = window.__seek ??= {{ lo: 0, hi: log.scrollHeight }}; \
           if (seqs.length && Math.min(...seqs) > {last}) w.hi = log.scrollTop; \
           else if (seqs.length && Math.max(...seqs) < {last}) w.lo = log.scrollTop; \
           log.scrollTop = Math.floor((w.lo + w.hi) / 2); \
           return false; }})()"),
        "the summary's last event, fetched and drawn",
    )
    .await;
    // Its events are exactly the history's for that range and connection-less engine.
    let (_, h) = app
        .get(&format!(
            "/api/events?engine={id}&since={}&until={last}&limit=10000",
            first - 1
        ))
        .await;
    assert_eq!(
        h["events"].as_array().unwrap().last().unwrap()["seq"],
        json!(last)
    );
    b.assert_no_page_errors().await;
}
