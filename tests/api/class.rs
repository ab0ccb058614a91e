//! Class mode: joining, roles, the instructor's routes, watch links, rate limits, idle stop
//! and expiry. Each test has a port range of its own (tests run at once).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn students_join_with_the_code_and_get_a_workspace_and_a_cookie() {
    let (app, teacher) = spawn_class((20_000, 20_999), |_| {}).await;
    let code = teacher.class_code().await;
    // The code is forgiving about case and dashes, as typed off a projector.
    let sloppy = code.to_uppercase().replace('-', "");
    let r = app
        .http
        .post(format!("{}/api/join", app.base))
        .json(&json!({"code": sloppy, "name": "  Ada  "}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let cookies = set_cookies(&r);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["name"], "Ada");
    assert_eq!(v["role"], "student");
    assert_eq!(v["mode"], "class");
    assert_eq!(v["port_range"], json!([20_000, 20_099]));
    assert_eq!(v["limits"]["engines"], 16);
    assert_eq!(v["limits"]["connections"], 256);
    let secret = v["credential"].as_str().unwrap();
    assert!(secret.len() >= 48, "192 bits or more: {secret}");
    let ws_cookie = cookies
        .iter()
        .find(|c| c.starts_with("socketlab_ws="))
        .unwrap();
    assert!(ws_cookie.contains(&format!("socketlab_ws={secret};")));
    assert!(ws_cookie.contains("HttpOnly") && ws_cookie.contains("SameSite=Strict"));
    assert!(!ws_cookie.contains("Secure"), "plain http: no Secure");
    for other in ["socketlab_token=;", "socketlab_watch=;"] {
        assert!(
            cookies
                .iter()
                .any(|c| c.starts_with(other) && c.contains("Max-Age=0")),
            "joining clears {other}: {cookies:?}"
        );
    }
    // The cookie alone works, as it does in the page.
    let r = app
        .http
        .get(format!("{}/api/workspace", app.base))
        .header("cookie", format!("socketlab_ws={secret}"))
        .send()
        .await
        .unwrap();
    let me: Value = r.json().await.unwrap();
    assert_eq!(
        (me["role"].as_str(), me["id"].clone()),
        (Some("student"), v["id"].clone())
    );
    assert!(me["watch_url"].as_str().unwrap().contains("/watch/"));
    assert!(
        me.get("class").is_none(),
        "students are not shown the class code"
    );
    // The join page itself, and the dashboard for the student's cookie.
    let page = app
        .http
        .get(format!("{}/join/{code}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("Your name"));
    let dash = app
        .http
        .get(format!("{}/", app.base))
        .header("cookie", format!("socketlab_ws={secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(dash.status(), StatusCode::OK);
    let html = dash.text().await.unwrap();
    assert!(
        html.contains("your ports: 20000-20099"),
        "the port block next to Bind"
    );
    assert!(html.contains("data-role=\"student\""));
}

#[tokio::test]
async fn bad_names_and_codes_get_errors_that_say_what_to_do() {
    let (app, teacher) = spawn_class((21_000, 21_999), |_| {}).await;
    let code = teacher.class_code().await;
    let post = |body: Value| {
        let app = &app;
        async move {
            let r = app
                .http
                .post(format!("{}/api/join", app.base))
                .json(&body)
                .send()
                .await
                .unwrap();
            let st = r.status();
            (st, r.json::<Value>().await.unwrap())
        }
    };
    let (st, v) = post(json!({"code": code, "name": "   "})).await;
    assert!(assert_error(st, &v, 400, "invalid_spec").contains("name"));
    let (st, v) = post(json!({"code": code, "name": "x".repeat(61)})).await;
    assert_error(st, &v, 400, "invalid_spec");
    let (st, v) = post(json!({"code": code, "name": "a\u{7}b"})).await;
    assert_error(st, &v, 400, "invalid_spec");
    let (st, v) = post(json!({"code": code, "name": "Ada", "role": "instructor"})).await;
    assert!(assert_error(st, &v, 400, "invalid_spec").contains("role"));
    let (st, v) = post(json!({"code": "nope-nope", "name": "Eve"})).await;
    assert!(assert_error(st, &v, 403, "forbidden").contains("join code"));
    // A wrong code's page says so; a right one asks for a name.
    let r = app
        .http
        .get(format!("{}/join/nope-nope", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("not valid"));
}

/// A client bound to its own loopback address, so the server sees another client address.
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn wrong_codes_are_rate_limited_per_address_and_a_class_behind_one_address_is_not() {
    let (app, teacher) = spawn_class((22_000, 25_199), |_| {}).await;
    let code = teacher.class_code().await;
    let join = |client: reqwest::Client, code: String, name: String| {
        let url = format!("{}/api/join", app.base);
        async move {
            let r = client
                .post(url)
                .json(&json!({"code": code, "name": name}))
                .send()
                .await
                .unwrap();
            let st = r.status();
            let retry = r.headers().get("retry-after").cloned();
            (st, retry, r.json::<Value>().await.unwrap())
        }
    };
    // A whole class from one (NAT) address, all at once: never throttled.
    let nat = client_from("127.0.0.7");
    let joins = (0..30).map(|i| join(nat.clone(), code.clone(), format!("student {i}")));
    for (st, _, v) in futures_util::future::join_all(joins).await {
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }
    // A guesser from another address: ten wrong codes a minute, then 429 for everything,
    // the right code included (or it would stand out).
    let guesser = client_from("127.0.0.8");
    for i in 0..10 {
        let (st, _, v) = join(guesser.clone(), format!("gues-s{i:03}"), "Eve".into()).await;
        assert_error(st, &v, 403, "forbidden");
    }
    let (st, retry, v) = join(guesser.clone(), "gues-s999".into(), "Eve".into()).await;
    assert!(assert_error(st, &v, 429, "too_many_requests").contains("wait"));
    let secs: u64 = retry.unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&secs), "Retry-After {secs}");
    let (st, _, v) = join(guesser.clone(), code.clone(), "Eve".into()).await;
    assert_error(st, &v, 429, "too_many_requests");
    // The join page counts too, and says so in a page.
    let r = guesser
        .get(format!("{}/join/{code}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // The NAT address is unaffected by the guesser.
    let (st, _, v) = join(nat.clone(), code.clone(), "late student".into()).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (_, list) = teacher.get("/api/workspaces").await;
    assert_eq!(list.as_array().unwrap().len(), 1 + 31);
}

#[tokio::test]
async fn students_are_refused_on_instructor_routes_and_see_only_their_own() {
    let (app, teacher) = spawn_class((25_500, 25_999), |_| {}).await;
    let code = teacher.class_code().await;
    let (ada, ada_ws) = User::join(&app, &code, "Ada").await;
    let (bob, bob_ws) = User::join(&app, &code, "Bob").await;
    let bob_id = bob_ws["id"].as_str().unwrap();
    bob.engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo"}))
        .await;
    bob.engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo"}))
        .await;
    for (method, path) in [
        ("GET", "/api/workspaces".to_string()),
        ("POST", "/api/workspaces".to_string()),
        ("POST", format!("/api/workspaces/{bob_id}/reset")),
        ("DELETE", format!("/api/workspaces/{bob_id}")),
    ] {
        let (st, v) = match method {
            "GET" => ada.get(&path).await,
            "POST" => ada.post(&path, json!({"name": "x"})).await,
            _ => ada.delete(&path).await,
        };
        assert!(
            assert_error(st, &v, 403, "forbidden").contains("instructor"),
            "{method} {path}"
        );
    }
    // Another workspace's engine ids do not exist for Ada: 404, never 403.
    let (st, v) = ada.get("/api/engines/e2").await;
    assert_error(st, &v, 404, "not_found");
    let (st, v) = ada.post("/api/engines/e2/stop", json!({})).await;
    assert_error(st, &v, 404, "not_found");
    // Nor does the other workspace itself.
    let (st, v) = ada.get(&format!("/api/engines?workspace={bob_id}")).await;
    assert_error(st, &v, 404, "not_found");
    assert_eq!(ada.ws_status(&format!("?workspace={bob_id}")).await, 404);
    let (st, v) = ada.get("/api/workspace?workspace=instructor").await;
    assert_error(st, &v, 404, "not_found");
    // Her own id in the query is fine.
    let (st, _) = ada
        .get(&format!(
            "/api/engines?workspace={}",
            ada_ws["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(st, StatusCode::OK);
    // The instructor looks into Bob's workspace read-only.
    let (st, v) = teacher
        .get(&format!("/api/engines?workspace={bob_id}"))
        .await;
    assert_eq!((st, v.as_array().unwrap().len()), (StatusCode::OK, 2));
    let (_, v) = teacher
        .get(&format!("/api/workspace?workspace={bob_id}"))
        .await;
    assert_eq!(
        (v["role"].as_str(), v["read_only"].as_bool()),
        (Some("instructor"), Some(true))
    );
    assert!(v.get("watch_url").is_none() && v.get("class").is_none());
    let (st, v) = teacher
        .post(
            &format!("/api/engines/e1/stop?workspace={bob_id}"),
            json!({}),
        )
        .await;
    assert!(assert_error(st, &v, 403, "forbidden").contains("read-only"));
    let (st, v) = teacher.get("/api/workspace?workspace=w00000000").await;
    assert_error(st, &v, 404, "not_found");
    // Without a credential: 401, with the way in.
    let (st, v) = app.get("/api/engines").await;
    assert!(assert_error(st, &v, 401, "unauthorized").contains("join link"));
}

#[tokio::test]
async fn the_instructor_lists_makes_resets_and_removes_workspaces() {
    let (app, teacher) = spawn_class((26_000, 26_999), |_| {}).await;
    let code = teacher.class_code().await;
    let (_, me) = teacher.get("/api/workspace").await;
    assert_eq!(
        (me["role"].as_str(), me["id"].as_str()),
        (Some("instructor"), Some("instructor"))
    );
    assert_eq!(me["class"]["code"], code.as_str());
    assert!(
        me["class"]["join_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/join/{code}"))
    );
    assert_eq!(
        me["port_range"],
        Value::Null,
        "the instructor has no port block"
    );

    let (ada, ada_ws) = User::join(&app, &code, "Ada").await;
    let ada_id = ada_ws["id"].as_str().unwrap().to_string();
    let server = ada
        .engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo"}))
        .await;
    let mut s = tokio::net::TcpStream::connect(local_of(&server))
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut s, b"hello")
        .await
        .unwrap();
    read_until(&mut s, |b| b.len() >= 5).await;
    let _viewer = ada.ws("").await;

    // The list: live counters per workspace.
    let end = tokio::time::Instant::now() + Duration::from_secs(5);
    let row = loop {
        let (st, list) = teacher.get("/api/workspaces").await;
        assert_eq!(st, StatusCode::OK);
        let list = list.as_array().unwrap().clone();
        assert_eq!(list[0]["id"], "instructor", "the instructor's own first");
        let row = list
            .iter()
            .find(|w| w["id"] == ada_id.as_str())
            .unwrap()
            .clone();
        if row["viewers"] == 1 && row["connections"] == 1 {
            break row;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "counters never moved: {row}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(row["name"], "Ada");
    assert_eq!(
        (row["engines"].as_u64(), row["engines_running"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        (row["bytes_in"].as_u64(), row["bytes_out"].as_u64()),
        (Some(5), Some(5))
    );
    assert!(row["events_per_sec"].as_f64().is_some());
    assert!(row["last_active"].as_str().unwrap().ends_with('Z'));
    assert!(row["watch_url"].as_str().unwrap().contains("/watch/"));

    // A one-person link opens the workspace made for it.
    let (st, made) = teacher.post("/api/workspaces", json!({"name": "Cy"})).await;
    assert_eq!(st, StatusCode::CREATED, "{made}");
    let invite = last_segment(&made["join_url"]);
    assert_ne!(invite, code);
    let (cy, joined) = User::join(&app, &invite, "whatever").await;
    assert_eq!(
        (joined["id"].clone(), joined["name"].as_str()),
        (made["id"].clone(), Some("Cy"))
    );
    let (cy2, again) = User::join(&app, &invite, "").await;
    assert_eq!(
        again["id"], made["id"],
        "the link opens the same workspace again"
    );
    assert_ne!(cy.cred, cy2.cred, "each device its own session");
    assert_eq!(cy.get("/api/workspace").await.0, StatusCode::OK);
    let (st, v) = teacher.post("/api/workspaces", json!({"name": ""})).await;
    assert_error(st, &v, 400, "invalid_spec");

    // Reset: the engines are gone, their port free, the workspace stays.
    let (st, v) = teacher
        .post(&format!("/api/workspaces/{ada_id}/reset"), json!({}))
        .await;
    assert_eq!((st, v["engines"].as_u64()), (StatusCode::OK, Some(0)));
    assert_eq!(read_to_eof(&mut s).await, b"", "the connection was closed");
    std::net::TcpListener::bind(local_of(&server)).expect("the port is free after reset");
    assert_eq!(ada.get("/api/engines").await.1, json!([]));

    // Remove: the student's credential stops working at once, cookie or bearer.
    let (st, _) = teacher.delete(&format!("/api/workspaces/{ada_id}")).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, v) = ada.get("/api/engines").await;
    assert_error(st, &v, 401, "unauthorized");
    let r = app
        .http
        .get(format!("{}/api/engines", app.base))
        .header("cookie", format!("socketlab_ws={}", ada.cred))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no longer exists"),
        "{v}"
    );
    let (st, v) = teacher.delete(&format!("/api/workspaces/{ada_id}")).await;
    assert_error(st, &v, 404, "not_found");
    let (st, v) = teacher.delete("/api/workspaces/instructor").await;
    assert!(assert_error(st, &v, 400, "invalid_spec").contains("reset"));
}

#[tokio::test]
async fn watchers_only_look_and_a_new_watch_link_revokes_the_old() {
    let (app, teacher) = spawn_class((27_000, 27_999), |_| {}).await;
    let code = teacher.class_code().await;
    let (ada, ada_ws) = User::join(&app, &code, "Ada").await;
    let server = ada
        .engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo"}))
        .await;
    let watch_id = last_segment(&ada_ws["watch_url"]);
    let watcher = User::new(&app, &watch_id);
    let (_, me) = watcher.get("/api/workspace").await;
    assert_eq!(
        (me["role"].as_str(), me["read_only"].as_bool()),
        (Some("watcher"), Some(true))
    );
    assert_eq!(me["id"], ada_ws["id"]);
    assert!(me.get("watch_url").is_none());
    // Reads work, live too.
    assert_eq!(
        watcher
            .get("/api/engines")
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let mut live = watcher.ws("?since=0").await;
    let mut s = tokio::net::TcpStream::connect(local_of(&server))
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut s, b"watch me")
        .await
        .unwrap();
    live.until("the echo, seen by the watcher", |e| {
        e["kind"] == "sent" && e["text"] == "watch me"
    })
    .await;
    // Every state-changing route is refused.
    let id = server["id"].as_str().unwrap();
    let refused: Vec<(&str, String, Value)> = vec![
        ("POST", "/api/engines".into(), tcp_spec("echo")),
        ("POST", format!("/api/engines/{id}/stop"), json!({})),
        ("POST", format!("/api/engines/{id}/start"), json!({})),
        (
            "POST",
            format!("/api/engines/{id}/send"),
            json!({"data": "x", "conn": "*"}),
        ),
        ("DELETE", format!("/api/engines/{id}"), Value::Null),
        (
            "DELETE",
            format!("/api/engines/{id}/connections/c1"),
            Value::Null,
        ),
        ("POST", "/api/workspace/watch".into(), json!({})),
        ("POST", "/api/workspaces".into(), json!({"name": "x"})),
    ];
    for (method, path, body) in refused {
        let (st, v) = if method == "POST" {
            watcher.post(&path, body).await
        } else {
            watcher.delete(&path).await
        };
        assert_error(st, &v, 403, "forbidden");
        let _ = path;
    }
    assert_eq!(
        ada.get(&format!("/api/engines/{id}")).await.1["state"],
        "running"
    );
    // The watch page sets its cookie (clearing the others) and moves on to the dashboard.
    let r = app
        .http
        .get(format!("{}/watch/{watch_id}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookies = set_cookies(&r);
    assert!(
        cookies[0].starts_with(&format!("socketlab_watch={watch_id};")),
        "{cookies:?}"
    );
    assert!(
        r.text().await.unwrap().contains("data-go=\"/?present\""),
        "the watch link opens the scene in present mode"
    );
    let r = app
        .http
        .get(format!("{}/", app.base))
        .header("cookie", format!("socketlab_watch={watch_id}"))
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("data-readonly"));
    // The owner makes a new link: the old one stops at once, the new one works.
    let (st, v) = ada.post("/api/workspace/watch", json!({})).await;
    assert_eq!(st, StatusCode::OK);
    let fresh = last_segment(&v["watch_url"]);
    assert_ne!(fresh, watch_id);
    let (st, v) = watcher.get("/api/engines").await;
    assert_error(st, &v, 401, "unauthorized");
    let r = app
        .http
        .get(format!("{}/watch/{watch_id}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        User::new(&app, &fresh).get("/api/engines").await.0,
        StatusCode::OK
    );
    // The instructor's list shows the new link too.
    let (_, list) = teacher.get("/api/workspaces").await;
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == ada_ws["id"])
        .unwrap()
        .clone();
    assert_eq!(last_segment(&row["watch_url"]), fresh);
}

#[tokio::test]
async fn idle_workspaces_have_their_engines_stopped_then_expire() {
    let (app, teacher) = spawn_class((28_000, 28_999), |c| {
        let class = c.class.as_mut().unwrap();
        class.idle = Duration::from_millis(400);
        class.expire = Duration::from_millis(2_500);
    })
    .await;
    let code = teacher.class_code().await;
    let (ada, ada_ws) = User::join(&app, &code, "Ada").await;
    let ada_id = ada_ws["id"].as_str().unwrap().to_string();
    let server = ada
        .engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo"}))
        .await;
    let addr = local_of(&server);
    // Watched from the instructor's list only, which is not Ada's activity.
    let row = |list: &Value| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|w| w["id"] == ada_id.as_str())
            .cloned()
    };
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, list) = teacher.get("/api/workspaces").await;
        let r = row(&list).expect("still there before it expires");
        if r["engines_running"] == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "the idle workspace's engine kept running"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    std::net::TcpListener::bind(addr).expect("the idle-stopped engine freed its port");
    // Then, unused for --expire, the workspace goes, and with it the student's credential.
    loop {
        let (_, list) = teacher.get("/api/workspaces").await;
        if row(&list).is_none() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "the workspace never expired"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (st, v) = ada.get("/api/engines").await;
    assert_error(st, &v, 401, "unauthorized");
    // The instructor's own workspace never expires.
    assert_eq!(teacher.get("/api/workspace").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_workspace_in_use_is_not_stopped_for_idleness() {
    let (app, teacher) = spawn_class((29_000, 29_999), |c| {
        c.class.as_mut().unwrap().idle = Duration::from_millis(300);
    })
    .await;
    let code = teacher.class_code().await;
    let (ada, _) = User::join(&app, &code, "Ada").await;
    let server = ada
        .engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo"}))
        .await;
    let _ = &app;
    // A viewer keeps it active.
    let _viewer = ada.ws("").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (_, v) = ada
        .get(&format!("/api/engines/{}", server["id"].as_str().unwrap()))
        .await;
    assert_eq!(v["state"], "running", "{v}");
    let stopped = ada.events(server["id"].as_str().unwrap()).await;
    assert!(stopped.iter().all(|e| e["kind"] != "stopped"));
    drop(_viewer);
    // Without it, the engine is stopped, and its event says why.
    let id = server["id"].as_str().unwrap();
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, list) = teacher.get("/api/workspaces").await;
        let stopped = list
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["name"] == "Ada" && w["engines_running"] == 0);
        if stopped {
            break;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "never stopped once the viewer left"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let evs = ada.events(id).await;
    let last = evs.iter().rev().find(|e| e["kind"] == "stopped").unwrap();
    assert!(last["message"].as_str().unwrap().contains("idle"), "{last}");
}
