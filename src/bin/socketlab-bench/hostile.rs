//! A quiet workspace beside a hostile one: the quiet student's echo round trips while the
//! neighbour runs each attack of the bounds issue, as a ratio to the same with the
//! neighbour idle (the socketlab column is with the attack, the baseline column without).
//! The class server runs alone in a child process, as a lab server would, and each attack in
//! another (`--attack`), so the attack's own work does not slow the measuring client: only
//! what the attack does to the server shows.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Plan;
use crate::figure::{Figure, lat_extra};
use crate::load::tcp_pingpong_each;
use crate::servers::{CLASS_TOKEN, Child, Who, http_as};

/// One student of the class: a credential.
async fn join(addr: SocketAddr, code: &str, name: &str) -> String {
    crate::class::join(addr, code, name).await.cred
}

async fn engine(addr: SocketAddr, cred: &str, spec: Value) -> (String, SocketAddr) {
    let (st, v) = http_as(addr, Some(cred), "POST", "/api/engines", Some(&spec)).await;
    assert_eq!(st, 201, "{spec}: {v}");
    (
        v["id"].as_str().unwrap().to_string(),
        v["local"].as_str().unwrap().parse().unwrap(),
    )
}

/// What a hostile neighbour does.
#[derive(Debug, Clone, Copy)]
enum Attack {
    /// Two regex rules that take a second per 8 KiB, fed 64 KiB chunks on four connections.
    Regex,
    /// Four callers looping on `/layers` of an event deep in a long connection.
    Layers,
    /// 1,000 half-sent HTTP requests held open.
    Slowloris,
    /// 40 connections whose every recv() asks for a gigabyte reply, and that never read.
    Replies,
    /// Looping pcap exports of a long history.
    Pcap,
}

impl Attack {
    const ALL: [Attack; 5] = [
        Attack::Regex,
        Attack::Layers,
        Attack::Slowloris,
        Attack::Replies,
        Attack::Pcap,
    ];

    fn key(self) -> &'static str {
        match self {
            Self::Regex => "regex",
            Self::Layers => "layers",
            Self::Slowloris => "slowloris",
            Self::Replies => "replies",
            Self::Pcap => "pcap",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Regex => "slow regex rules",
            Self::Layers => "4 looping /layers callers",
            Self::Slowloris => "1,000 half-sent HTTP requests",
            Self::Replies => "40 non-reading clients asking for huge replies",
            Self::Pcap => "looping pcap exports",
        }
    }
}

/// The attack process: `socketlab-bench --attack KEY --at ADDR --cred CRED` sets its attack
/// up in the workspace of CRED, says `ready`, and attacks until it is killed.
pub(crate) async fn attack_child(key: &str, at: &str, cred: &str) {
    let attack = Attack::ALL
        .into_iter()
        .find(|a| a.key() == key)
        .unwrap_or_else(|| panic!("no attack {key}"));
    let addr: SocketAddr = at.parse().expect("--at HOST:PORT");
    let task = launch(addr, cred.to_string(), attack).await;
    println!("ready");
    let _ = task.await;
}

/// Runs `attack` from the workspace of `cred` in a process of its own, once it is ready.
async fn spawn_attack(addr: SocketAddr, cred: &str, attack: Attack) -> tokio::process::Child {
    let at = addr.to_string();
    let (child, line) =
        crate::servers::this_bench(&["--attack", attack.key(), "--at", &at, "--cred", cred]).await;
    assert_eq!(line.trim(), "ready", "the {} attack started", attack.key());
    child
}

/// Starts `attack` from the neighbour's workspace; it runs until the task is aborted.
async fn launch(addr: SocketAddr, cred: String, attack: Attack) -> tokio::task::JoinHandle<()> {
    match attack {
        Attack::Regex => {
            let rules = json!([
                {"match": "regex", "pattern": "(.*){1000}Q", "reply": "a"},
                {"match": "regex", "pattern": "(.*){1000}Q", "reply": "b"},
            ]);
            let (_, at) = engine(
                addr,
                &cred,
                json!({"kind": "tcp-server", "bind": "127.0.0.1:0",
                "behavior": "echo", "options": {"recv_size": 65536, "rules": rules}}),
            )
            .await;
            tokio::spawn(async move {
                let mut conns = Vec::new();
                for _ in 0..4 {
                    conns.push(TcpStream::connect(at).await.unwrap());
                }
                let chunk = [vec![b'a'; 8191], vec![b'\n']].concat().repeat(8);
                loop {
                    for c in &mut conns {
                        let _ =
                            tokio::time::timeout(Duration::from_millis(50), c.write_all(&chunk))
                                .await;
                    }
                }
            })
        }
        Attack::Layers | Attack::Pcap => {
            let (id, at) = engine(
                addr,
                &cred,
                json!({"kind": "tcp-server", "bind": "127.0.0.1:0",
                "behavior": "echo", "options": {"recv_size": 1}}),
            )
            .await;
            let mut c = TcpStream::connect(at).await.unwrap();
            c.write_all(&[b'z'; 20_000]).await.unwrap();
            let mut back = vec![0u8; 20_000];
            c.read_exact(&mut back).await.unwrap();
            let (_, v) = http_as(
                addr,
                Some(&cred),
                "GET",
                &format!("/api/events?engine={id}&before=1000000000&limit=1"),
                None,
            )
            .await;
            let path = match attack {
                Attack::Layers => format!("/api/events/{}/layers", v["events"][0]["seq"]),
                _ => format!("/api/engines/{id}/capture.pcap"),
            };
            tokio::spawn(async move {
                let _keep = c;
                let callers = (0..4).map(|_| {
                    let (cred, path) = (cred.clone(), path.clone());
                    async move {
                        loop {
                            http_as(addr, Some(&cred), "GET", &path, None).await;
                        }
                    }
                });
                futures_util::future::join_all(callers).await;
            })
        }
        Attack::Slowloris => tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                if held.len() < 1000
                    && let Ok(mut s) = TcpStream::connect(addr).await
                {
                    let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await;
                    held.push(s);
                    continue;
                }
                // Closed ones (timed out or evicted) are opened again, twice a second: the
                // attacker's own sweeps must not be what slows the machine.
                tokio::time::sleep(Duration::from_millis(500)).await;
                held.retain(|s| {
                    let mut b = [0u8; 1];
                    !matches!(s.try_read(&mut b), Ok(0) | Ok(1))
                });
            }
        }),
        Attack::Replies => {
            let rule = json!([{"match": "regex", "pattern": "^$", "reply": "x".repeat(65536)}]);
            let (_, at) = engine(
                addr,
                &cred,
                json!({"kind": "tcp-server", "bind": "127.0.0.1:0",
                "behavior": "echo", "options": {"rules": rule}}),
            )
            .await;
            tokio::spawn(async move {
                let mut held = Vec::new();
                for _ in 0..40 {
                    let mut s = TcpStream::connect(at).await.unwrap();
                    s.write_all(&[b'\n'; 1024]).await.unwrap();
                    held.push(s);
                }
                std::future::pending::<()>().await;
            })
        }
    }
}

pub(crate) async fn run_hostile(plan: Plan, figures: &mut Vec<Figure>) {
    let attacks = Attack::ALL;
    let mut figs: Vec<Figure> = attacks
        .iter()
        .map(|a| {
            Figure::new(
                format!(
                    "hostile: a quiet workspace's echo (8 connections) beside {}",
                    a.name()
                ),
                "round trips/s (with / without)",
                true,
            )
        })
        .collect();
    for r in 0..plan.rounds {
        let child = Child::start("socketlab-class").await;
        let addr = child.addr;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (_, me) = http_as(addr, Some(CLASS_TOKEN), "GET", "/api/workspace", None).await;
        let code = me["class"]["code"].as_str().unwrap().to_string();
        let quiet = join(addr, &code, "quiet").await;
        let (_, echo) = engine(
            addr,
            &quiet,
            json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo"}),
        )
        .await;
        // Eight connections, not one: a single ping-pong's rate depends on whether its two
        // ends happen to share a core, which would be most of what a ratio showed.
        let quiet_conns = [echo; 8];
        for (i, &attack) in attacks.iter().enumerate() {
            let (rate, rtt) = tcp_pingpong_each(&quiet_conns, plan.run).await;
            figs[i].cell(Who::Baseline).push(rate, lat_extra(rtt));
            let hostile = join(addr, &code, &format!("hostile {i}")).await;
            let mut attacker = spawn_attack(addr, &hostile, attack).await;
            // Let the attack get going before measuring beside it.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let (rate, rtt) = tcp_pingpong_each(&quiet_conns, plan.run).await;
            figs[i].cell(Who::Socketlab).push(rate, lat_extra(rtt));
            let _ = attacker.kill().await;
        }
        drop(child);
        eprintln!("  hostile round {}/{} done", r + 1, plan.rounds);
    }
    figures.extend(figs);
}
