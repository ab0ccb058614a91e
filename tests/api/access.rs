//! Access checks, each test named after the attack it stops (as Jupyter's
//! test_allow_origin_pat.py and webpack-dev-server's allowed-hosts tests are).

use std::process::Stdio;
use std::time::Duration;

use socketlab::Config;
use socketlab::config::{Access, Cidr};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::helpers::*;

const TOKEN: &str = "test-token-0123456789abcdef";

async fn guarded() -> TestApp {
    let config = Config {
        access: Access {
            token: Some(TOKEN.into()),
            allowed_hosts: vec!["lab.example".into()],
        },
        ..Config::default()
    };
    spawn_app_with(config).await
}

fn get(host: &str, path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n{extra}Connection: close\r\n\r\n"
    )
}

fn post(host: &str, path: &str, extra: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n{extra}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn dns_rebinding_with_a_foreign_or_lookalike_host_is_refused() {
    let app = guarded().await;
    let port = app.addr.port();
    let bad = [
        format!("evil.example:{port}"),
        "evil.example".to_string(),
        format!("localhost.evil.example:{port}"),
        format!("127.0.0.1.nip.io:{port}"),
        format!("localhost6:{port}"),
        format!("0177.0.0.1:{port}"),
        format!("2130706433:{port}"),
        format!("0x7f000001:{port}"),
        format!("127.1:{port}"),
        format!("10.0.2.555:{port}"),
        format!("[::2]:{port}"),
        format!("localhost:{port}:{port}"),
        "".to_string(),
    ];
    for host in &bad {
        for path in ["/", "/api/engines", "/static/app.css", "/healthz"] {
            let (st, text) = raw_http(app.addr, &get(host, path, "")).await;
            assert_eq!(st, 403, "Host {host:?} {path}: {text}");
            assert!(text.contains("\"forbidden\""), "{text}");
        }
        let (st, text) = raw_http(
            app.addr,
            &ws_request(host, "/ws", &format!("Authorization: Bearer {TOKEN}\r\n")),
        )
        .await;
        assert_eq!(st, 403, "Host {host:?} /ws must never be 101: {text}");
    }
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        format!("LOCALHOST:{port}"),
        format!("lab.example:{port}"),
    ] {
        let (st, text) = raw_http(app.addr, &get(&host, "/api/engines", "")).await;
        assert_eq!(st, 200, "legitimate Host {host}: {text}");
    }
}

#[tokio::test]
async fn cross_site_websocket_hijacking_is_refused_before_the_upgrade() {
    let app = guarded().await;
    let port = app.addr.port();
    let host = format!("127.0.0.1:{port}");
    let auth = format!("Authorization: Bearer {TOKEN}\r\n");
    for origin in [
        "http://evil.example".to_string(),
        "null".to_string(),
        // Prefix-match bypasses (Jupyter's allow_origin_pat bug): the real origin as a prefix.
        format!("http://127.0.0.1:{port}.evil.example"),
        format!("http://127.0.0.1:{port}0"),
        format!("http://127.0.0.1:{port}@evil.example"),
        // Same host, other scheme or port, or another name for the same machine.
        format!("https://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{}", port.wrapping_add(1)),
        format!("http://localhost:{port}"),
    ] {
        let (st, text) = raw_http(
            app.addr,
            &ws_request(&host, "/ws", &format!("{auth}Origin: {origin}\r\n")),
        )
        .await;
        assert_eq!(st, 403, "Origin {origin}: {text}");
        assert!(!text.contains("101"), "never a 101 for {origin}");
    }
    let (st, _) = raw_http(
        app.addr,
        &ws_request(&host, "/ws", &format!("{auth}Origin: http://{host}\r\n")),
    )
    .await;
    assert_eq!(st, 101, "the dashboard's own origin");
    let (st, _) = raw_http(app.addr, &ws_request(&host, "/ws", &auth)).await;
    assert_eq!(st, 101, "no Origin (a script, not a browser)");
    let (st, _) = raw_http(
        app.addr,
        &ws_request(
            &host,
            "/ws",
            &format!("{auth}Sec-Fetch-Site: cross-site\r\n"),
        ),
    )
    .await;
    assert_eq!(st, 403, "Sec-Fetch-Site: cross-site");
}

#[tokio::test]
async fn csrf_from_a_foreign_origin_changes_nothing() {
    let app = guarded().await;
    let host = format!("127.0.0.1:{}", app.addr.port());
    let spec = r#"{"kind":"tcp-server","bind":"127.0.0.1:0","behavior":"echo"}"#;
    for extra in [
        "Origin: http://evil.example\r\n",
        "Origin: null\r\n",
        "Sec-Fetch-Site: cross-site\r\n",
    ] {
        let (st, text) = raw_http(app.addr, &post(&host, "/api/engines", extra, spec)).await;
        assert_eq!(st, 403, "{extra}: {text}");
    }
    let (st, text) = raw_http(
        app.addr,
        &get(&host, "/api/engines", "Sec-Fetch-Site: cross-site\r\n"),
    )
    .await;
    assert_eq!(st, 403, "cross-site reads of the API too: {text}");
    let (_, list) = raw_http(app.addr, &get(&host, "/api/engines", "")).await;
    assert!(list.ends_with("[]"), "nothing was created: {list}");
    let own = format!("Origin: http://{host}\r\nSec-Fetch-Site: same-origin\r\n");
    let (st, text) = raw_http(app.addr, &post(&host, "/api/engines", &own, spec)).await;
    assert_eq!(st, 201, "{text}");
}

#[tokio::test]
async fn the_token_is_required_on_api_and_ws_by_header_or_cookie() {
    let app = guarded().await;
    let host = format!("127.0.0.1:{}", app.addr.port());
    let anon =
        |path: &str| format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    for path in ["/api/engines", "/api/events?since=0", "/api/nope"] {
        let (st, text) = raw_http(app.addr, &anon(path)).await;
        assert_eq!(st, 401, "{path}: {text}");
        assert!(
            text.contains("\"unauthorized\"") && text.contains("Authorization: Bearer"),
            "{text}"
        );
    }
    let (st, _) = raw_http(app.addr, &ws_request(&host, "/ws", "")).await;
    assert_eq!(
        st, 401,
        "/ws without the token is refused before the upgrade"
    );
    let wrong = format!(
        "GET /api/engines HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}x\r\nConnection: close\r\n\r\n"
    );
    let (st, text) = raw_http(app.addr, &wrong).await;
    assert_eq!(st, 401);
    assert!(!text.contains(TOKEN), "errors never echo the token");
    // Liveness and static files need no token; the page asks for it without showing anything.
    assert_eq!(raw_http(app.addr, &anon("/healthz")).await.0, 200);
    assert_eq!(raw_http(app.addr, &anon("/static/app.css")).await.0, 200);
    let (st, page) = raw_http(app.addr, &anon("/")).await;
    assert_eq!(st, 401);
    assert!(
        page.contains("Access token") && !page.contains("data-engine-id"),
        "{page}"
    );
    let (st, page) = raw_http(app.addr, &anon("/?token=nope")).await;
    assert_eq!(st, 401);
    assert!(page.contains("not this dashboard"));

    // Visiting /?token= sets the cookie and takes the token out of the address bar.
    let (st, resp) = raw_http(app.addr, &anon(&format!("/?token={TOKEN}"))).await;
    assert_eq!(st, 303, "{resp}");
    let lower = resp.to_ascii_lowercase();
    assert!(lower.contains("\r\nlocation: /\r\n"), "{resp}");
    let cookie_line = lower
        .lines()
        .find(|l| l.starts_with("set-cookie:"))
        .expect("a cookie");
    assert!(
        cookie_line.contains("socketlab_token=")
            && cookie_line.contains("httponly")
            && cookie_line.contains("samesite=strict"),
        "{cookie_line}"
    );
    let cookie = format!("Cookie: socketlab_token={TOKEN}\r\n");
    let with_cookie = |path: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{cookie}Connection: close\r\n\r\n")
    };
    assert_eq!(
        raw_http(app.addr, &with_cookie("/api/engines")).await.0,
        200
    );
    assert_eq!(raw_http(app.addr, &with_cookie("/")).await.0, 200);
    assert_eq!(
        raw_http(app.addr, &ws_request(&host, "/ws", &cookie))
            .await
            .0,
        101
    );
    let bad_cookie = format!(
        "GET /api/engines HTTP/1.1\r\nHost: {host}\r\nCookie: socketlab_token=nope\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(raw_http(app.addr, &bad_cookie).await.0, 401);
}

#[tokio::test]
async fn pages_carry_security_headers_and_no_cors() {
    let app = guarded().await;
    let host = format!("127.0.0.1:{}", app.addr.port());
    let (_, resp) = raw_http(
        app.addr,
        &get(&host, "/api/engines", "Origin: http://127.0.0.1:1\r\n"),
    )
    .await;
    let lower = resp.to_ascii_lowercase();
    assert!(
        !lower.contains("access-control-allow"),
        "no CORS for foreign origins: {resp}"
    );
    let cookie = format!("Cookie: socketlab_token={TOKEN}\r\n");
    let (st, resp) = raw_http(
        app.addr,
        &format!("GET / HTTP/1.1\r\nHost: {host}\r\n{cookie}Connection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(st, 200);
    let lower = resp.to_ascii_lowercase();
    assert!(
        lower.contains(
            "content-security-policy: default-src 'self'; object-src 'none'; frame-ancestors 'none'"
        ),
        "{resp}"
    );
    assert!(lower.contains("x-content-type-options: nosniff"));
    assert!(lower.contains("referrer-policy: no-referrer"));
}

#[tokio::test]
async fn address_policy_flags_narrow_and_name_the_flag() {
    let config = Config {
        policy: socketlab::config::Policy {
            allow_bind: vec!["127.0.0.2/32".parse::<Cidr>().unwrap()],
            allow_target: vec!["127.0.0.1/32".parse::<Cidr>().unwrap()],
            allowed_ports: vec![1023],
            ..Default::default()
        },
        ..Config::default()
    };
    let app = spawn_app_with(config).await;
    let (st, v) = app.post("/api/engines", tcp_spec("echo")).await;
    assert!(assert_error(st, &v, 403, "forbidden").contains("--allow-bind"));
    let ok = app
        .engine(
            serde_json::json!({"kind": "tcp-server", "bind": "127.0.0.2:0", "behavior": "echo"}),
        )
        .await;
    let (st, v) = app
        .post(
            "/api/engines",
            serde_json::json!({"kind": "tcp-client", "target": ok["local"]}),
        )
        .await;
    assert!(
        assert_error(st, &v, 403, "forbidden").contains("--allow-target"),
        "127.0.0.2 is outside 127.0.0.1/32"
    );
    // Every address a name resolves to is checked: localhost's ::1 is outside 127.0.0.1/32.
    let resolved: Vec<std::net::SocketAddr> = tokio::net::lookup_host("localhost:5000")
        .await
        .unwrap()
        .collect();
    let (st, v) = app
        .post(
            "/api/engines",
            serde_json::json!({"kind": "udp-client", "target": "localhost:5000"}),
        )
        .await;
    if resolved.iter().any(|a| a.is_ipv6()) {
        assert!(
            assert_error(st, &v, 403, "forbidden").contains("::1"),
            "{v}"
        );
    } else {
        assert_eq!(st.as_u16(), 201, "{v}");
    }
    // --allow-port lets a low port through the policy (binding it may still need root).
    let (st, v) = app
        .post(
            "/api/engines",
            serde_json::json!({"kind": "tcp-server", "bind": "127.0.0.2:1023", "behavior": "echo"}),
        )
        .await;
    assert!(
        st.as_u16() == 201
            || v["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("privileges"),
        "{st} {v}"
    );
    let (st, v) = app
        .post(
            "/api/engines",
            serde_json::json!({"kind": "tcp-server", "bind": "127.0.0.2:1022", "behavior": "echo"}),
        )
        .await;
    assert!(assert_error(st, &v, 403, "forbidden").contains("--allow-port 1022"));
}

/// Runs the real binary with `args`; returns its stdout+stderr lines after `f` ran against it.
async fn with_binary<F, Fut>(args: &[&str], f: F) -> (String, Option<i32>)
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_socketlab"))
        .args(args)
        .env_remove("SOCKETLAB_TOKEN")
        .env_remove("SOCKETLAB_LISTEN")
        .env("SOCKETLAB_DATA_DIR", temp_dir("access"))
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut err = child.stderr.take().unwrap();
    let mut first = String::new();
    let read = tokio::time::timeout(Duration::from_secs(10), out.read_line(&mut first)).await;
    let mut log = first.clone();
    if read.is_ok() && first.starts_with("listening on ") {
        f(first.trim().to_string()).await;
        let pid = child.id().unwrap();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    let mut rest = String::new();
    out.read_to_string(&mut rest).await.unwrap();
    err.read_to_string(&mut rest).await.unwrap();
    log.push_str(&rest);
    (log, status.code())
}

#[tokio::test]
async fn the_token_is_random_printed_once_and_never_logged() {
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let (log, code) = with_binary(&["--listen", "127.0.0.1:0"], |url| async move {
            let token = url.rsplit_once("?token=").unwrap().1.to_string();
            let base = url
                .split("/?")
                .next()
                .unwrap()
                .trim_start_matches("listening on ")
                .to_string();
            let http = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            // Wrong and right tokens, errors and successes, to give the logs every chance.
            let r = http
                .get(format!("{base}/api/engines"))
                .bearer_auth(format!("{token}0"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 401);
            let r = http
                .get(format!("{base}/?token={token}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 303, "the token becomes a cookie");
            let r = http
                .post(format!("{base}/api/engines"))
                .bearer_auth(&token)
                .body("{\"kind\":\"nope\"}")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 400);
        })
        .await;
        assert_eq!(code, Some(0), "{log}");
        let first = log.lines().next().unwrap();
        let token = first.rsplit_once("?token=").unwrap().1.to_string();
        assert!(
            token.len() >= 32 && token.bytes().all(|b| b.is_ascii_hexdigit()),
            "at least 128 bits: {token}"
        );
        assert_eq!(
            log.matches(&token).count(),
            1,
            "printed once, never logged:\n{log}"
        );
        tokens.push(token);
    }
    assert_ne!(tokens[0], tokens[1], "a new token each start");
}

#[tokio::test]
async fn no_token_is_refused_on_an_address_other_machines_reach() {
    let (log, code) = with_binary(&["--listen", "0.0.0.0:0", "--no-token"], |_| async {}).await;
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("--no-token is refused"), "{log}");
    let (log, code) = with_binary(
        &["--listen", "127.0.0.1:0", "--no-token"],
        |url| async move {
            assert!(!url.contains("token="), "{url}");
            let base = url
                .trim_start_matches("listening on ")
                .trim_end_matches('/')
                .to_string();
            let r = reqwest::get(format!("{base}/api/engines")).await.unwrap();
            assert_eq!(r.status().as_u16(), 200);
        },
    )
    .await;
    assert_eq!(code, Some(0), "{log}");
}
