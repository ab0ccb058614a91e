//! A real socketlab on 127.0.0.1:0 and a real headless Chromium driven over WebDriver.
//!
//! Chromium comes from Debian's `chromium` and `chromium-driver` packages (`.ci/run` installs
//! them). A missing browser is a failure with instructions, never a silent skip.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::sync::{Mutex, MutexGuard, oneshot};

/// One browser test at a time: two cores cannot run several Chromiums well.
static SERIAL: Mutex<()> = Mutex::const_new(());

pub async fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().await
}

/// A socketlab server for one test.
pub struct App {
    pub base: String,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// The token the browser tests' servers require, as a real deployment would.
pub const TOKEN: &str = "browser-test-token-0123456789";

pub async fn spawn_app() -> App {
    spawn_app_with(|_| {}).await
}

/// A class-mode server (ports `ports`); the token is the instructor's.
pub async fn spawn_class(ports: (u16, u16)) -> App {
    spawn_app_with(|c| {
        c.class = Some(socketlab::config::ClassConfig {
            ports,
            ..Default::default()
        });
    })
    .await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut socketlab::Config)) -> App {
    spawn_app_on("127.0.0.1:0", tweak).await
}

/// A server listening on `at` (an address a stopped one had, to restart it where a page
/// will reconnect).
pub async fn spawn_app_on(at: &str, tweak: impl FnOnce(&mut socketlab::Config)) -> App {
    let listener = tokio::net::TcpListener::bind(at).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let mut config = socketlab::Config::default();
    config.access.token = Some(TOKEN.into());
    tweak(&mut config);
    let handle = tokio::spawn(socketlab::serve(listener, config, async move {
        let _ = stopped.await;
    }));
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {TOKEN}").parse().unwrap(),
    );
    App {
        base: format!("http://{addr}"),
        http: reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap(),
        stop: Some(stop),
        handle: Some(handle),
    }
}

impl App {
    /// Stops the server and waits until it has closed everything (its port is free).
    pub async fn stop(mut self) {
        drop(self.stop.take());
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "POST {path} {body}: {}",
            r.status()
        );
        r.json().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let st = r.status().as_u16();
        (st, r.json().await.unwrap_or(Value::Null))
    }
}

fn find_binary(env: &str, candidates: &[&str]) -> PathBuf {
    if let Ok(p) = std::env::var(env) {
        return PathBuf::from(p);
    }
    for c in candidates {
        let p = PathBuf::from(c);
        if p.exists() {
            return p;
        }
    }
    panic!(
        "browser tests need {} (set {env} or install Debian's chromium and chromium-driver: \
         apt-get install -y chromium chromium-driver; .ci/run does this)",
        candidates.join(" or ")
    );
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn kill(target: &str) {
    let _ = Command::new("kill")
        .args(["-9", "--", target])
        .stderr(Stdio::null())
        .status();
}

/// chromedriver in a process group of its own, so the browsers it starts die with it.
pub struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    pub async fn start() -> Driver {
        let bin = find_binary(
            "SOCKETLAB_CHROMEDRIVER",
            &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
        );
        let port = free_port();
        let child = Command::new(&bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let driver = Driver {
            child,
            url: format!("http://{addr}"),
        };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return driver;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("chromedriver did not listen on {addr} within 10 s");
    }

    /// A new browser session (a fresh profile: a second viewer, not a second tab).
    pub async fn browser(&self) -> Browser {
        let chromium = find_binary(
            "SOCKETLAB_CHROMIUM",
            &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
        );
        let profile = std::env::temp_dir().join(format!(
            "socketlab-chromium-{}-{}",
            std::process::id(),
            free_port()
        ));
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-extensions",
                    "--window-size=1280,800", "--force-prefers-reduced-motion",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session from chromedriver");
        let pid = client
            .capabilities()
            .and_then(|c| c.get("goog:processID"))
            .and_then(Value::as_u64);
        let browser = Browser {
            client,
            pid,
            profile,
        };
        browser.viewport(1280, 800).await;
        browser
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        kill(&format!("-{}", self.child.id()));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser session; killed by its process id when the test ends or panics.
pub struct Browser {
    pub client: Client,
    pid: Option<u64>,
    profile: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            kill(&pid.to_string());
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

const WAIT: Duration = Duration::from_secs(10);

impl Browser {
    /// Sizes the window so the page itself gets `width` x `height`.
    pub async fn viewport(&self, width: u32, height: u32) {
        self.client.set_window_size(width, height).await.unwrap();
        let extra = self
            .js("[window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]")
            .await;
        let dw = extra[0].as_u64().unwrap_or(0) as u32;
        let dh = extra[1].as_u64().unwrap_or(0) as u32;
        if dw > 0 || dh > 0 {
            self.client
                .set_window_size(width + dw, height + dh)
                .await
                .unwrap();
        }
    }

    /// Opens the page the way a user does: the startup URL with the token first (it becomes
    /// a cookie and leaves the address bar), then `url`.
    pub async fn goto(&self, url: &str) {
        let origin = url.split('/').take(3).collect::<Vec<_>>().join("/");
        if !self
            .client
            .current_url()
            .await
            .is_ok_and(|u| u.as_str().starts_with(&origin))
        {
            self.client
                .goto(&format!("{origin}/?token={TOKEN}"))
                .await
                .unwrap();
            let now = self.client.current_url().await.unwrap();
            assert_eq!(
                now.as_str(),
                format!("{origin}/"),
                "the token left the address bar"
            );
        }
        self.client.goto(url).await.unwrap();
        self.wait_js(
            "document.getElementById('live')?.dataset.status === 'live'",
            "the live stream",
        )
        .await;
    }

    /// Joins a class the way a student does: the join link, a name, the Join button.
    pub async fn join(&self, base: &str, code: &str, name: &str) {
        self.client
            .goto(&format!("{base}/join/{code}"))
            .await
            .unwrap();
        self.type_into("#join input[name=name]", name).await;
        self.click("#join button[type=submit]").await;
        self.wait_js(
            "document.getElementById('live')?.dataset.status === 'live'",
            "the student's dashboard, live",
        )
        .await;
    }

    /// Opens a link (a watch link) the way a visitor does, and waits for the live page.
    pub async fn open_link(&self, url: &str) {
        self.client.goto(url).await.unwrap();
        self.wait_js(
            "document.getElementById('live')?.dataset.status === 'live'",
            "the page behind the link, live",
        )
        .await;
    }

    /// A screenshot kept in target/ (and in docs/ with SOCKETLAB_UPDATE_SCREENSHOT=1).
    pub async fn screenshot(&self, name: &str) -> Vec<u8> {
        let png = self.client.screenshot().await.unwrap();
        let root = env!("CARGO_MANIFEST_DIR");
        std::fs::write(format!("{root}/target/{name}"), &png).unwrap();
        assert!(
            png.len() > 10_000 && png.starts_with(b"\x89PNG"),
            "a real screenshot"
        );
        if std::env::var_os("SOCKETLAB_UPDATE_SCREENSHOT").is_some() {
            std::fs::write(format!("{root}/docs/{name}"), &png).unwrap();
        }
        png
    }

    /// Runs a JavaScript expression and returns its value.
    pub async fn js(&self, expr: &str) -> Value {
        self.client
            .execute(&format!("return ({expr});"), vec![])
            .await
            .unwrap()
    }

    /// Waits until a JavaScript expression is truthy; fails after 10 s saying what it waited for.
    pub async fn wait_js(&self, expr: &str, what: &str) -> Value {
        self.wait_js_for(expr, what, WAIT).await
    }

    /// Waits until a JavaScript expression is truthy, for at most `limit`.
    pub async fn wait_js_for(&self, expr: &str, what: &str, limit: Duration) -> Value {
        let end = tokio::time::Instant::now() + limit;
        loop {
            let v = self.js(expr).await;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return v;
            }
            if tokio::time::Instant::now() > end {
                let errors = self
                    .js("document.getElementById('js-errors').textContent")
                    .await;
                panic!("waited {limit:?} for {what} ({expr}); page errors: {errors}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn click(&self, css: &str) {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    pub async fn select(&self, css: &str, value: &str) {
        let e = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        e.select_by_value(value).await.unwrap();
    }

    /// No script error, CSP violation or unhandled rejection was reported on the page.
    pub async fn assert_no_page_errors(&self) {
        let errors = self
            .js("document.getElementById('js-errors').textContent")
            .await;
        assert_eq!(errors, json!(""), "the page reported errors");
    }
}
