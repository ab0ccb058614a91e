//! The page's layout at the three screen sizes a class meets: folding the panels gives the
//! scene the width (never the empty page the old grid made of it), a reload keeps the choice,
//! and a kept layout that makes no sense is ignored rather than obeyed.

use serde_json::json;

use crate::harness::*;

/// An echo server on a free port.
async fn echo_server(app: &App) -> serde_json::Value {
    app.post(
        "/api/engines",
        json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo"}),
    )
    .await
}

/// The scene's width and height as shares of the window's.
const SCENE_SHARE: &str = "(r => [r.width / innerWidth, r.height / innerHeight])(document.getElementById('stage').getBoundingClientRect())";

async fn scene_share(b: &Browser) -> (f64, f64) {
    let v = b.js(SCENE_SHARE).await;
    (v[0].as_f64().unwrap(), v[1].as_f64().unwrap())
}

#[tokio::test]
async fn folding_the_panels_gives_the_scene_the_width_at_every_size() {
    let _one_at_a_time = serial().await;
    let app = spawn_app().await;
    let server = echo_server(&app).await;
    let id = server["id"].as_str().unwrap().to_string();
    let driver = Driver::start().await;
    let b = driver.browser().await;
    for (w, h) in [(1024, 768), (1280, 720), (1920, 1080)] {
        b.viewport(w, h).await;
        b.goto(&format!("{}/#{id}", app.base)).await;
        b.js("(localStorage.removeItem('socketlab-layout'), 1)")
            .await;
        b.goto(&format!("{}/#{id}", app.base)).await;
        let (open_w, _) = scene_share(&b).await;
        assert!(
            open_w > 0.4,
            "{w}x{h}: the scene beside the panels is {open_w:.2} of the width"
        );
        // Panels off: the scene takes the freed width, and the engine panel stays.
        b.click(".layout-bar .t-side").await;
        let (folded_w, _) = scene_share(&b).await;
        assert!(
            folded_w >= 0.55,
            "{w}x{h}: folded, the scene is {folded_w:.2} of the width"
        );
        assert!(folded_w > open_w, "{w}x{h}: folding gave the scene room");
        let detail = b
            .js("document.getElementById('detail').getBoundingClientRect().width / innerWidth")
            .await;
        assert!(
            detail.as_f64().unwrap() >= 0.55,
            "{w}x{h}: the engine panel is there too"
        );
        b.screenshot(&format!("layout-folded-{w}x{h}.png")).await;
        // A reload keeps the choice, and the page it keeps still has its scene.
        b.goto(&format!("{}/#{id}", app.base)).await;
        let (reloaded_w, _) = scene_share(&b).await;
        assert!(
            b.js("document.body.classList.contains('no-side')").await == json!(true),
            "{w}x{h}: the fold was kept"
        );
        assert!(
            reloaded_w >= 0.55,
            "{w}x{h}: after a reload the scene is {reloaded_w:.2}"
        );
        // Panels back: as at first.
        b.click(".layout-bar .t-side").await;
        let (back_w, _) = scene_share(&b).await;
        assert!(
            (back_w - open_w).abs() < 0.02,
            "{w}x{h}: unfolded again, {back_w:.2} vs {open_w:.2}"
        );
        assert!(
            b.js("document.querySelector('.side').getBoundingClientRect().width > 250")
                .await
                == json!(true),
            "{w}x{h}: the panels are back"
        );
    }
    // A kept layout of nonsense (another page's keys, wrong types) is ignored.
    b.js("(localStorage.setItem('socketlab-layout', JSON.stringify({side: 'no', detail: 0, folded: ['stage', 5], grid: '0px'})), 1)")
        .await;
    b.goto(&format!("{}/#{id}", app.base)).await;
    let (w, h) = scene_share(&b).await;
    assert!(
        w > 0.4 && h > 0.2,
        "a nonsense layout left the scene {w:.2} x {h:.2}"
    );
    assert_eq!(
        b.js("document.body.classList.contains('no-side') || document.body.classList.contains('no-detail')")
            .await,
        json!(false)
    );
    b.assert_no_page_errors().await;
}

/// The smallest and the call names' font sizes of the scene's texts, in px.
const SCENE_TYPE: &str = "(() => { const px = (e) => parseFloat(getComputedStyle(e).fontSize); \
    const all = [...document.querySelectorAll('svg.scene text, svg.scene tspan, svg.scene-head text, .scene-caption *')].filter((e) => e.textContent.trim()); \
    const calls = [...document.querySelectorAll('svg.scene text.call-name')]; \
    return [Math.min(...all.map(px)), Math.min(...calls.map(px)), all.length]; })()";

#[tokio::test]
async fn present_mode_is_sized_to_the_screen_and_says_whose_workspace_and_what_the_step_means() {
    let _one_at_a_time = serial().await;
    let app = spawn_app().await;
    let server = echo_server(&app).await;
    let client = app
        .post(
            "/api/engines",
            json!({"kind": "tcp-client", "target": server["local"], "behavior": "manual"}),
        )
        .await;
    let cid = client["id"].as_str().unwrap();
    let driver = Driver::start().await;
    let b = driver.browser().await;
    b.goto(&format!("{}/", app.base)).await;
    app.post(
        &format!("/api/engines/{cid}/send"),
        json!({"data": "hello"}),
    )
    .await;
    for (w, h, call_min) in [(1920, 1080, 28.0), (1024, 768, 20.0)] {
        b.viewport(w, h).await;
        b.goto(&format!("{}/?present", app.base)).await;
        b.wait_js(
            "document.body.classList.contains('present') && document.querySelectorAll('svg.scene g.arrow.t-data').length >= 2",
            "the echo drawn in present mode",
        )
        .await;
        // Stepped back one event: the caption says what it means.
        b.js("(document.getElementById('stage').querySelector('.s-back').click(), 1)")
            .await;
        let caption = b
            .wait_js(
                "(c => c && c.textContent.includes('workspace') && c.querySelector('.sc-what').textContent && c.textContent)(document.querySelector('.scene-caption'))",
                "the caption",
            )
            .await;
        assert!(
            caption.as_str().unwrap().contains("My workspace"),
            "{w}x{h}: {caption}"
        );
        let t = b.js(SCENE_TYPE).await;
        let (smallest, calls) = (t[0].as_f64().unwrap(), t[1].as_f64().unwrap());
        assert!(
            smallest >= 18.0,
            "{w}x{h}: the smallest text is {smallest} px"
        );
        assert!(calls >= call_min, "{w}x{h}: call names are {calls} px");
        let share = b
            .js("document.querySelector('.scene-box').getBoundingClientRect().height / innerHeight")
            .await;
        assert!(
            share.as_f64().unwrap() >= if h >= 1000 { 0.9 } else { 0.8 },
            "{w}x{h}: the scene is {share} of the height"
        );
        b.screenshot(&format!("present-{w}x{h}.png")).await;
    }
    b.assert_no_page_errors().await;
}

/// Whether the scene shows, in its visible part (the arrow's middle on screen), an arrow of
/// one of these engines.
fn exchange_in_view(ids: &[String]) -> String {
    let ids = serde_json::to_string(ids).unwrap();
    format!(
        "(() => {{ const ids = new Set({ids}); const box = document.querySelector('.scene-box').getBoundingClientRect(); \
         return [...document.querySelectorAll('svg.scene g.arrow')].some((g) => {{ \
           if (!ids.has(g.dataset.fromEngine) && !ids.has(g.dataset.toEngine)) return false; \
           const r = g.getBoundingClientRect(); \
           const cx = r.left + r.width / 2, cy = r.top + r.height / 2; \
           return r.width + r.height > 0 && cx >= box.left && cx <= box.right && cy >= box.top && cy <= box.bottom; }}); }})()"
    )
}

#[tokio::test]
async fn every_built_in_lab_loaded_in_turn_shows_its_own_exchange_in_view() {
    let _one_at_a_time = serial().await;
    let app = spawn_app().await;
    let (_, labs) = app.get("/api/labs").await;
    let ids: Vec<(String, String)> = labs
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["builtin"] == true)
        .map(|l| {
            (
                l["id"].as_str().unwrap().to_string(),
                l["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(ids.len() >= 8, "{ids:?}");
    let driver = Driver::start().await;
    let b = driver.browser().await;
    for (i, (lab, name)) in ids.iter().enumerate() {
        // The sizes in turn, a lab each; the page opened afresh at each size.
        let sizes = [(1024, 768), (1280, 720), (1920, 1080)];
        if i < sizes.len() || i % sizes.len() == 0 {
            let (w, h) = sizes[i % sizes.len()];
            b.viewport(w, h).await;
            b.goto(&format!("{}/", app.base)).await;
            // Each lab replaces the one before (the lecture's fixed ports are free again).
            b.js("(document.getElementById('lab-replace').checked = true, 1)")
                .await;
        }
        // Clicked by script: the list is redrawn as the page refreshes it.
        b.js(&format!(
            "(document.querySelector('.lab-status').textContent = '', document.querySelector('#labs li[data-lab-id=\"{lab}\"] button[data-load]').click(), 1)"
        ))
        .await;
        b.wait_js(
            &format!(
                "document.querySelector('.lab-status').textContent.startsWith({})",
                serde_json::to_string(&format!("loaded {name}:")).unwrap()
            ),
            &format!("lab {lab} loaded"),
        )
        .await;
        let (_, engines) = app.get("/api/engines").await;
        let mine: Vec<String> = engines
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect();
        // Its first "Do it", where it has one; the others start talking by themselves
        // (a greeting, a file sent on connect) or show their connect().
        if b.js("!!document.querySelector('#lab-steps button[data-step]')")
            .await
            == json!(true)
        {
            b.js("(document.querySelector('#lab-steps button[data-step]').click(), 1)")
                .await;
        }
        b.wait_js(
            &exchange_in_view(&mine),
            &format!("lab {lab}: its exchange in view"),
        )
        .await;
        // Stepped back one event, its details are docked under the scene: they never lie
        // over the scene's box, so no event drawn there is covered by them.
        b.js("(document.getElementById('stage').querySelector('.s-back').click(), 1)")
            .await;
        let apart = b
            .wait_js(
                "(() => { const d = document.querySelector('.scene-details'); if (!d || d.hidden) return null; \
                  const p = d.getBoundingClientRect(), box = document.querySelector('.scene-box').getBoundingClientRect(); \
                  return [p.top >= box.bottom - 1, p.height > 0]; })()",
                "the details of the event stepped to",
            )
            .await;
        assert_eq!(
            apart,
            json!([true, true]),
            "lab {lab}: the details lie over the scene"
        );
        b.js("(document.getElementById('stage').querySelector('.s-live').click(), 1)")
            .await;
        // Only this lab's engines are drawn.
        let engines_drawn = b
            .js("[...new Set([...document.querySelectorAll('svg.scene g.call')].map((g) => g.dataset.engine).filter(Boolean))]")
            .await;
        for e in engines_drawn.as_array().unwrap() {
            assert!(
                mine.contains(&e.as_str().unwrap().to_string()),
                "lab {lab}: {e} is another lab's"
            );
        }
    }
    b.screenshot("labs-in-turn.png").await;
    b.assert_no_page_errors().await;
}

#[tokio::test]
async fn the_many_clients_lab_in_fit_mode_shows_every_lane() {
    let _one_at_a_time = serial().await;
    let app = spawn_app().await;
    let loaded = app.post("/api/labs/many-clients/load", json!({})).await;
    let server = loaded["engines"][0]["local"].as_str().unwrap().to_string();
    // Ten more clients from outside socketlab, as the lab's terminal step has them.
    let mut outside = Vec::new();
    for i in 0..10u8 {
        let mut s = tokio::net::TcpStream::connect(&server).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut s, &[b'a' + i])
            .await
            .unwrap();
        outside.push(s);
    }
    let driver = Driver::start().await;
    let b = driver.browser().await;
    b.viewport(1280, 720).await;
    b.goto(&format!("{}/", app.base)).await;
    b.wait_js(
        "document.querySelectorAll('svg.scene-head .lane-head').length >= 26",
        "the lanes of the server, its connections and the clients",
    )
    .await;
    let lanes_at_100 = b
        .js("document.querySelector('.scene-box').scrollWidth > document.querySelector('.scene-box').clientWidth + 1")
        .await;
    assert_eq!(lanes_at_100, json!(true), "at 100% they do not fit");
    b.select("#stage .s-zoom", "fit").await;
    let fits = b
        .wait_js(
            "(b => b.scrollWidth <= b.clientWidth + 1 && [...document.querySelectorAll('svg.scene-head .lane-head')].every((g) => { const r = g.getBoundingClientRect(), x = b.getBoundingClientRect(); return r.left + r.width / 2 >= x.left && r.left + r.width / 2 <= x.right; }) && document.querySelectorAll('svg.scene-head .lane-head').length)(document.querySelector('.scene-box'))",
            "every lane in the width",
        )
        .await;
    assert!(fits.as_u64().unwrap() >= 26, "{fits}");
    // Their titles side by side, shortened where they would run into each other.
    b.js("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(1))))")
        .await;
    let head_overlaps = b
        .js("(() => { const ts = [...document.querySelectorAll('svg.scene-head text')].filter((t) => t.textContent.trim()).map((t) => [t.textContent, t.getBoundingClientRect()]); \
             const out = []; for (let i = 0; i < ts.length; i++) for (let j = i + 1; j < ts.length; j++) { const [a, p] = ts[i], [c, q] = ts[j]; \
             if (p.left < q.right - 1 && q.left < p.right - 1 && p.top < q.bottom - 1 && q.top < p.bottom - 1) out.push(`${a} | ${c}`); } return out; })()")
        .await;
    assert_eq!(head_overlaps, json!([]), "lane titles in Fit");
    b.screenshot("many-clients-fit.png").await;
    b.assert_no_page_errors().await;
    drop(outside);
}

/// Pairs of the scene's texts (in view) whose boxes overlap, as "a | b". The scene's own texts count where they are seen: inside the box, below the lane titles'
/// sticky head (which covers the rows scrolled under it).
const OVERLAPS: &str = "(() => { const box = document.querySelector('.scene-box').getBoundingClientRect(); \
    const head = document.querySelector('svg.scene-head').getBoundingClientRect(); \
    const seen = (r) => r.top >= head.bottom - 1 && r.bottom <= box.bottom + 1 && r.left >= box.left - 1 && r.right <= box.right + 1; \
    const ts = [...document.querySelectorAll('svg.scene-head text')].map((t) => [t.textContent, t.getBoundingClientRect()]) \
      .concat([...document.querySelectorAll('svg.scene text')].map((t) => [t.textContent, t.getBoundingClientRect()]).filter(([, r]) => seen(r))) \
      .filter(([t, r]) => t.trim() && r.width > 0); \
    const out = []; \
    for (let i = 0; i < ts.length; i++) for (let j = i + 1; j < ts.length; j++) { \
      const [a, p] = ts[i], [b, q] = ts[j]; \
      if (p.left < q.right - 1 && q.left < p.right - 1 && p.top < q.bottom - 1 && q.top < p.bottom - 1) out.push(`${a} | ${b}`); } \
    return out; })()";

#[tokio::test]
async fn no_two_texts_of_the_scene_overlap_at_any_size() {
    let _one_at_a_time = serial().await;
    let app = spawn_app().await;
    for lab in ["echo", "chat", "many-clients"] {
        let loaded = app.post(&format!("/api/labs/{lab}/load"), json!({})).await;
        let steps = loaded["steps"].as_array().unwrap().clone();
        for s in steps.iter().filter(|s| s.get("send").is_some()) {
            let id = s["engine"].as_str().unwrap();
            app.post(&format!("/api/engines/{id}/send"), s["send"].clone())
                .await;
        }
    }
    let driver = Driver::start().await;
    let b = driver.browser().await;
    for (w, h) in [(1024, 768), (1280, 720), (1920, 1080)] {
        b.viewport(w, h).await;
        b.goto(&format!("{}/", app.base)).await;
        b.wait_js(
            "document.querySelectorAll('svg.scene g.arrow.t-data').length >= 4",
            "the exchanges drawn",
        )
        .await;
        // Drawn, then untangled in the same frame: two frames later it has settled.
        b.js("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(1))))")
            .await;
        let overlaps = b.js(OVERLAPS).await;
        assert_eq!(overlaps, json!([]), "{w}x{h}");
        b.screenshot(&format!("scene-{w}x{h}.png")).await;
    }
    b.assert_no_page_errors().await;
}
