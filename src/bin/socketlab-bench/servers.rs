//! The servers under test: socketlab (in this process, or alone in a child for its memory),
//! the bare tokio baseline, and socat.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// Who served a round: socketlab (with no viewer, one `mode=live` viewer or one `mode=all`
/// viewer reading everything), the bare tokio baseline, or socat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Who {
    Socketlab,
    Live,
    All,
    Baseline,
    Socat,
}

impl Who {
    /// The viewer mode a socketlab round has, if any.
    pub(crate) fn viewer_mode(self) -> Option<&'static str> {
        match self {
            Who::Live => Some("live"),
            Who::All => Some("all"),
            _ => None,
        }
    }
}

/// A socketlab dashboard, reached over its HTTP API like any script would.
#[derive(Clone)]
pub(crate) struct Lab {
    pub(crate) addr: SocketAddr,
}

pub(crate) async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    http_as(addr, None, method, path, body).await
}

/// [`http`] with `Authorization: Bearer` when a credential is given.
pub(crate) async fn http_as(
    addr: SocketAddr,
    bearer: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = bearer
        .map(|b| format!("Authorization: Bearer {b}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut s = TcpStream::connect(addr).await.expect("dashboard reachable");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let json = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

impl Lab {
    pub(crate) async fn start() -> Lab {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(socketlab::serve(
            listener,
            lab_config(),
            std::future::pending(),
        ));
        Lab { addr }
    }

    /// Creates an engine; returns (id, address).
    pub(crate) async fn engine(&self, spec: Value) -> (String, SocketAddr) {
        let (st, v) = http(self.addr, "POST", "/api/engines", Some(&spec)).await;
        assert_eq!(st, 201, "create {spec}: {v}");
        (
            v["id"].as_str().unwrap().to_string(),
            v["local"].as_str().unwrap().parse().unwrap(),
        )
    }

    pub(crate) async fn delete(&self, id: &str) {
        http(self.addr, "DELETE", &format!("/api/engines/{id}"), None).await;
    }
}

pub(crate) fn lab_config() -> socketlab::Config {
    let mut c = socketlab::Config::default();
    c.limits.max_connections = 20_000;
    c.limits.max_viewers = 256;
    c.limits.max_engines = 256;
    c
}

/// The instructor's token of the class server the class figures run.
pub(crate) const CLASS_TOKEN: &str = "bench-class-token-0123456789abcdef";

/// A class server with its defaults (per-workspace limits, port blocks, 50 MB/s each).
pub(crate) fn class_config() -> socketlab::Config {
    let mut c = lab_config();
    c.access.token = Some(CLASS_TOKEN.into());
    c.class = Some(socketlab::config::ClassConfig::default());
    c
}

/// The baseline: what a user would write instead, a few lines of tokio.
pub(crate) async fn baseline_tcp() -> SocketAddr {
    // The same listen() backlog the socketlab engines get, so accept rates compare.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_reuseaddr(true).unwrap();
    sock.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let l = sock.listen(4096).unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

pub(crate) async fn baseline_udp() -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = s.recv_from(&mut buf).await {
            let _ = s.send_to(&buf[..n], from).await;
        }
    });
    addr
}

/// socat as an echo server, when installed.
pub(crate) struct Socat {
    pub(crate) child: tokio::process::Child,
    pub(crate) addr: SocketAddr,
}

impl Socat {
    pub(crate) async fn start(udp: bool) -> Option<Socat> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let listen = if udp {
            format!("UDP-LISTEN:{port},fork,reuseaddr,bind=127.0.0.1")
        } else {
            format!("TCP-LISTEN:{port},fork,reuseaddr,bind=127.0.0.1,backlog=4096")
        };
        // Its own process group: socat forks a child (and a cat) per peer, and they must all go.
        let child = tokio::process::Command::new("socat")
            .args([listen.as_str(), "EXEC:cat"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .ok()?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        tokio::time::sleep(Duration::from_millis(150)).await;
        if !udp {
            for _ in 0..50 {
                if TcpStream::connect(addr).await.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Some(Socat { child, addr })
    }
}

impl Drop for Socat {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) with a negative pid signals the process group socat leads.
            unsafe {
                libc::kill(-(pid as i32), libc::SIGKILL);
            }
        }
        let _ = self.child.start_kill();
    }
}

/// A server alone in a child process, for its resident memory.
pub(crate) struct Child {
    pub(crate) child: tokio::process::Child,
    pub(crate) addr: SocketAddr,
}

/// This bench's binary run again with `args` (a server or an attack in a process of its own),
/// and the first line it prints once it is ready.
pub(crate) async fn this_bench(args: &[&str]) -> (tokio::process::Child, String) {
    let exe = std::env::current_exe().unwrap();
    let mut child = tokio::process::Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).await.unwrap();
    (child, line)
}

impl Child {
    pub(crate) async fn start(what: &str) -> Child {
        let (child, line) = this_bench(&["--serve", what]).await;
        let addr = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("child said {line:?}"));
        Child { child, addr }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }
}

pub(crate) async fn serve_child(what: &str) {
    match what {
        "socketlab" => {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            println!("{}", l.local_addr().unwrap());
            socketlab::serve(l, lab_config(), std::future::pending())
                .await
                .unwrap();
        }
        "socketlab-class" => {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            println!("{}", l.local_addr().unwrap());
            socketlab::serve(l, class_config(), std::future::pending())
                .await
                .unwrap();
        }
        "baseline-udp" => {
            let addr = baseline_udp().await;
            println!("{addr}");
            std::future::pending::<()>().await;
        }
        _ => {
            let addr = baseline_tcp().await;
            println!("{addr}");
            std::future::pending::<()>().await;
        }
    }
}
