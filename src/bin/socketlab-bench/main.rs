//! socketlab-bench: socketlab's engines against a bare tokio echo server (the baseline) and
//! socat, driven by the same load generator in alternating rounds, so machine drift cancels.
//!
//! `cargo run --release --bin socketlab-bench -- [--quick] [--json FILE]`
//!
//! socketlab runs in this process with events on and one WebSocket viewer reading everything;
//! the baseline is a few lines of tokio in this process too; socat runs when installed. The
//! "connections held" figure runs each server in a child process of its own, so its resident
//! memory is the server's alone. All traffic stays on 127.0.0.1.

// Test and benchmark tasks belong to their process (clients, servers, timers), not to an
// engine's run: clippy.toml's rule is for the product's code.
#![allow(clippy::disallowed_methods)]

mod class;
mod events;
mod figure;
mod hostile;
mod load;
mod outside;
mod proxy;
mod servers;
mod throughput;
mod viewer;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};

use figure::Figure;
use servers::{Lab, Who, serve_child};

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
    /// Run only these groups: tcp, udp, proxy, burst, held, events, stuck, class, hostile (repeatable; default all).
    #[arg(long)]
    only: Vec<String>,
    /// Internal: run one load (`tcp-pingpong:N`, `tcp-bulk`, `udp-echo:N`) against --target
    /// for --millis, printing its result as JSON.
    #[arg(long, hide = true)]
    load: Option<String>,
    /// Internal: the load's target.
    #[arg(long, hide = true)]
    target: Option<String>,
    /// Internal: how long the load runs.
    #[arg(long, hide = true)]
    millis: Option<u64>,
    /// Internal: serve `socketlab` or `baseline` alone in this process (connections held).
    #[arg(long, hide = true)]
    serve: Option<String>,
    /// Internal: run one hostile attack (with --at and --cred) in this process.
    #[arg(long, hide = true)]
    attack: Option<String>,
    /// Internal: the dashboard the attack goes to.
    #[arg(long, hide = true)]
    at: Option<String>,
    /// Internal: the attacking student's credential.
    #[arg(long, hide = true)]
    cred: Option<String>,
}

/// How long and how big, full or quick.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) rounds: usize,
    pub(crate) run: Duration,
    pub(crate) held: usize,
    /// Workspaces in the class figures.
    pub(crate) workspaces: usize,
    /// Events in the burst figure.
    pub(crate) burst: usize,
    /// A viewer on socketlab's engines (off only to profile the engine alone).
    pub(crate) viewer: bool,
}

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
    if let Some(ev) = e.get("event_p99_us") {
        s.push_str(&format!(" events p99 {}", human(*ev)));
    }
    if let Some(c) = e.get("server_cpu_us_per_rt") {
        s.push_str(&format!(" server cpu/rt {c:.2} µs"));
    }
    if let Some(l) = e.get("loss") {
        s.push_str(&format!(" loss {:.2}%", l * 100.0));
    }
    s
}

fn print_table(figures: &[Figure]) {
    let cols = [
        (Who::Socketlab, "socketlab (no viewer)"),
        (Who::Live, "socketlab, mode=live viewer"),
        (Who::All, "socketlab, mode=all viewer"),
        (Who::Baseline, "baseline"),
        (Who::Socat, "socat"),
    ];
    for f in figures {
        println!("{} ({})", f.name, f.unit);
        // "No viewer" sets socketlab's column apart from its viewer columns; a figure without
        // those (the class's) says in its name what watches it.
        let viewer_columns = f.cells.contains_key(&Who::Live) || f.cells.contains_key(&Who::All);
        for (w, label) in cols {
            if !f.cells.contains_key(&w) {
                continue;
            }
            let label = if w == Who::Socketlab && !viewer_columns {
                "socketlab"
            } else {
                label
            };
            let ratio = f
                .ratio_of(w)
                .filter(|_| !matches!(w, Who::Baseline | Who::Socat))
                .map(|r| format!("  ratio {r:.3}"))
                .unwrap_or_default();
            println!("    {label:<30} {}{ratio}", cell_text(f, w));
        }
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

fn main() {
    let args = Args::parse();
    socketlab::web::conns::raise_open_files();
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    if let Some(what) = &args.serve {
        rt.block_on(serve_child(what));
        return;
    }
    if let Some(shape) = &args.load {
        rt.block_on(outside::load_child(
            shape,
            args.target.as_deref().expect("--target"),
            args.millis.unwrap_or(1000),
        ));
        return;
    }
    if let Some(attack) = &args.attack {
        let (at, cred) = (args.at.as_deref(), args.cred.as_deref());
        rt.block_on(hostile::attack_child(
            attack,
            at.expect("--at"),
            cred.expect("--cred"),
        ));
        return;
    }
    let plan = if args.quick {
        Plan {
            rounds: args.rounds.unwrap_or(3),
            run: Duration::from_millis(300),
            held: 500,
            workspaces: 8,
            burst: 20_000,
            viewer: !args.no_viewer,
        }
    } else {
        Plan {
            rounds: args.rounds.unwrap_or(5),
            run: Duration::from_secs(2),
            held: 10_000,
            workspaces: 50,
            burst: 1_000_000,
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
            throughput::run_tcp_figures(&lab, plan, &mut figures).await;
        }
        if want("udp") {
            throughput::run_udp_figures(&lab, plan, &mut figures).await;
        }
        if want("proxy") {
            proxy::run_proxy_figures(&lab, plan, &mut figures).await;
        }
        if want("burst") {
            throughput::run_burst(plan, &mut figures).await;
        }
        if want("held") {
            throughput::run_held(plan, &mut figures).await;
        }
        if want("events") {
            events::run_event_figures(&lab, plan, &mut figures).await;
        }
        if want("stuck") {
            events::run_stuck(&lab, plan, &mut figures).await;
        }
        if want("class") {
            class::run_class(plan, &mut figures).await;
        }
        if want("hostile") {
            hostile::run_hostile(plan, &mut figures).await;
        }
        figures
    });
    print_table(&figures);
    println!(
        "\n(stuck viewer: the socketlab column is with a viewer that never reads, the baseline column without it;\n class beside one flooding, and hostile: the socketlab column is with the neighbour's flood or attack, the baseline column without it)"
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
