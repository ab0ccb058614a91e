//! Inspecting traffic in the page: the loss slider making the scene's arrows stop short, the
//! pcap button's file read by tshark, and the layers of a selected recv().

use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn the_loss_slider_makes_lost_datagrams_stop_short_in_the_scene() {
    let _one_at_a_time = serial().await;
    let app = spawn_app().await;
    let server = app
        .post("/api/engines", json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "echo", "name": "UDP echo"}))
        .await;
    let client = app
        .post(
            "/api/engines",
            json!({"kind": "udp-client", "target": server["local"], "name": "UDP client"}),
        )
        .await;
    let sid = server["id"].as_str().unwrap();
    let cid = client["id"].as_str().unwrap();
    let driver = Driver::start().await;
    let b = driver.browser().await;
    b.viewport(1280, 720).await;
    b.goto(&format!("{}/#{sid}", app.base)).await;
    // All replies lost: the slider at 100%, as a user drags it.
    b.js("(d => { d.open = true; const r = d.querySelector('input[name=\"impair.loss\"]'); r.value = 100; r.dispatchEvent(new Event('input')); r.dispatchEvent(new Event('change')); return 1; })(document.querySelector('.engine-detail details.impair'))")
        .await;
    b.wait_js(
        "document.querySelector('.imp-status')?.textContent.includes('next datagram')",
        "the PATCH taken",
    )
    .await;
    let (_, v) = app.get(&format!("/api/engines/{sid}")).await;
    assert_eq!(v["options"]["impair"]["loss"], 1.0);
    for word in ["one", "two", "three"] {
        app.post(&format!("/api/engines/{cid}/send"), json!({"data": word}))
            .await;
    }
    let lost = b
        .wait_js(
            &format!("(n => n >= 3 && n)([...document.querySelectorAll('svg.scene g.arrow[data-type=lost][data-from-engine=\"{sid}\"]')].filter(g => g.querySelector('text.lost-x')).length)"),
            "three replies drawn stopping short",
        )
        .await;
    assert_eq!(lost, json!(3));
    // The requests themselves arrived: whole arrows from the client.
    let whole = b
        .js(&format!("document.querySelectorAll('svg.scene g.arrow[data-type=dgram][data-from-engine=\"{cid}\"]').length"))
        .await;
    assert_eq!(whole, json!(3));
    b.screenshot("lossy-udp.png").await;
    b.assert_no_page_errors().await;
}

#[tokio::test]
async fn the_pcap_button_gives_a_file_tshark_reads_and_a_recv_shows_its_layers() {
    let _one_at_a_time = serial().await;
    let app = spawn_app().await;
    let server = app
        .post("/api/engines", json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo", "name": "Echo server"}))
        .await;
    let client = app
        .post(
            "/api/engines",
            json!({"kind": "tcp-client", "target": server["local"], "name": "Echo client"}),
        )
        .await;
    let cid = client["id"].as_str().unwrap();
    app.post(
        &format!("/api/engines/{cid}/send"),
        json!({"data": "hello"}),
    )
    .await;
    let driver = Driver::start().await;
    let b = driver.browser().await;
    b.viewport(1280, 720).await;
    b.goto(&format!("{}/#{cid}", app.base)).await;
    b.wait_js(
        "document.querySelectorAll('svg.scene g.call.k-received').length >= 2",
        "both recv() calls drawn",
    )
    .await;
    // The button is a download link; fetched as the browser would, with the page's cookie.
    let link = b
        .js("(a => [a.getAttribute('download'), a.title])(document.querySelector('.engine-detail a.pcap'))")
        .await;
    assert_eq!(link[0], json!(format!("socketlab-{cid}.pcap")));
    assert!(
        link[1]
            .as_str()
            .unwrap()
            .contains("not captured on the wire")
    );
    let b64 = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(document.querySelector('.engine-detail a.pcap').href).then(r => r.arrayBuffer())
               .then(buf => { let s = ''; new Uint8Array(buf).forEach(x => s += String.fromCharCode(x)); done(btoa(s)); });",
            vec![],
        )
        .await
        .unwrap();
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.as_str().unwrap())
        .unwrap();
    let path = std::env::temp_dir().join(format!("socketlab-page-{}.pcap", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(&path)
        .args(["-T", "fields", "-e", "tcp.payload"])
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let payloads = String::from_utf8_lossy(&out.stdout);
    assert!(
        payloads.lines().any(|l| l == "68656c6c6f"),
        "hello in the file: {payloads}"
    );
    let _ = std::fs::remove_file(path);

    // The client's recv() of the echo, clicked in the scene: its packet by layer.
    b.js(&format!("(document.querySelector('svg.scene g.call.k-received[data-engine=\"{cid}\"] rect').dispatchEvent(new MouseEvent('click', {{bubbles: true}})), 1)"))
        .await;
    let shown = b
        .wait_js("(l => l && [l.dataset.proto, l.dataset.seqNumber, l.textContent])(document.querySelector('.scene-details .sd-layers'))", "the layers of the recv()")
        .await;
    let seq = b
        .js("Number(document.getElementById('stage').dataset.at)")
        .await;
    let (_, layers) = app.get(&format!("/api/events/{seq}/layers")).await;
    assert_eq!(shown[0], "tcp");
    assert_eq!(shown[1], json!(layers["transport"]["seq"].to_string()));
    let text = shown[2].as_str().unwrap();
    assert!(
        text.contains("IPv4 127.0.0.1 → 127.0.0.1") && text.contains("[ACK, PSH]"),
        "{text}"
    );
    b.screenshot("layers.png").await;
    b.assert_no_page_errors().await;
}

#[tokio::test]
async fn a_proxied_exchange_is_drawn_client_proxy_server_with_the_bytes_crossing_each_leg() {
    let _one_at_a_time = serial().await;
    let app = spawn_app().await;
    let server = app
        .post("/api/engines", json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "uppercase", "name": "Uppercase server"}))
        .await;
    let proxy = app
        .post("/api/engines", json!({"kind": "tcp-proxy", "bind": "127.0.0.1:0", "target": server["local"], "name": "Proxy"}))
        .await;
    let client = app
        .post(
            "/api/engines",
            json!({"kind": "tcp-client", "target": proxy["local"], "name": "Client"}),
        )
        .await;
    let (sid, pid, cid) = (
        server["id"].as_str().unwrap(),
        proxy["id"].as_str().unwrap(),
        client["id"].as_str().unwrap(),
    );
    app.post(
        &format!("/api/engines/{cid}/send"),
        json!({"data": "through socketlab\n"}),
    )
    .await;
    let driver = Driver::start().await;
    let b = driver.browser().await;
    b.viewport(1280, 720).await;
    b.goto(&format!("{}/#{pid}", app.base)).await;
    // The lanes left to right: the client, the proxy's listening socket, its socket for the
    // client, its own socket to the server, the server's listening socket and connection.
    b.wait_js(
        "[...document.querySelectorAll('svg.scene-head g.lane-head')].map(g => g.dataset.role).join() === 'client,listen,accepted,upstream,listen,accepted'",
        "six lanes in order",
    )
    .await;
    let hops = b
        .wait_js(
            "(h => h.length >= 4 && h)([...document.querySelectorAll('svg.scene g.arrow[data-type=data]')].map(g => `${g.dataset.fromEngine}>${g.dataset.toEngine}`))",
            "the request and the reply across both legs",
        )
        .await;
    let hops: Vec<String> = serde_json::from_value(hops).unwrap();
    for want in [
        format!("{cid}>{pid}"),
        format!("{pid}>{sid}"),
        format!("{sid}>{pid}"),
        format!("{pid}>{cid}"),
    ] {
        assert!(hops.contains(&want), "{want} in {hops:?}");
    }
    // The proxy's panel lists the pair with each leg's bytes.
    let pair = b
        .wait_js(
            "document.querySelector('.engine-detail .conns tbody tr')?.textContent",
            "the pair",
        )
        .await;
    assert!(pair.as_str().unwrap().contains("18 B → 18 B"), "{pair}");
    b.screenshot("proxy.png").await;
    b.assert_no_page_errors().await;
}
