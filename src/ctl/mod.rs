//! `socketlab ctl`: the API from a shell, for scripted demonstrations and graders. Each
//! command is one or two requests; an error prints the API's message on stderr and exits 1.

mod http;
mod watch;

use clap::{Parser, Subcommand};
use hyper::Method;
use serde_json::{Value, json};

pub use http::Remote;
pub use watch::line;

/// `socketlab ctl [--url URL] [--token T] COMMAND`
#[derive(Debug, Parser)]
#[command(
    name = "socketlab ctl",
    about = "Drive a running socketlab from the shell"
)]
pub struct Ctl {
    /// Where socketlab is.
    #[arg(long, env = "SOCKETLAB_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The access token (the instructor's, or a student's credential).
    #[arg(long, env = "SOCKETLAB_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the engines.
    Ls,
    /// Create and start an engine; prints its id.
    New {
        /// tcp-server, tcp-client, udp-server, udp-client, tcp-proxy, udp-proxy.
        kind: String,
        /// Address to bind (servers; default 127.0.0.1:0).
        #[arg(long)]
        bind: Option<String>,
        /// host:port to connect or send to, or an engine's id (its address is looked up).
        #[arg(long)]
        target: Option<String>,
        /// echo, uppercase, add, discard, greet, chat, file, manual, ...
        #[arg(long)]
        behavior: Option<String>,
        /// A label.
        #[arg(long)]
        name: Option<String>,
    },
    /// Start a stopped engine.
    Start {
        /// The engine's id.
        id: String,
    },
    /// Stop an engine (its port is free when this returns).
    Stop {
        /// The engine's id.
        id: String,
    },
    /// Stop and delete an engine.
    Rm {
        /// The engine's id.
        id: String,
    },
    /// Send bytes from an engine.
    Send {
        /// The engine's id.
        id: String,
        /// The data (text, or hex with --hex).
        data: String,
        /// DATA is hex.
        #[arg(long)]
        hex: bool,
        /// One connection of a server (c2), or * for all.
        #[arg(long)]
        conn: Option<String>,
        /// Half-close (shutdown(SHUT_WR)) after sending.
        #[arg(long)]
        shutdown: bool,
    },
    /// Print the event stream like the page's log (of one engine with ID), until Ctrl-C.
    Watch {
        /// Only this engine's events.
        id: Option<String>,
    },
    /// List the labs.
    Labs,
    /// Load a lab.
    Load {
        /// The lab's id (echo, add, ... or a saved one's).
        lab: String,
    },
    /// Save an engine's exchange as a pcap file.
    Pcap {
        /// The engine's id.
        id: String,
        /// Where to write it.
        #[arg(short, long)]
        output: std::path::PathBuf,
    },
    /// The class's workspaces (the instructor's table).
    Class,
}

/// Runs `socketlab ctl` with `args` (after `ctl`); the exit status.
pub async fn main(args: Vec<String>) -> i32 {
    let ctl = match Ctl::try_parse_from(std::iter::once("socketlab ctl".to_string()).chain(args)) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match run(ctl).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("socketlab ctl: {e}");
            1
        }
    }
}

fn seg(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c.to_string()
            } else {
                format!("%{:02X}", c as u32 & 0xff)
            }
        })
        .collect()
}

async fn run(ctl: Ctl) -> Result<(), http::Failure> {
    let r = Remote::new(&ctl.url, ctl.token)?;
    match ctl.command {
        Command::Ls => {
            let list = r.json(Method::GET, "/api/engines", None).await?;
            println!(
                "{:<5} {:<11} {:<10} {:<8} {:<21} {:<21} {:>5} {:>9} {:>9}",
                "ID", "KIND", "BEHAVIOR", "STATE", "LOCAL", "PEER", "CONNS", "IN", "OUT"
            );
            for e in list.as_array().into_iter().flatten() {
                let s = |k: &str| e[k].as_str().unwrap_or("-").to_string();
                let peer = e["peer"].as_str().or(e["target"].as_str()).unwrap_or("-");
                println!(
                    "{:<5} {:<11} {:<10} {:<8} {:<21} {:<21} {:>5} {:>9} {:>9}",
                    s("id"),
                    s("kind"),
                    s("behavior"),
                    s("state"),
                    s("local"),
                    peer,
                    e["stats"]["connections_open"].as_u64().unwrap_or(0),
                    e["stats"]["bytes_in"].as_u64().unwrap_or(0),
                    e["stats"]["bytes_out"].as_u64().unwrap_or(0)
                );
            }
        }
        Command::New {
            kind,
            bind,
            target,
            behavior,
            name,
        } => {
            let mut spec = json!({"kind": kind});
            if kind.ends_with("-server") || kind.ends_with("-proxy") {
                spec["bind"] = bind.unwrap_or_else(|| "127.0.0.1:0".into()).into();
            } else if let Some(b) = bind {
                spec["bind"] = b.into();
            }
            if let Some(t) = target {
                // An engine's id stands for its address: `--target e1`.
                let t = if t.starts_with('e')
                    && t[1..].chars().all(|c| c.is_ascii_digit())
                    && t.len() > 1
                {
                    let e = r
                        .json(Method::GET, &format!("/api/engines/{t}"), None)
                        .await?;
                    e["local"]
                        .as_str()
                        .ok_or_else(|| format!("engine {t} has no address (is it running?)"))?
                        .to_string()
                } else {
                    t
                };
                spec["target"] = t.into();
            }
            if let Some(b) = behavior {
                spec["behavior"] = b.into();
            }
            if let Some(n) = name {
                spec["name"] = n.into();
            }
            let e = r.json(Method::POST, "/api/engines", Some(&spec)).await?;
            println!("{}", e["id"].as_str().unwrap_or_default());
            eprintln!(
                "{}: {} {} on {}",
                e["id"].as_str().unwrap_or_default(),
                e["kind"].as_str().unwrap_or_default(),
                e["state"].as_str().unwrap_or_default(),
                e["local"].as_str().unwrap_or("-")
            );
        }
        Command::Start { id } => {
            let e = r
                .json(
                    Method::POST,
                    &format!("/api/engines/{}/start", seg(&id)),
                    Some(&json!({})),
                )
                .await?;
            println!(
                "{} {} {}",
                id,
                e["state"].as_str().unwrap_or_default(),
                e["local"].as_str().unwrap_or_default()
            );
        }
        Command::Stop { id } => {
            let e = r
                .json(
                    Method::POST,
                    &format!("/api/engines/{}/stop", seg(&id)),
                    Some(&json!({})),
                )
                .await?;
            println!("{} {}", id, e["state"].as_str().unwrap_or("stopped"));
        }
        Command::Rm { id } => {
            r.json(Method::DELETE, &format!("/api/engines/{}", seg(&id)), None)
                .await?;
            println!("{id} deleted");
        }
        Command::Send {
            id,
            data,
            hex,
            conn,
            shutdown,
        } => {
            let mut body = json!({"data": data});
            if hex {
                body["encoding"] = "hex".into();
            }
            if let Some(c) = conn {
                body["conn"] = c.into();
            }
            if shutdown {
                body["shutdown"] = "write".into();
            }
            let v = r
                .json(
                    Method::POST,
                    &format!("/api/engines/{}/send", seg(&id)),
                    Some(&body),
                )
                .await?;
            let to: Vec<&str> = v["sent_to"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            println!(
                "sent {} B to {}",
                v["bytes"].as_u64().unwrap_or(0),
                to.join(", ")
            );
        }
        Command::Watch { id } => watch::watch(&r, id.as_deref()).await?,
        Command::Labs => {
            let labs = r.json(Method::GET, "/api/labs", None).await?;
            for l in labs.as_array().into_iter().flatten() {
                println!(
                    "{:<15} {:<8} {}",
                    l["id"].as_str().unwrap_or_default(),
                    if l["builtin"] == true {
                        "lecture"
                    } else {
                        "saved"
                    },
                    l["name"].as_str().unwrap_or_default()
                );
            }
        }
        Command::Load { lab } => {
            let v = r
                .json(
                    Method::POST,
                    &format!("/api/labs/{}/load", seg(&lab)),
                    Some(&json!({})),
                )
                .await?;
            for e in v["engines"].as_array().into_iter().flatten() {
                println!(
                    "{} {} {} {}",
                    e["id"].as_str().unwrap_or_default(),
                    e["kind"].as_str().unwrap_or_default(),
                    e["state"].as_str().unwrap_or_default(),
                    e["local"].as_str().unwrap_or_default()
                );
            }
        }
        Command::Pcap { id, output } => {
            let (status, bytes) = r
                .call(
                    Method::GET,
                    &format!("/api/engines/{}/capture.pcap", seg(&id)),
                    None,
                )
                .await?;
            if status != 200 {
                return Err(http::api_message(status, &bytes));
            }
            std::fs::write(&output, &bytes)
                .map_err(|e| format!("writing {}: {e}", output.display()))?;
            println!("{} bytes to {}", bytes.len(), output.display());
        }
        Command::Class => {
            let rows = r.json(Method::GET, "/api/workspaces", None).await?;
            println!(
                "{:<11} {:<20} {:>7} {:>8} LAB",
                "ID", "NAME", "ENGINES", "EVENTS/S"
            );
            for w in rows.as_array().into_iter().flatten() {
                let lab = match &w["lab"] {
                    Value::Null => "-".to_string(),
                    l => format!(
                        "{} {}/{}",
                        l["name"].as_str().unwrap_or_default(),
                        l["done"],
                        l["total"]
                    ),
                };
                println!(
                    "{:<11} {:<20} {:>3}/{:<3} {:>8.1} {lab}",
                    w["id"].as_str().unwrap_or_default(),
                    w["name"].as_str().unwrap_or_default(),
                    w["engines_running"],
                    w["engines"],
                    w["events_per_sec"].as_f64().unwrap_or(0.0)
                );
            }
        }
    }
    Ok(())
}
