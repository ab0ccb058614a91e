//! `spawn_app()` and the request helpers every test uses: a real server on 127.0.0.1:0,
//! real HTTP, real WebSocket, real sockets.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use socketlab::Config;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// A running socketlab server for one test.
pub struct TestApp {
    pub base: String,
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Config::default()).await
}

pub async fn spawn_app_with(config: Config) -> TestApp {
    spawn_app_ready(config).await.0
}

/// What a server said when it started: its token, class code and load problems.
#[derive(Debug, Clone, Default)]
pub struct Started {
    pub token: Option<String>,
    pub code: Option<String>,
    pub problems: Vec<String>,
}

pub async fn spawn_app_ready(config: Config) -> (TestApp, Started) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let (tell, told) = oneshot::channel::<Started>();
    let handle = tokio::spawn(socketlab::serve_with(
        listener,
        config,
        async move {
            let _ = stopped.await;
        },
        move |r| {
            let _ = tell.send(Started {
                token: r.startup.token.clone(),
                code: r.startup.class_code.clone(),
                problems: r.startup.problems.clone(),
            });
        },
    ));
    let started = told.await.expect("the server started");
    let app = TestApp {
        base: format!("http://{addr}"),
        addr,
        http: reqwest::Client::new(),
        stop: Some(stop),
        handle: Some(handle),
    };
    (app, started)
}

async fn parse(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.unwrap();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, v)
}

impl TestApp {
    /// A handle on a server running elsewhere (another process), for its HTTP helpers.
    pub fn at(base: &str) -> TestApp {
        TestApp {
            base: base.to_string(),
            addr: base.trim_start_matches("http://").parse().unwrap(),
            http: reqwest::Client::new(),
            stop: None,
            handle: None,
        }
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        parse(
            self.http
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        parse(
            self.http
                .post(format!("{}{path}", self.base))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn post_raw(&self, path: &str, body: &'static str) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        parse(r).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        parse(
            self.http
                .delete(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Creates an engine and insists it worked.
    pub async fn engine(&self, spec: Value) -> Value {
        let (st, body) = self.post("/api/engines", spec.clone()).await;
        assert_eq!(st, StatusCode::CREATED, "creating {spec} -> {body}");
        body
    }

    pub async fn engine_view(&self, id: &str) -> Value {
        let (st, v) = self.get(&format!("/api/engines/{id}")).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        v
    }

    pub async fn send(&self, id: &str, body: Value) -> (StatusCode, Value) {
        self.post(&format!("/api/engines/{id}/send"), body).await
    }

    /// Polls an engine until `pred` holds on its view, or fails after 5 s.
    pub async fn wait_engine(&self, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let end = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let v = self.engine_view(id).await;
            if pred(&v) {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < end,
                "{id}: waited 5 s for {what}; last view {v}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Events from the history, of one engine, every page of them.
    pub async fn events(&self, id: &str) -> Vec<Value> {
        every_event(id, |path| async move { self.get(&path).await }).await
    }

    /// Waits until the history holds an event of `id` matching `pred`; returns all of `id`'s.
    pub async fn wait_event(
        &self,
        id: &str,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Vec<Value> {
        let end = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let evs = self.events(id).await;
            if evs.iter().any(&pred) {
                return evs;
            }
            assert!(
                tokio::time::Instant::now() < end,
                "{id}: waited 5 s for event {what}; saw {evs:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn ws(&self, query: &str) -> Ws {
        let url = format!("ws://{}/ws{query}", self.addr);
        let (stream, resp) = tokio_tungstenite::connect_async(url).await.unwrap();
        assert_eq!(resp.status().as_u16(), 101);
        Ws {
            stream,
            hello: None,
        }
    }

    /// Shuts the server down as Ctrl-C would, and waits for it to finish.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(10), h)
                .await
                .expect("server shut down within 10 s")
                .unwrap()
                .unwrap();
        }
    }
}

pub fn addr_of(v: &Value) -> SocketAddr {
    v.as_str()
        .unwrap_or_else(|| panic!("not an address: {v}"))
        .parse()
        .unwrap()
}

/// The `local` address of an engine view.
pub fn local_of(engine: &Value) -> SocketAddr {
    addr_of(&engine["local"])
}

pub fn tcp_spec(behavior: &str) -> Value {
    json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": behavior})
}

pub fn udp_spec(behavior: &str) -> Value {
    json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": behavior})
}

/// Reads from `s` until `pred` holds on everything read, EOF, or 5 s.
pub async fn read_until(s: &mut TcpStream, pred: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = tokio::time::Instant::now() + Duration::from_secs(5);
    while !pred(&buf) {
        let left = end.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, s.read(&mut chunk)).await {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Ok(Err(_)) => break,
        }
    }
    buf
}

/// Reads everything until the peer closes (or 5 s).
pub async fn read_to_eof(s: &mut TcpStream) -> Vec<u8> {
    read_until(s, |_| false).await
}

/// A WebSocket viewer.
pub struct Ws {
    pub stream: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
    /// The stream's `hello` (its first frame), once read.
    pub hello: Option<Value>,
}

impl Ws {
    /// The next event, or None after `wait` without one.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(wait, self.stream.next())
                .await
                .ok()??
                .ok()?;
            match msg {
                Message::Text(t) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    // The stream's first frame says where it starts, not what happened.
                    if v["kind"] == "hello" {
                        self.hello = Some(v);
                        continue;
                    }
                    return Some(v);
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// Reads events until one matches `pred`; returns all read. Fails after 5 s.
    pub async fn until(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut seen = Vec::new();
        let end = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let left = end.saturating_duration_since(tokio::time::Instant::now());
            let Some(ev) = self.next_within(left).await else {
                panic!("no event {what} within 5 s; saw {seen:#?}");
            };
            let done = pred(&ev);
            seen.push(ev);
            if done {
                return seen;
            }
        }
    }
}

pub fn kind_is(kind: &'static str) -> impl Fn(&Value) -> bool {
    move |e: &Value| e["kind"] == kind
}

pub fn b64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

pub fn json_ok(st: StatusCode, v: &Value) {
    assert!(st.is_success(), "expected success, got {st} {v}");
}

/// Asserts an error response with this status and code, and a message; returns the message.
pub fn assert_error(st: StatusCode, v: &Value, status: u16, code: &str) -> String {
    assert_eq!(
        st.as_u16(),
        status,
        "expected {status} {code}, got {st} {v}"
    );
    assert_eq!(v["error"]["code"], code, "{v}");
    let msg = v["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(msg.len() > 10, "the message should say what to do: {v}");
    msg
}

/// A raw HTTP/1.1 exchange, so tests control every header (Host, Origin, ...). Returns the
/// status code and the whole response text.
pub async fn raw_http(addr: SocketAddr, request: &str) -> (u16, String) {
    use tokio::io::AsyncWriteExt;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let end = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = end.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
        let text = String::from_utf8_lossy(&out);
        // A 101 never ends by itself; any other response here is complete once its body is.
        if text.starts_with("HTTP/1.1 101") && text.contains("\r\n\r\n") {
            break;
        }
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head.lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
            });
            if len.is_some_and(|n| body.len() >= n) {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// A WebSocket upgrade request with these extra header lines.
pub fn ws_request(host: &str, path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// The real `socketlab` binary in a process of its own, for measurements (memory, file
/// descriptors) that other tests in this process would blur. Killed on drop.
pub struct BinApp {
    pub child: tokio::process::Child,
    pub base: String,
    pub addr: SocketAddr,
    pub http: reqwest::Client,
}

impl BinApp {
    pub async fn start(args: &[&str]) -> BinApp {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_socketlab"))
            .args(["--listen", "127.0.0.1:0", "--no-token"])
            .args(args)
            .env_remove("SOCKETLAB_TOKEN")
            .env_remove("SOCKETLAB_LISTEN")
            .env("SOCKETLAB_DATA_DIR", temp_dir("bin"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let (base, _) = read_base(&mut child).await;
        let addr = base.trim_start_matches("http://").parse().unwrap();
        BinApp {
            child,
            base,
            addr,
            http: reqwest::Client::new(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    /// Resident memory of the server process.
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        kb * 1024
    }

    /// Open file descriptors of the server process.
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .unwrap()
            .count()
    }

    pub async fn engine(&self, spec: Value) -> Value {
        let r = self
            .http
            .post(format!("{}/api/engines", self.base))
            .json(&spec)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        r.json().await.unwrap()
    }

    /// Every kept event of engine `id`, page by page.
    pub async fn events(&self, id: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut since = 0;
        loop {
            let v: Value = self
                .http
                .get(format!(
                    "{}/api/events?engine={id}&since={since}&limit=10000",
                    self.base
                ))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let page = v["events"].as_array().unwrap();
            if page.is_empty() {
                break;
            }
            since = v["next"].as_u64().unwrap();
            all.extend(page.iter().cloned());
        }
        all
    }

    pub async fn view(&self, id: &str) -> Value {
        self.http
            .get(format!("{}/api/engines/{id}", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn ws(&self, query: &str) -> Ws {
        let (stream, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws{query}", self.addr))
            .await
            .unwrap();
        Ws {
            stream,
            hello: None,
        }
    }
}

/// A new empty directory under the system's temp dir, for one test's data.
pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let d = std::env::temp_dir().join(format!(
        "socketlab-test-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The instructor's token in class-mode tests.
pub const CLASS_TOKEN: &str = "class-test-token-0123456789abcdef";

/// A class-mode server with its ports in `ports` (each test its own range, as tests run at
/// once), tweaked by `tweak`.
pub async fn spawn_class(ports: (u16, u16), tweak: impl FnOnce(&mut Config)) -> (TestApp, User) {
    let mut config = Config::default();
    config.access.token = Some(CLASS_TOKEN.into());
    config.class = Some(socketlab::config::ClassConfig {
        ports,
        ..Default::default()
    });
    tweak(&mut config);
    let app = spawn_app_with(config).await;
    let teacher = User::new(&app, CLASS_TOKEN);
    (app, teacher)
}

/// Someone using the API with one credential (`Authorization: Bearer`).
#[derive(Clone)]
pub struct User {
    pub base: String,
    pub addr: SocketAddr,
    pub cred: String,
    pub http: reqwest::Client,
}

impl User {
    pub fn new(app: &TestApp, cred: &str) -> User {
        User {
            base: app.base.clone(),
            addr: app.addr,
            cred: cred.to_string(),
            http: reqwest::Client::new(),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.cred);
        if let Some(b) = body {
            r = r.json(&b);
        }
        parse(r.send().await.unwrap_or_else(|e| panic!("{path}: {e:?}"))).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    /// Creates an engine and insists it worked.
    pub async fn engine(&self, spec: Value) -> Value {
        let (st, body) = self.post("/api/engines", spec.clone()).await;
        assert_eq!(st, StatusCode::CREATED, "creating {spec} -> {body}");
        body
    }

    /// This user's events of engine `id`.
    pub async fn events(&self, id: &str) -> Vec<Value> {
        every_event(id, |path| async move { self.get(&path).await }).await
    }

    fn ws_request(
        &self,
        query: &str,
    ) -> tokio_tungstenite::tungstenite::handshake::client::Request {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = format!("ws://{}/ws{query}", self.addr)
            .into_client_request()
            .unwrap();
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {}", self.cred).parse().unwrap(),
        );
        req
    }

    /// A WebSocket viewer with this credential.
    pub async fn ws(&self, query: &str) -> Ws {
        let (stream, resp) = tokio_tungstenite::connect_async(self.ws_request(query))
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 101);
        Ws {
            stream,
            hello: None,
        }
    }

    /// The WebSocket upgrade's status, for refusals.
    pub async fn ws_status(&self, query: &str) -> u16 {
        match tokio_tungstenite::connect_async(self.ws_request(query)).await {
            Ok((_, resp)) => resp.status().as_u16(),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
            Err(e) => panic!("ws: {e}"),
        }
    }

    /// The class code, as the instructor sees it.
    pub async fn class_code(&self) -> String {
        let (st, v) = self.get("/api/workspace").await;
        assert_eq!(st, StatusCode::OK, "{v}");
        v["class"]["code"].as_str().unwrap().to_string()
    }

    /// Joins the class as `name`; returns the student (by bearer) and the join answer.
    pub async fn join(app: &TestApp, code: &str, name: &str) -> (User, Value) {
        let r = app
            .http
            .post(format!("{}/api/join", app.base))
            .json(&json!({"code": code, "name": name}))
            .send()
            .await
            .unwrap();
        let (st, v) = parse(r).await;
        assert_eq!(st, StatusCode::CREATED, "join as {name}: {v}");
        let cred = v["credential"].as_str().unwrap();
        (User::new(app, cred), v)
    }
}

/// The last path segment of a URL (a watch id, a join code).
pub fn last_segment(url: &Value) -> String {
    url.as_str()
        .unwrap_or_else(|| panic!("not a URL: {url}"))
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}

/// Reads a started `socketlab`'s first line, `listening on http://HOST:PORT/...`; returns
/// `http://HOST:PORT` and the rest of its standard output.
pub async fn read_base(
    child: &mut tokio::process::Child,
) -> (String, tokio::io::BufReader<tokio::process::ChildStdout>) {
    use tokio::io::AsyncBufReadExt;
    let mut out = tokio::io::BufReader::new(child.stdout.take().expect("stdout piped"));
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(10), out.read_line(&mut line))
        .await
        .expect("the binary printed its address within 10 s")
        .unwrap();
    let base = line
        .trim()
        .trim_start_matches("listening on ")
        .split("/?")
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    assert!(base.starts_with("http://"), "{line}");
    (base, out)
}

/// Every `Set-Cookie` of a response.
pub fn set_cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

/// Every page of engine `id`'s events from the history, each page asked for by `get`.
async fn every_event<F, Fut>(id: &str, get: F) -> Vec<Value>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = (StatusCode, Value)>,
{
    let mut all = Vec::new();
    let mut since = 0;
    loop {
        let (st, v) = get(format!("/api/events?engine={id}&since={since}&limit=10000")).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        // A page ends at 10,000 events or 1 MiB of them; an empty one is the end.
        let page = v["events"].as_array().unwrap();
        if page.is_empty() {
            break;
        }
        since = v["next"].as_u64().unwrap();
        all.extend(page.iter().cloned());
    }
    all
}
