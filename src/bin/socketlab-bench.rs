//! socketlab-bench: socketlab's engines against a bare tokio echo server (the baseline) and
//! socat, driven by the same load generator in alternating rounds, so machine drift cancels.
//!
//! `cargo run --release --bin socketlab-bench -- [--quick] [--json FILE]`
//!
//! socketlab runs in this process with events on and one WebSocket viewer reading everything;
//! the baseline is a few lines of tokio in this process too; socat runs when installed. The
//! "connections held" figure runs each server in a child process of its own, so its resident
//! memory is the server's alone. All traffic stays on 127.0.0.1.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime};

use clap::Parser;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_tungstenite::tungstenite::Message;

/// Benchmark socketlab against bare tokio and socat.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// A short run (under a minute) that keeps the harness from rotting.
    #[arg(long)]
    quick: bool,
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Rounds per figure (default 5, quick 3); each figure is the median of its rounds.
    #[arg(long)]
    rounds: Option<usize>,
    /// Diagnostic: no WebSocket viewer on socketlab's engines, to see the engine's own cost.
    #[arg(long)]
    no_viewer: bool,
    /// Run only these groups: tcp, udp, held, events, stuck (repeatable; default all).
    #[arg(long)]
    only: Vec<String>,
    /// Internal: serve `socketlab` or `baseline` alone in this process (connections held).
    #[arg(long, hide = true)]
    serve: Option<String>,
}

/// How long and how big, full or quick.
#[derive(Debug, Clone, Copy)]
struct Plan {
    rounds: usize,
    run: Duration,
    held: usize,
    /// A viewer on socketlab's engines (off only to profile the engine alone).
    viewer: bool,
}

// ---------------------------------------------------------------------------------------
// Servers under test

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Socketlab,
    Baseline,
    Socat,
}

/// A socketlab dashboard, reached over its HTTP API like any script would.
#[derive(Clone)]
struct Lab {
    addr: SocketAddr,
}

async fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
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
    async fn start() -> Lab {
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
    async fn engine(&self, spec: Value) -> (String, SocketAddr) {
        let (st, v) = http(self.addr, "POST", "/api/engines", Some(&spec)).await;
        assert_eq!(st, 201, "create {spec}: {v}");
        (
            v["id"].as_str().unwrap().to_string(),
            v["local"].as_str().unwrap().parse().unwrap(),
        )
    }

    async fn delete(&self, id: &str) {
        http(self.addr, "DELETE", &format!("/api/engines/{id}"), None).await;
    }
}

fn lab_config() -> socketlab::Config {
    let mut c = socketlab::Config::default();
    c.limits.max_connections = 20_000;
    c.limits.max_viewers = 256;
    c.limits.max_engines = 256;
    c
}

/// The baseline: what a user would write instead, a few lines of tokio.
async fn baseline_tcp() -> SocketAddr {
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

async fn baseline_udp() -> SocketAddr {
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
struct Socat {
    child: tokio::process::Child,
    addr: SocketAddr,
}

impl Socat {
    async fn start(udp: bool) -> Option<Socat> {
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

// ---------------------------------------------------------------------------------------
// Viewers

/// A WebSocket viewer of one engine that reads everything.
struct Viewer {
    events: Arc<AtomicU64>,
    missed: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Viewer {
    async fn attach(
        lab: &Lab,
        engine: &str,
        latencies: Option<Arc<std::sync::Mutex<Vec<u64>>>>,
    ) -> Viewer {
        let url = format!("ws://{}/ws?engine={engine}", lab.addr);
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("viewer connects");
        let events = Arc::new(AtomicU64::new(0));
        let missed = Arc::new(AtomicU64::new(0));
        let (e, m) = (events.clone(), missed.clone());
        let task = tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                let Message::Text(t) = msg else { continue };
                let t = t.as_str();
                if t.starts_with("{\"kind\":\"lagged\"") {
                    let v: Value = serde_json::from_str(t).unwrap_or(Value::Null);
                    m.fetch_add(v["missed"].as_u64().unwrap_or(0), Relaxed);
                    continue;
                }
                if !t.contains("\"kind\":\"received\"") {
                    continue;
                }
                e.fetch_add(1, Relaxed);
                if let Some(lat) = &latencies {
                    let now = SystemTime::now();
                    let v: Value = serde_json::from_str(t).unwrap_or(Value::Null);
                    if let Some(at) = v["time"]
                        .as_str()
                        .and_then(|s| humantime::parse_rfc3339(s).ok())
                        && let Ok(d) = now.duration_since(at)
                    {
                        lat.lock().unwrap().push(d.as_micros() as u64);
                    }
                }
            }
        });
        Viewer {
            events,
            missed,
            task,
        }
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------------------
// Load generators (the same for every server)

/// Ping-pong with 64-byte messages on `conns` connections for `run`: round trips/s and
/// every round trip's latency in µs.
async fn tcp_pingpong(addr: SocketAddr, conns: usize, run: Duration) -> (f64, Vec<u64>) {
    let start = Instant::now();
    let deadline = start + run;
    let mut tasks = Vec::new();
    for _ in 0..conns {
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            let msg = [b'p'; 64];
            let mut back = [0u8; 64];
            let mut lat = Vec::with_capacity(100_000);
            while Instant::now() < deadline {
                let t = Instant::now();
                s.write_all(&msg).await.unwrap();
                s.read_exact(&mut back).await.unwrap();
                lat.push(t.elapsed().as_micros() as u64);
            }
            let _ = s.set_zero_linger();
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let rate = all.len() as f64 / start.elapsed().as_secs_f64();
    (rate, all)
}

/// 64 KiB writes on one connection for `run`, echoed back: Gbit/s of echo received.
async fn tcp_bulk(addr: SocketAddr, run: Duration) -> f64 {
    let s = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let start = Instant::now();
    let writer = tokio::spawn(async move {
        let chunk = vec![b'b'; 65536];
        let mut sent = 0u64;
        while start.elapsed() < run {
            wr.write_all(&chunk).await.unwrap();
            sent += chunk.len() as u64;
        }
        wr.shutdown().await.unwrap();
        sent
    });
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0u64;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), rd.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => got += n as u64,
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let sent = writer.await.unwrap();
    if got < sent {
        eprintln!("  warning: bulk echo returned {got} of {sent} bytes");
    }
    got as f64 * 8.0 / secs / 1e9
}

/// 64-byte datagrams ping-ponged on `sockets` sockets for `run`: datagrams/s echoed, and
/// the fraction lost (no echo within 100 ms).
async fn udp_echo(addr: SocketAddr, sockets: usize, run: Duration) -> (f64, f64) {
    let start = Instant::now();
    let deadline = start + run;
    let mut tasks = Vec::new();
    for _ in 0..sockets {
        tasks.push(tokio::spawn(async move {
            let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let (mut ok, mut lost) = (0u64, 0u64);
            let mut msg = [b'u'; 64];
            let mut back = [0u8; 128];
            let mut seq = 0u64;
            while Instant::now() < deadline {
                seq += 1;
                msg[..8].copy_from_slice(&seq.to_le_bytes());
                s.send_to(&msg, addr).await.unwrap();
                let wait = tokio::time::Instant::now() + Duration::from_millis(100);
                loop {
                    match tokio::time::timeout_at(wait, s.recv_from(&mut back)).await {
                        Ok(Ok((n, _))) if n >= 8 && back[..8] == seq.to_le_bytes() => {
                            ok += 1;
                            break;
                        }
                        Ok(Ok(_)) => continue,
                        _ => {
                            lost += 1;
                            break;
                        }
                    }
                }
            }
            (ok, lost)
        }));
    }
    let (mut ok, mut lost) = (0, 0);
    for t in tasks {
        let (o, l) = t.await.unwrap();
        ok += o;
        lost += l;
    }
    (
        ok as f64 / start.elapsed().as_secs_f64(),
        lost as f64 / (ok + lost).max(1) as f64,
    )
}

/// Sends 64-byte datagrams at `rate` per second (0 = as fast as possible) for `run`.
async fn udp_blast(addr: SocketAddr, rate: u64, run: Duration) -> u64 {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let msg = [b'e'; 64];
    let start = Instant::now();
    let mut sent = 0u64;
    if rate == 0 {
        while start.elapsed() < run {
            for _ in 0..64 {
                if s.send_to(&msg, addr).await.is_ok() {
                    sent += 1;
                }
            }
            tokio::task::yield_now().await;
        }
        return sent;
    }
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while start.elapsed() < run {
        tick.tick().await;
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        while sent < due {
            let _ = s.send_to(&msg, addr).await;
            sent += 1;
        }
    }
    sent
}

// ---------------------------------------------------------------------------------------
// Figures

#[derive(Debug, Clone, Default)]
struct Cell {
    /// One value per round.
    values: Vec<f64>,
    /// Extra measures per round (p50, p99, loss, ...), reported from the median round.
    extra: Vec<BTreeMap<String, f64>>,
}

impl Cell {
    fn push(&mut self, v: f64, extra: BTreeMap<String, f64>) {
        self.values.push(v);
        self.extra.push(extra);
    }

    fn median_index(&self) -> Option<usize> {
        let mut idx: Vec<usize> = (0..self.values.len()).collect();
        idx.sort_by(|a, b| self.values[*a].total_cmp(&self.values[*b]));
        idx.get(idx.len() / 2).copied()
    }

    fn median(&self) -> Option<f64> {
        self.median_index().map(|i| self.values[i])
    }

    fn json(&self) -> Value {
        let Some(i) = self.median_index() else {
            return Value::Null;
        };
        let min = self.values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = self
            .values
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        json!({"median": self.values[i], "min": min, "max": max, "rounds": self.values, "at_median": self.extra[i]})
    }
}

struct Figure {
    name: String,
    unit: &'static str,
    higher_is_better: bool,
    cells: BTreeMap<Who, Cell>,
}

impl Figure {
    fn new(name: impl Into<String>, unit: &'static str, higher_is_better: bool) -> Self {
        Self {
            name: name.into(),
            unit,
            higher_is_better,
            cells: BTreeMap::new(),
        }
    }

    fn cell(&mut self, who: Who) -> &mut Cell {
        self.cells.entry(who).or_default()
    }

    /// socketlab / baseline, for a higher-is-better figure; baseline / socketlab otherwise,
    /// so above 1 always means socketlab did better.
    fn ratio(&self) -> Option<f64> {
        let s = self.cells.get(&Who::Socketlab)?.median()?;
        let b = self.cells.get(&Who::Baseline)?.median()?;
        if self.higher_is_better {
            Some(s / b)
        } else {
            Some(b / s)
        }
    }

    fn json(&self) -> Value {
        json!({
            "figure": self.name,
            "unit": self.unit,
            "higher_is_better": self.higher_is_better,
            "socketlab": self.cells.get(&Who::Socketlab).map(Cell::json),
            "baseline": self.cells.get(&Who::Baseline).map(Cell::json),
            "socat": self.cells.get(&Who::Socat).map(Cell::json),
            "ratio": self.ratio(),
        })
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64
}

fn lat_extra(mut lat: Vec<u64>) -> BTreeMap<String, f64> {
    lat.sort_unstable();
    BTreeMap::from([
        ("p50_us".to_string(), percentile(&lat, 0.50)),
        ("p99_us".to_string(), percentile(&lat, 0.99)),
        ("p999_us".to_string(), percentile(&lat, 0.999)),
    ])
}

/// The order servers run in, rotated each round so none always goes first.
fn order(round: usize, who: &[Who]) -> Vec<Who> {
    let mut v = who.to_vec();
    let n = v.len();
    v.rotate_left(round % n);
    v
}

fn rss_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

async fn run_tcp_figures(lab: &Lab, plan: Plan, figures: &mut Vec<Figure>) {
    let base = baseline_tcp().await;
    let socat = Socat::start(false).await;
    let mut who = vec![Who::Socketlab, Who::Baseline];
    if socat.is_some() {
        who.push(Who::Socat);
    }
    let (pp_id, pp_addr) = lab.engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo", "options": {"backlog": 1024}})).await;
    let _pp_viewer = if plan.viewer {
        Some(Viewer::attach(lab, &pp_id, None).await)
    } else {
        None
    };
    let (bulk_id, bulk_addr) = lab
        .engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo", "options": {"recv_size": 65536}}))
        .await;
    let _bulk_viewer = if plan.viewer {
        Some(Viewer::attach(lab, &bulk_id, None).await)
    } else {
        None
    };
    let addr = |w: Who, bulk: bool| match w {
        Who::Socketlab => {
            if bulk {
                bulk_addr
            } else {
                pp_addr
            }
        }
        Who::Baseline => base,
        Who::Socat => socat.as_ref().unwrap().addr,
    };
    let mut one = Figure::new("TCP ping-pong, 1 connection", "round trips/s", true);
    let mut hundred = Figure::new("TCP ping-pong, 100 connections", "msgs/s", true);
    let mut bulk = Figure::new("TCP bulk, 64 KiB writes echoed", "Gbit/s", true);
    for r in 0..plan.rounds {
        for w in order(r, &who) {
            let (rate, lat) = tcp_pingpong(addr(w, false), 1, plan.run).await;
            one.cell(w).push(rate, lat_extra(lat));
            let (rate, lat) = tcp_pingpong(addr(w, false), 100, plan.run).await;
            hundred.cell(w).push(rate, lat_extra(lat));
            let g = tcp_bulk(addr(w, true), plan.run).await;
            bulk.cell(w).push(g, BTreeMap::new());
        }
        eprintln!("  tcp round {}/{} done", r + 1, plan.rounds);
    }
    lab.delete(&pp_id).await;
    lab.delete(&bulk_id).await;
    figures.extend([one, hundred, bulk]);
}

async fn run_udp_figures(lab: &Lab, plan: Plan, figures: &mut Vec<Figure>) {
    let base = baseline_udp().await;
    let socat = Socat::start(true).await;
    let mut who = vec![Who::Socketlab, Who::Baseline];
    if socat.is_some() {
        who.push(Who::Socat);
    }
    let (id, lab_addr) = lab
        .engine(json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "echo"}))
        .await;
    let _viewer = if plan.viewer {
        Some(Viewer::attach(lab, &id, None).await)
    } else {
        None
    };
    let addr = |w: Who| match w {
        Who::Socketlab => lab_addr,
        Who::Baseline => base,
        Who::Socat => socat.as_ref().unwrap().addr,
    };
    let mut one = Figure::new("UDP echo, 1 socket", "datagrams/s", true);
    let mut hundred = Figure::new("UDP echo, 100 sockets", "datagrams/s", true);
    for r in 0..plan.rounds {
        for w in order(r, &who) {
            let (rate, loss) = udp_echo(addr(w), 1, plan.run).await;
            one.cell(w)
                .push(rate, BTreeMap::from([("loss".to_string(), loss)]));
            let (rate, loss) = udp_echo(addr(w), 100, plan.run).await;
            hundred
                .cell(w)
                .push(rate, BTreeMap::from([("loss".to_string(), loss)]));
        }
        eprintln!("  udp round {}/{} done", r + 1, plan.rounds);
    }
    lab.delete(&id).await;
    figures.extend([one, hundred]);
}

/// A server alone in a child process, for its resident memory.
struct Child {
    child: tokio::process::Child,
    addr: SocketAddr,
}

impl Child {
    async fn start(what: &str) -> Child {
        let exe = std::env::current_exe().unwrap();
        let mut child = tokio::process::Command::new(exe)
            .args(["--serve", what])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).await.unwrap();
        let addr = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("child said {line:?}"));
        Child { child, addr }
    }

    fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }
}

/// Opens `n` idle connections (from several 127.x source addresses so ports do not run
/// short), pings each once so every one is accepted and served, and returns them with the
/// accept rate.
async fn hold(addr: SocketAddr, n: usize) -> (Vec<TcpStream>, f64) {
    let start = Instant::now();
    let mut conns = Vec::with_capacity(n);
    let mut pending = Vec::new();
    for i in 0..n {
        let src: SocketAddr = ([127, 0, 1, 1 + (i / 20_000) as u8], 0).into();
        pending.push(tokio::spawn(async move {
            let sock = tokio::net::TcpSocket::new_v4().unwrap();
            sock.bind(src).unwrap();
            let mut s = sock.connect(addr).await.unwrap();
            s.write_all(b"h").await.unwrap();
            let mut b = [0u8; 1];
            s.read_exact(&mut b).await.unwrap();
            s
        }));
        if pending.len() == 256 {
            for p in pending.drain(..) {
                conns.push(p.await.unwrap());
            }
        }
    }
    for p in pending {
        conns.push(p.await.unwrap());
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    (conns, rate)
}

async fn run_held(plan: Plan, figures: &mut Vec<Figure>) {
    let mut fig = Figure::new(
        format!("{} idle TCP connections held", plan.held),
        "bytes RSS/connection",
        false,
    );
    let mut rate_fig = Figure::new(
        format!("accept rate, {} connections", plan.held),
        "connections/s",
        true,
    );
    for r in 0..plan.rounds {
        for w in order(r, &[Who::Socketlab, Who::Baseline]) {
            let child = Child::start(if w == Who::Socketlab {
                "socketlab"
            } else {
                "baseline"
            })
            .await;
            let target = if w == Who::Socketlab {
                let spec = json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo",
                                  "options": {"backlog": 4096, "max_clients": 20_000}});
                let (st, v) = http(child.addr, "POST", "/api/engines", Some(&spec)).await;
                assert_eq!(st, 201, "{v}");
                v["local"].as_str().unwrap().parse().unwrap()
            } else {
                child.addr
            };
            tokio::time::sleep(Duration::from_millis(200)).await;
            let before = rss_of(child.pid());
            let (conns, rate) = hold(target, plan.held).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let after = rss_of(child.pid());
            let per = after.saturating_sub(before) as f64 / plan.held as f64;
            fig.cell(w).push(
                per,
                BTreeMap::from([
                    ("rss_before".into(), before as f64),
                    ("rss_after".into(), after as f64),
                ]),
            );
            rate_fig.cell(w).push(rate, BTreeMap::new());
            for c in conns {
                let _ = c.set_zero_linger();
            }
        }
        eprintln!("  held round {}/{} done", r + 1, plan.rounds);
    }
    figures.extend([fig, rate_fig]);
}

async fn run_event_figures(lab: &Lab, plan: Plan, figures: &mut Vec<Figure>) {
    // Event latency: from the engine's received event to the viewer's frame.
    for (label, rate) in [("1k", 1_000u64), ("10k", 10_000), ("max", 0)] {
        let mut fig = Figure::new(
            format!("event latency at {label} events/s, 1 viewer"),
            "µs p99",
            false,
        );
        for _ in 0..plan.rounds {
            let (id, addr) = lab
                .engine(json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "discard"}))
                .await;
            let lat = Arc::new(std::sync::Mutex::new(Vec::new()));
            let viewer = Viewer::attach(lab, &id, Some(lat.clone())).await;
            let sent = udp_blast(addr, rate, plan.run).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut extra = lat_extra(std::mem::take(&mut *lat.lock().unwrap()));
            extra.insert(
                "events_per_s".into(),
                viewer.events.load(Relaxed) as f64 / plan.run.as_secs_f64(),
            );
            extra.insert("sent".into(), sent as f64);
            extra.insert("missed".into(), viewer.missed.load(Relaxed) as f64);
            let p99 = extra["p99_us"];
            fig.cell(Who::Socketlab).push(p99, extra);
            drop(viewer);
            lab.delete(&id).await;
        }
        figures.push(fig);
    }
    // Fan-out: 1, 10 and 100 viewers of one engine at 1k events/s.
    for viewers in [1usize, 10, 100] {
        let mut fig = Figure::new(
            format!("fan-out to {viewers} viewers at 1k events/s"),
            "min share delivered",
            true,
        );
        for _ in 0..plan.rounds {
            let (id, addr) = lab
                .engine(json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "discard"}))
                .await;
            let mut vs = Vec::new();
            for _ in 0..viewers {
                vs.push(Viewer::attach(lab, &id, None).await);
            }
            let sent = udp_blast(addr, 1_000, plan.run).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            let counts: Vec<u64> = vs.iter().map(|v| v.events.load(Relaxed)).collect();
            let missed: u64 = vs.iter().map(|v| v.missed.load(Relaxed)).sum();
            let min = counts.iter().copied().min().unwrap_or(0) as f64 / sent.max(1) as f64;
            let total: u64 = counts.iter().sum();
            let extra = BTreeMap::from([
                (
                    "delivered_events_per_s".to_string(),
                    total as f64 / plan.run.as_secs_f64(),
                ),
                ("lagged_missed".to_string(), missed as f64),
                ("sent".to_string(), sent as f64),
            ]);
            fig.cell(Who::Socketlab).push(min, extra);
            drop(vs);
            lab.delete(&id).await;
        }
        figures.push(fig);
    }
}

async fn run_stuck(lab: &Lab, plan: Plan, figures: &mut Vec<Figure>) {
    let mut fig = Figure::new(
        "stuck viewer beside TCP bulk",
        "Gbit/s (with / without)",
        true,
    );
    let (id, addr) = lab
        .engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo", "options": {"recv_size": 65536}}))
        .await;
    let _reader = Viewer::attach(lab, &id, None).await;
    let me = std::process::id();
    for r in 0..plan.rounds {
        for stuck in if r % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        } {
            let before = rss_of(me);
            // Connected and subscribed, then never read: its socket fills and it lags.
            let never_read = if stuck {
                Some(
                    tokio_tungstenite::connect_async(format!("ws://{}/ws?engine={id}", lab.addr))
                        .await
                        .unwrap(),
                )
            } else {
                None
            };
            let g = tcp_bulk(addr, plan.run).await;
            let grown = rss_of(me).saturating_sub(before) as f64;
            drop(never_read);
            let who = if stuck { Who::Socketlab } else { Who::Baseline };
            fig.cell(who)
                .push(g, BTreeMap::from([("rss_growth_bytes".to_string(), grown)]));
        }
    }
    lab.delete(&id).await;
    figures.push(fig);
}

// ---------------------------------------------------------------------------------------
// Report

fn human(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    if v.abs() >= 100.0 {
        let s = format!("{:.0}", v);
        let bytes = s.as_bytes();
        let mut out = String::new();
        for (i, c) in bytes.iter().enumerate() {
            if i > 0 && (bytes.len() - i) % 3 == 0 && *c != b'-' {
                out.push(',');
            }
            out.push(*c as char);
        }
        out
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn cell_text(f: &Figure, w: Who) -> String {
    let Some(c) = f.cells.get(&w) else {
        return "n/a".into();
    };
    let Some(i) = c.median_index() else {
        return "n/a".into();
    };
    let min = c.values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = c.values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut s = format!("{} [{}–{}]", human(c.values[i]), human(min), human(max));
    let e = &c.extra[i];
    if let (Some(p50), Some(p99)) = (e.get("p50_us"), e.get("p99_us")) {
        s.push_str(&format!(" p50 {} p99 {}", human(*p50), human(*p99)));
    }
    if let Some(l) = e.get("loss") {
        s.push_str(&format!(" loss {:.2}%", l * 100.0));
    }
    s
}

fn print_table(figures: &[Figure]) {
    println!(
        "{:<44} | {:<40} | {:<40} | {:<40} | ratio",
        "figure (unit)", "socketlab median [min–max]", "baseline", "socat"
    );
    println!("{}", "-".repeat(180));
    for f in figures {
        let ratio = f
            .ratio()
            .map(|r| format!("{r:.3}"))
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<44} | {:<40} | {:<40} | {:<40} | {}",
            format!("{} ({})", f.name, f.unit),
            cell_text(f, Who::Socketlab),
            cell_text(f, Who::Baseline),
            cell_text(f, Who::Socat),
            ratio
        );
    }
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_default();
    json!({"cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), "cpu": cpu, "os": std::env::consts::OS})
}

fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

async fn serve_child(what: &str) {
    match what {
        "socketlab" => {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            println!("{}", l.local_addr().unwrap());
            socketlab::serve(l, lab_config(), std::future::pending())
                .await
                .unwrap();
        }
        _ => {
            let addr = baseline_tcp().await;
            println!("{addr}");
            std::future::pending::<()>().await;
        }
    }
}

fn main() {
    let args = Args::parse();
    raise_fd_limit();
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    if let Some(what) = &args.serve {
        rt.block_on(serve_child(what));
        return;
    }
    let plan = if args.quick {
        Plan {
            rounds: args.rounds.unwrap_or(3),
            run: Duration::from_millis(300),
            held: 500,
            viewer: !args.no_viewer,
        }
    } else {
        Plan {
            rounds: args.rounds.unwrap_or(5),
            run: Duration::from_secs(2),
            held: 10_000,
            viewer: !args.no_viewer,
        }
    };
    let started = Instant::now();
    let figures = rt.block_on(async {
        let lab = Lab::start().await;
        let mut figures = Vec::new();
        eprintln!(
            "socketlab-bench: {} rounds of {:?} per figure",
            plan.rounds, plan.run
        );
        let want = |g: &str| args.only.is_empty() || args.only.iter().any(|o| o == g);
        if want("tcp") {
            run_tcp_figures(&lab, plan, &mut figures).await;
        }
        if want("udp") {
            run_udp_figures(&lab, plan, &mut figures).await;
        }
        if want("held") {
            run_held(plan, &mut figures).await;
        }
        if want("events") {
            run_event_figures(&lab, plan, &mut figures).await;
        }
        if want("stuck") {
            run_stuck(&lab, plan, &mut figures).await;
        }
        figures
    });
    print_table(&figures);
    println!(
        "\n(stuck viewer: the socketlab column is with a viewer that never reads, the baseline column without it)"
    );
    println!("finished in {:.1} s", started.elapsed().as_secs_f64());
    if let Some(path) = &args.json {
        let out = json!({
            "command": std::env::args().collect::<Vec<_>>().join(" "),
            "quick": args.quick,
            "rounds": plan.rounds,
            "seconds_per_run": plan.run.as_secs_f64(),
            "machine": machine(),
            "socat": which_socat(),
            "figures": figures.iter().map(Figure::json).collect::<Vec<_>>(),
        });
        std::fs::write(path, serde_json::to_string_pretty(&out).unwrap())
            .expect("writing the JSON file");
    }
}

fn which_socat() -> bool {
    std::process::Command::new("socat")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
