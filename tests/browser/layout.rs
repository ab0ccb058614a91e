//! The page's layout at the three screen sizes a class meets: folding the panels gives the
//! scene the width (never the empty page the old grid made of it), a reload keeps the choice,
//! and a kept layout that makes no sense is ignored rather than obeyed.

use serde_json::json;

use crate::harness::*;

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
    let server = app
        .post(
            "/api/engines",
            json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo"}),
        )
        .await;
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
    let server = app
        .post(
            "/api/engines",
            json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo"}),
        )
        .await;
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
            share.as_f64().unwrap() >= if h >= 1000 { 0.85 } else { 0.8 },
            "{w}x{h}: the scene is {share} of the height"
        );
        b.screenshot(&format!("present-{w}x{h}.png")).await;
    }
    b.assert_no_page_errors().await;
}
