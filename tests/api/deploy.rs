//! Deployment: the release binary alone, copied anywhere, serves its page; and a class server
//! behind nginx as a TLS reverse proxy, with `--public-url`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use socketlab::Config;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::*;

/// `target/release/socketlab` (built by `.ci/run` before the tests).
fn release_binary() -> PathBuf {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/socketlab");
    assert!(
        bin.exists(),
        "no release binary at {}; run cargo build --release first (.ci/run does)",
        bin.display()
    );
    bin
}

#[tokio::test]
async fn the_release_binary_copied_into_an_empty_directory_serves_its_page() {
    let bin = release_binary();
    let dir = temp_dir("copied");
    let copy = dir.join("socketlab");
    std::fs::copy(&bin, &copy).unwrap();
    let source_static = Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
    let bytes = std::fs::read(&copy).unwrap();
    let needle = source_static.to_string_lossy().into_owned();
    assert!(
        !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
        "the binary must not read its assets from {needle}"
    );
    const TOKEN: &str = "copied-binary-token-0123456789";
    let mut child = tokio::process::Command::new(&copy)
        .args(["--listen", "127.0.0.1:0"])
        .current_dir(&dir)
        .env("SOCKETLAB_TOKEN", TOKEN)
        .env("SOCKETLAB_DATA_DIR", dir.join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (base, _out) = read_base(&mut child).await;
    let http = reqwest::Client::new();
    let page = http
        .get(format!("{base}/"))
        .header("cookie", format!("socketlab_token={TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let mut assets: Vec<String> = html
        .split(['"', '\''])
        .filter(|s| s.starts_with("/static/"))
        .map(str::to_string)
        .collect();
    assert!(
        assets.iter().any(|a| a.ends_with(".css")) && assets.iter().any(|a| a.ends_with(".js"))
    );
    // The modules the page's script imports, too.
    let app_js = http
        .get(format!("{base}/static/js/app.js"))
        .send()
        .await
        .unwrap();
    let text = app_js.text().await.unwrap();
    for import in text.split("from '").skip(1) {
        let file = import.split('\'').next().unwrap().trim_start_matches("./");
        assets.push(format!("/static/js/{file}"));
    }
    assert!(assets.len() >= 6, "{assets:?}");
    for a in &assets {
        let r = http.get(format!("{base}{a}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{a}");
        let ty = r.headers()["content-type"].to_str().unwrap().to_string();
        let want = if a.ends_with(".css") {
            "text/css"
        } else {
            "text/javascript"
        };
        assert!(ty.starts_with(want), "{a}: {ty}");
        let etag = r.headers()["etag"].to_str().unwrap().to_string();
        let served = r.bytes().await.unwrap();
        let source = std::fs::read(source_static.join(a.trim_start_matches("/static/"))).unwrap();
        assert!(
            served == source,
            "the release binary serves an old {a}: run cargo build --release (.ci/run does)"
        );
        // A browser's revalidation: same ETag, nothing sent again.
        let again = http
            .get(format!("{base}{a}"))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{a}");
        assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
        assert!(again.bytes().await.unwrap().is_empty());
    }
    let missing = http
        .get(format!("{base}/static/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let _ = child.start_kill();
    let _ = child.wait().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A port free now for nginx to listen on, below the ephemeral range (32768 on): a port the
/// kernel handed out and took back could be given to another test's outgoing connection
/// before nginx binds it.
fn free_port() -> u16 {
    let start = 20_000 + (std::process::id() % 5_000) as u16;
    (start..32_000)
        .chain(20_000..start)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port below 32000")
}

/// nginx on loopback as a TLS reverse proxy in front of `upstream`, with a certificate made
/// here; stopped on drop.
struct Nginx {
    child: std::process::Child,
    cert: Vec<u8>,
    dir: PathBuf,
}

impl Nginx {
    fn start(upstream: std::net::SocketAddr, port: u16) -> Nginx {
        let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .expect(
                "this test needs nginx (Debian's nginx package: apt-get install -y nginx; .ci/run does this)",
            );
        let dir = temp_dir("nginx");
        let made = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1"])
            .arg("-keyout")
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl makes the test's certificate");
        assert!(made.success());
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let d = dir.display();
        let conf = format!(
            r#"{user}
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {d}/cert.pem;
    ssl_certificate_key {d}/key.pem;
    client_max_body_size 64m;
    location / {{
      proxy_pass http://{upstream};
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_read_timeout 1h;
    }}
  }}
}}
"#,
            user = if root { "user root;" } else { "" },
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = std::process::Command::new(nginx)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let cert = std::fs::read(dir.join("cert.pem")).unwrap();
        Nginx { child, cert, dir }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn a_class_behind_nginx_with_tls_joins_runs_an_engine_and_streams_events() {
    let port = free_port();
    let public = format!("https://127.0.0.1:{port}");
    let mut config = Config::default();
    config.access.token = Some(CLASS_TOKEN.into());
    config.class = Some(socketlab::config::ClassConfig {
        ports: (16_000, 16_999),
        ..Default::default()
    });
    config.public_url = Some(format!("{public}/").parse().unwrap());
    let app = spawn_app_with(config).await;
    let nginx = Nginx::start(app.addr, port);
    let cert = native_tls::Certificate::from_pem(&nginx.cert).unwrap();
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&nginx.cert).unwrap())
        .build()
        .unwrap();
    // nginx up?
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    while https.get(format!("{public}/healthz")).send().await.is_err() {
        assert!(
            tokio::time::Instant::now() < end,
            "nginx did not answer on {public}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The instructor, through the proxy: every URL is on the public base.
    let me: Value = https
        .get(format!("{public}/api/workspace"))
        .bearer_auth(CLASS_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let join_url = me["class"]["join_url"].as_str().unwrap();
    assert!(
        join_url.starts_with(&format!("{public}/join/")),
        "{join_url}"
    );
    assert!(
        me["watch_url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{public}/watch/"))
    );
    // A student opens the join link and joins, as the page does (with its Origin).
    let page = https.get(join_url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let code = join_url.rsplit('/').next().unwrap();
    let joined = https
        .post(format!("{public}/api/join"))
        .header("origin", &public)
        .json(&json!({"code": code, "name": "Ada"}))
        .send()
        .await
        .unwrap();
    assert_eq!(joined.status(), StatusCode::CREATED);
    let cookie = joined
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("__Host-socketlab_ws="))
        .expect("behind https the cookie is named __Host-socketlab_ws");
    assert!(
        cookie.contains("; Secure") && cookie.contains("; Path=/") && !cookie.contains("Domain"),
        "behind https the cookie is __Host-, Secure, Path=/: {cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let ws: Value = joined.json().await.unwrap();
    assert!(ws["watch_url"].as_str().unwrap().starts_with(&public));
    // The page's stream, over wss through the proxy.
    let tls = native_tls::TlsConnector::builder()
        .add_root_certificate(cert)
        .build()
        .unwrap();
    let mut req = format!("wss://127.0.0.1:{port}/ws?since=0")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert("cookie", session.parse().unwrap());
    req.headers_mut().insert("origin", public.parse().unwrap());
    let (mut stream, resp) = tokio_tungstenite::connect_async_tls_with_config(
        req,
        None,
        false,
        Some(tokio_tungstenite::Connector::NativeTls(tls.clone())),
    )
    .await
    .expect("a WebSocket through nginx");
    assert_eq!(resp.status().as_u16(), 101);
    // An engine, made through the proxy, and a real exchange with it.
    let e: Value = https
        .post(format!("{public}/api/engines"))
        .header("cookie", &session)
        .header("origin", &public)
        .json(&tcp_spec("uppercase"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let addr = local_of(&e);
    assert!((16_000..=16_099).contains(&addr.port()), "{e}");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"through the proxy").await.unwrap();
    assert_eq!(
        read_until(&mut s, |b| b.len() >= 17).await,
        b"THROUGH THE PROXY"
    );
    let end = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = end.saturating_duration_since(tokio::time::Instant::now());
        let msg = tokio::time::timeout(left, stream.next())
            .await
            .expect("the echo's events arrive over wss")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg {
            let ev: Value = serde_json::from_str(t.as_str()).unwrap();
            if ev["kind"] == "sent" && ev["text"] == "THROUGH THE PROXY" {
                break;
            }
        }
    }
    // A 2 MB upload goes through the documented site (nginx's own 1 MiB default would 413).
    let up = https
        .post(format!("{public}/api/files?name=two-megabytes.bin"))
        .header("cookie", &session)
        .header("origin", &public)
        .body(vec![7u8; 2_000_000])
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), StatusCode::CREATED);
    let meta: Value = up.json().await.unwrap();
    assert_eq!(meta["bytes"], 2_000_000);
    // A plain-http Origin is not this dashboard's: refused, for the API and the stream.
    let plain = format!("http://127.0.0.1:{port}");
    let r = https
        .post(format!("{public}/api/engines"))
        .header("cookie", &session)
        .header("origin", &plain)
        .json(&tcp_spec("echo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().contains(&public),
        "{v}"
    );
    let mut req = format!("wss://127.0.0.1:{port}/ws")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert("cookie", session.parse().unwrap());
    req.headers_mut().insert("origin", plain.parse().unwrap());
    let refused = tokio_tungstenite::connect_async_tls_with_config(
        req,
        None,
        false,
        Some(tokio_tungstenite::Connector::NativeTls(tls)),
    )
    .await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 403),
        other => panic!(
            "a plain-http Origin got a WebSocket: {:?}",
            other.map(|(_, r)| r.status())
        ),
    }
    drop(nginx);
    app.shutdown().await;
}
