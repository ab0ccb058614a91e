//! Trust: credentials, watchers and saved work a class can rely on. Revoked links stop
//! streaming at once, a page elsewhere cannot sign a browser in or toss a cookie beside ours,
//! watchers read only what a watch link shows, students reach only the class's ports, names
//! are unique, files are private, and a stream follows a server restart.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

/// Waits for the stream's close frame (1 s at most); returns its code and reason.
async fn closed_within_a_second(ws: &mut Ws) -> (u16, String) {
    let end = Instant::now() + Duration::from_secs(1);
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.stream.next()).await {
            Ok(Some(Ok(Message::Close(Some(f))))) => return (f.code.into(), f.reason.to_string()),
            Ok(Some(Ok(_))) => continue,
            other => panic!("the stream was not closed with a reason within 1 s: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_revoked_watch_link_and_a_removed_workspace_end_their_streams_at_once() {
    let (app, teacher) = spawn_class((5_000, 5_499), |_| {}).await;
    let code = teacher.class_code().await;
    let (ada, ada_ws) = User::join(&app, &code, "Ada").await;
    let server = ada.engine(tcp_spec("echo")).await;
    let watcher = User::new(&app, &last_segment(&ada_ws["watch_url"]));
    let mut old = watcher.ws("").await;
    let mut own = ada.ws("").await;
    let (st, _) = ada.post("/api/workspace/watch", json!({})).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        closed_within_a_second(&mut old).await,
        (1008, "revoked".to_string())
    );
    // The owner's own stream goes on, and still sees the exchange the old link does not.
    let mut s = tokio::net::TcpStream::connect(local_of(&server))
        .await
        .unwrap();
    s.write_all(b"after the new link").await.unwrap();
    own.until("the echo", |e| {
        e["kind"] == "sent" && e["text"] == "after the new link"
    })
    .await;
    // Removing the workspace ends the owner's stream and the new link's, as revoked.
    let (_, me) = ada.get("/api/workspace").await;
    let mut fresh = User::new(&app, &last_segment(&me["watch_url"]))
        .ws("")
        .await;
    let (st, _) = teacher
        .delete(&format!(
            "/api/workspaces/{}",
            ada_ws["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    for ws in [&mut own, &mut fresh] {
        assert_eq!(
            closed_within_a_second(ws).await,
            (1008, "revoked".to_string())
        );
    }
}

#[tokio::test]
async fn a_page_elsewhere_sets_no_cookie_and_a_tossed_cookie_is_refused() {
    let (app, teacher) = spawn_class((5_500, 5_999), |_| {}).await;
    let code = teacher.class_code().await;
    let (_, ada_ws) = User::join(&app, &code, "Ada").await;
    let watch = last_segment(&ada_ws["watch_url"]);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Navigations started on another site: a page with one button, no cookie.
    for path in [format!("/watch/{watch}"), format!("/?token={CLASS_TOKEN}")] {
        let r = http
            .get(format!("{}{path}", app.base))
            .header("sec-fetch-site", "cross-site")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(set_cookies(&r).is_empty(), "{path}: {:?}", set_cookies(&r));
        let page = r.text().await.unwrap();
        assert!(page.contains("id=\"continue\""), "{path}: {page}");
        assert!(
            !page.contains("data-go"),
            "{path}: it must not move on by itself"
        );
        // The button, clicked here, is a same-origin navigation: then the cookie is set.
        let r = http
            .get(format!("{}{path}", app.base))
            .header("sec-fetch-site", "same-origin")
            .send()
            .await
            .unwrap();
        assert!(!set_cookies(&r).is_empty(), "{path}");
    }
    // Two cookies of one credential name (one tossed in with another path): neither serves.
    let r = http
        .get(format!("{}/api/workspace", app.base))
        .header(
            "cookie",
            format!("socketlab_token={CLASS_TOKEN}; socketlab_token=someone-elses"),
        )
        .send()
        .await
        .unwrap();
    let st = r.status();
    let v: Value = r.json().await.unwrap();
    assert_error(st, &v, 400, "invalid_credential");
}

#[tokio::test]
async fn watchers_read_engines_not_files_or_labs_and_a_watch_cookie_can_join() {
    let (app, teacher) = spawn_class((6_000, 6_499), |_| {}).await;
    let code = teacher.class_code().await;
    let (ada, ada_ws) = User::join(&app, &code, "Ada").await;
    let up = ada
        .http
        .post(format!("{}/api/files?name=notes.txt", app.base))
        .bearer_auth(&ada.cred)
        .body("mine")
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), StatusCode::CREATED);
    let watch = last_segment(&ada_ws["watch_url"]);
    let watcher = User::new(&app, &watch);
    assert_eq!(watcher.get("/api/engines").await.0, StatusCode::OK);
    for path in ["/api/files", "/api/files/f1", "/api/labs", "/api/labs/echo"] {
        let (st, v) = watcher.get(path).await;
        assert_error(st, &v, 403, "forbidden");
    }
    // The projector's browser holds the watch cookie; a student joins from it.
    let r = app
        .http
        .post(format!("{}/api/join", app.base))
        .header("cookie", format!("socketlab_watch={watch}"))
        .json(&json!({"code": code, "name": "Bob"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let cookies = set_cookies(&r);
    assert!(cookies[0].starts_with("socketlab_ws="), "{cookies:?}");
    assert!(cookies.iter().any(|c| c.starts_with("socketlab_watch=;")));
}

#[tokio::test]
async fn a_student_is_asked_before_a_watch_link_signs_them_out_and_a_page_opens_with_two_cookies() {
    let (app, teacher) = spawn_class((8_000, 8_499), |_| {}).await;
    let code = teacher.class_code().await;
    let (ada, _) = User::join(&app, &code, "Ada").await;
    let (_, bob_ws) = User::join(&app, &code, "Bob").await;
    let watch = last_segment(&bob_ws["watch_url"]);
    let get = |path: String, cookie: String| {
        let url = format!("{}{path}", app.base);
        async move {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap()
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
        }
    };
    let mine = format!("socketlab_ws={}", ada.cred);
    let r = get(format!("/watch/{watch}"), mine.clone()).await;
    assert!(set_cookies(&r).is_empty(), "{:?}", set_cookies(&r));
    let page = r.text().await.unwrap();
    assert!(
        page.contains("Ada") && page.contains("?switch=1") && page.contains("id=\"back\""),
        "{page}"
    );
    let r = get(format!("/watch/{watch}?switch=1"), mine).await;
    assert!(set_cookies(&r)[0].starts_with("socketlab_watch="));
    // A tossed cookie beside ours: the API refuses both, but the join page still opens.
    let two = format!("socketlab_ws={}; socketlab_ws=tossed", ada.cred);
    let r = get(format!("/join/{code}"), two.clone()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("<form"));
    assert_eq!(
        get("/api/engines".into(), two).await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn display_names_are_unique_and_a_free_one_is_suggested() {
    let (app, teacher) = spawn_class((6_500, 6_999), |_| {}).await;
    let code = teacher.class_code().await;
    User::join(&app, &code, "Ada").await;
    User::join(&app, &code, "Ada 2").await;
    for same in ["ada", " A da ", "ADA"] {
        let r = app
            .http
            .post(format!("{}/api/join", app.base))
            .json(&json!({"code": code, "name": same}))
            .send()
            .await
            .unwrap();
        let st = r.status();
        let v: Value = r.json().await.unwrap();
        assert_error(st, &v, 409, "name_taken");
        assert_eq!(v["error"]["field"], "name");
        assert_eq!(
            v["error"]["suggestion"],
            format!("{} 3", same.trim()),
            "{v}"
        );
    }
    // Look-alikes: full-width letters are the same name; invisible and direction-changing
    // characters are refused outright.
    let join = |name: &str| {
        let body = json!({"code": code, "name": name});
        let url = format!("{}/api/join", app.base);
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap();
            let st = r.status();
            (st, r.json::<Value>().await.unwrap())
        }
    };
    let (st, v) = join("ＡＤＡ").await;
    assert_error(st, &v, 409, "name_taken");
    for sly in ["ada\u{200b}", "r\u{202e}eva", "\u{2066}ada"] {
        let (st, v) = join(sly).await;
        assert_error(st, &v, 400, "invalid_spec");
    }
    // The instructor's one-person links keep to the same rule.
    let (st, v) = teacher
        .post("/api/workspaces", json!({"name": "ADA"}))
        .await;
    assert_error(st, &v, 409, "name_taken");
    let (_, list) = teacher.get("/api/workspaces").await;
    assert_eq!(list.as_array().unwrap().len(), 3);
}

/// A loopback-only HTTP service of the host's (not the class's): one page, then close.
async fn local_service() -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(b"HTTP/1.0 200 OK\r\n\r\nthe host's private page")
                .await;
        }
    });
    addr
}

#[tokio::test]
async fn in_class_mode_a_student_reaches_the_class_ports_and_nothing_else() {
    let service = local_service().await;
    let (app, teacher) = spawn_class((7_000, 7_499), |_| {}).await;
    let code = teacher.class_code().await;
    let (ada, _) = User::join(&app, &code, "Ada").await;
    let mine = ada.engine(tcp_spec("echo")).await;
    for spec in [
        json!({"kind": "tcp-client", "target": service.to_string()}),
        json!({"kind": "tcp-proxy", "bind": "127.0.0.1:0", "target": service.to_string()}),
        json!({"kind": "udp-client", "target": service.to_string()}),
        json!({"kind": "tcp-client", "target": app.addr.to_string()}),
    ] {
        let (st, v) = ada.post("/api/engines", spec.clone()).await;
        let msg = assert_error(st, &v, 403, "forbidden");
        assert!(
            msg.contains("7000-7499") && msg.contains("--allow-target"),
            "{spec}: {msg}"
        );
    }
    // A UDP send to the service is refused the same way; the class's own ports are fine.
    let u = ada.engine(udp_spec("echo")).await;
    let (st, v) = ada
        .post(
            &format!("/api/engines/{}/send", u["id"].as_str().unwrap()),
            json!({"data": "x", "to": service.to_string()}),
        )
        .await;
    assert_error(st, &v, 403, "forbidden");
    let c = ada
        .engine(json!({"kind": "tcp-client", "target": mine["local"].clone()}))
        .await;
    assert_eq!(c["state"], "running");
    // The instructor's engines are not held to the class's ports.
    let t = teacher
        .engine(json!({"kind": "tcp-client", "target": service.to_string()}))
        .await;
    assert_eq!(t["state"], "running");
}

#[tokio::test]
async fn x_forwarded_for_is_believed_only_from_a_trusted_proxy() {
    let (app, teacher) = spawn_class((7_500, 7_999), |c| {
        c.public_url = Some("http://127.0.0.1/".parse().unwrap());
        c.trusted_proxies = vec!["127.0.0.9/32".parse().unwrap()];
    })
    .await;
    let code = teacher.class_code().await;
    let _ = code;
    let guess = |client: reqwest::Client, forwarded: String| {
        let url = format!("{}/api/join", app.base);
        async move {
            client
                .post(url)
                .header("host", "127.0.0.1")
                .header("x-forwarded-for", forwarded)
                .json(&json!({"code": "wrong-code", "name": "Eve"}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // From an untrusted peer, the header is ignored: ten wrong codes from "ten addresses"
    // are ten from one, and the eleventh is refused.
    let untrusted = reqwest::Client::builder()
        .local_address("127.0.0.8".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    for i in 0..10 {
        let st = guess(untrusted.clone(), format!("198.51.100.{i}")).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
    }
    assert_eq!(
        guess(untrusted, "198.51.100.99".into()).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // From the trusted proxy, each forwarded address counts on its own.
    let proxy = reqwest::Client::builder()
        .local_address("127.0.0.9".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    for i in 0..15 {
        let st = guess(proxy.clone(), format!("198.51.100.{i}")).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "attempt {i}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn uploaded_and_received_files_are_private_in_private_directories() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for kept in [true, false] {
        let dir = temp_dir("modes");
        let data = kept.then(|| dir.clone());
        let app = spawn_app_with(socketlab::Config {
            data_dir: data,
            ..socketlab::Config::default()
        })
        .await;
        let r = app
            .http
            .post(format!("{}/api/files?name=up.txt", app.base))
            .body("uploaded")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let recv = app
            .engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "receive"}))
            .await;
        let mut s = tokio::net::TcpStream::connect(local_of(&recv))
            .await
            .unwrap();
        s.write_all(b"received").await.unwrap();
        drop(s);
        app.wait_event(recv["id"].as_str().unwrap(), "file kept", |e| {
            e["kind"] == "file"
        })
        .await;
        let (_, files) = app.get("/api/files").await;
        assert_eq!(files.as_array().unwrap().len(), 2);
        // Where they are: the data directory's, or this run's temporary one.
        let root = if kept {
            dir.join("personal/files/default")
        } else {
            let tmp = std::fs::read_dir(std::env::temp_dir())
                .unwrap()
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.join("default/f2").exists() && p.to_string_lossy().contains("-files"))
                .max_by_key(|p| std::fs::metadata(p).unwrap().modified().unwrap())
                .expect("this run's temporary files directory");
            tmp.join("default")
        };
        assert_eq!(mode(&root), 0o700, "{}", root.display());
        assert_eq!(mode(root.parent().unwrap()), 0o700);
        for f in ["f1", "f2"] {
            assert_eq!(mode(&root.join(f)), 0o600, "{f}");
            assert_eq!(mode(&root.join(format!("{f}.json"))), 0o600, "{f}.json");
        }
        app.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[tokio::test]
async fn a_stream_from_before_a_restart_is_told_and_gets_the_new_runs_events() {
    let dir = temp_dir("epoch");
    let config = socketlab::Config {
        data_dir: Some(dir.clone()),
        ..socketlab::Config::default()
    };
    let (app, _) = spawn_app_ready(config.clone()).await;
    let e = app.engine(udp_spec("echo")).await;
    let mut ws = app.ws("?since=0").await;
    ws.until("the engine's events", |v| v["kind"] == "bound")
        .await;
    let hello = ws.hello.clone().expect("the first frame is a hello");
    let old_epoch = hello["epoch"].as_str().unwrap().to_string();
    let (_, me) = app.get("/api/workspace").await;
    assert_eq!(me["capture"]["epoch"], old_epoch.as_str());
    let seen = me["capture"]["next_seq"].as_u64().unwrap() - 1;
    app.shutdown().await;
    // The server comes back on the same data: its numbering starts at 1 again.
    let (app, _) = spawn_app_ready(config).await;
    let (st, v) = app
        .post(
            &format!("/api/engines/{}/start", e["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // The page reconnects with what it had: the hello says restarted, and the new run's
    // events come, from the oldest kept, though their numbers are below what it saw.
    let mut again = app
        .ws(&format!("?since={}&epoch={old_epoch}", seen + 100))
        .await;
    let evs = again
        .until("the restarted engine's bind", |v| v["kind"] == "bound")
        .await;
    let hello = again.hello.clone().unwrap();
    assert_eq!(hello["restarted"], true, "{hello}");
    assert_ne!(hello["epoch"], old_epoch.as_str());
    assert_eq!(evs[0]["seq"], 1, "from the oldest kept event");
    // It has the keys every event has (Part 1's shape): the seq the stream goes on after
    // (below its first event's), the time, no engine (all are shown), no call.
    assert_eq!(hello["seq"], 0, "{hello}");
    assert!(
        hello["time"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{hello}"
    );
    assert!(
        hello["engine"].is_null() && hello["call"].is_null(),
        "{hello}"
    );
    // The same since with the right epoch is an ordinary reconnect: no restart said.
    let epoch = hello["epoch"].as_str().unwrap().to_string();
    let mut normal = app.ws(&format!("?since=1&epoch={epoch}")).await;
    normal.until("an event after 1", |v| v["seq"] == 2).await;
    assert_eq!(
        normal.hello.as_ref().unwrap()["seq"],
        1,
        "it goes on after since"
    );
    assert!(normal.hello.as_ref().unwrap().get("restarted").is_none());
    app.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
