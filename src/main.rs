//! The `socketlab` binary: flags, logging, and serving until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use socketlab::config::{Access, Cidr, ClassConfig, Config, Limits, Policy, PublicUrl};

/// socketlab: drive real TCP and UDP sockets from a browser dashboard and watch every
/// accept(), recv(), send() and close() live.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Address the dashboard listens on; port 0 picks a free one.
    #[arg(long, env = "SOCKETLAB_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// The access token (default: 192 random bits, printed in the startup URL).
    #[arg(long, env = "SOCKETLAB_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Serve without a token; refused unless listening on a loopback address.
    #[arg(long, conflicts_with = "token")]
    no_token: bool,
    /// Another Host name the dashboard answers to, e.g. a lab machine's name (repeatable).
    #[arg(long = "allow-host", value_name = "NAME")]
    allow_host: Vec<String>,
    /// Address block engines may bind in, replacing the loopback default (repeatable).
    #[arg(long = "allow-bind", value_name = "CIDR")]
    allow_bind: Vec<Cidr>,
    /// Address block engines may connect or send to, replacing the loopback default (repeatable).
    #[arg(long = "allow-target", value_name = "CIDR")]
    allow_target: Vec<Cidr>,
    /// A port below 1024 (or the dashboard's own) engines may use anyway (repeatable).
    #[arg(long = "allow-port", value_name = "PORT")]
    allow_port: Vec<u16>,
    /// A reverse proxy whose X-Forwarded-For is believed (repeatable; default loopback).
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    trusted_proxy: Vec<Cidr>,
    /// Engines that may exist at once.
    #[arg(long, default_value_t = 64)]
    max_engines: usize,
    /// Open connections per server engine (unless its max_clients is lower).
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Bytes in one send (UDP is further capped at 65507).
    #[arg(long, default_value_t = 1024 * 1024)]
    max_message: usize,
    /// WebSocket viewers at once.
    #[arg(long, default_value_t = 64)]
    max_viewers: usize,
    /// Events kept for replay (per workspace).
    #[arg(long, default_value_t = 2_000_000)]
    history: usize,
    /// Bytes of events kept for replay (per workspace; a 64-byte recv() takes about 112,
    /// a 64-byte recvfrom() 126, so the default keeps over 1.3 million of them).
    #[arg(long, default_value_t = 160 * 1024 * 1024)]
    history_bytes: usize,
    /// Bytes of data carried in one event (at most 65535).
    #[arg(long, default_value_t = 4096)]
    preview: u16,
    /// Seconds a client's connect() may take.
    #[arg(long, default_value_t = 5.0)]
    connect_timeout: f64,
    /// Bytes one file may have: an upload, or one an engine receives.
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    max_file: u64,
    /// Files one workspace may keep (uploads and received files).
    #[arg(long, default_value_t = 256)]
    ws_max_files: usize,
    /// Bytes personal mode's (and the instructor's) files may take together.
    #[arg(long, default_value_t = 4 << 30)]
    files_bytes: u64,
    /// WebSocket streams of watch links, per workspace (counted apart from --max-viewers).
    #[arg(long, default_value_t = 64)]
    max_watchers: usize,
    /// Open connections to the dashboard itself (pages, API, streams); never more than half
    /// the open-file limit, the other half being the engines'.
    #[arg(long, default_value_t = 1024)]
    max_http_connections: usize,
    /// Where workspaces and their engines are kept across restarts (default: the platform's
    /// data directory, e.g. ~/.local/share/socketlab).
    #[arg(long, env = "SOCKETLAB_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Keep nothing on disk.
    #[arg(long, conflicts_with = "data_dir")]
    no_data_dir: bool,
    /// The URL users reach socketlab by, behind a reverse proxy (https://lab.example.edu/):
    /// its host is allowed, its origin is the one allowed Origin, cookies get Secure.
    #[arg(long, value_name = "URL")]
    public_url: Option<PublicUrl>,
    /// Class mode: one server for a whole class, a workspace per student.
    #[arg(long, help_heading = "Class mode")]
    class: bool,
    /// Student workspaces that may exist at once.
    #[arg(long, default_value_t = 200, help_heading = "Class mode")]
    max_workspaces: usize,
    /// Engines one student workspace may have.
    #[arg(long, default_value_t = 16, help_heading = "Class mode")]
    ws_max_engines: usize,
    /// Open connections over all of one workspace's engines.
    #[arg(long, default_value_t = 256, help_heading = "Class mode")]
    ws_max_connections: usize,
    /// Bytes per second one workspace's engines may receive together; past it they read more slowly.
    #[arg(long, default_value_t = 50_000_000, help_heading = "Class mode")]
    ws_bytes_per_sec: u64,
    /// Bytes of event history one student workspace keeps.
    #[arg(long, default_value_t = 8 * 1024 * 1024, help_heading = "Class mode")]
    ws_history_bytes: usize,
    /// Bytes one student workspace's files may take together.
    #[arg(long, default_value_t = 512 << 20, help_heading = "Class mode")]
    ws_files_bytes: u64,
    /// Requests a second to the dashboard per student workspace (its watchers have as many
    /// again); past a second's worth they wait, past two they get 429.
    #[arg(long, default_value_t = 100, help_heading = "Class mode")]
    ws_requests_per_sec: u64,
    /// The ports cut into blocks, one per workspace.
    #[arg(long, default_value = "20000-29999", value_name = "LO-HI", value_parser = parse_ports, help_heading = "Class mode")]
    ports: (u16, u16),
    /// Ports in one workspace's block.
    #[arg(long, default_value_t = 100, help_heading = "Class mode")]
    ports_per_workspace: u16,
    /// A workspace with no request, viewer or traffic for this long has its engines stopped.
    #[arg(long, default_value = "2h", value_parser = humantime::parse_duration, help_heading = "Class mode")]
    idle: Duration,
    /// A student workspace unused for this long is removed.
    #[arg(long, default_value = "7d", value_parser = humantime::parse_duration, help_heading = "Class mode")]
    expire: Duration,
}

fn parse_ports(s: &str) -> Result<(u16, u16), String> {
    let bad = || format!("{s:?}: write the range as LO-HI, e.g. 20000-29999");
    let (lo, hi) = s.split_once('-').ok_or_else(bad)?;
    let lo: u16 = lo.trim().parse().map_err(|_| bad())?;
    let hi: u16 = hi.trim().parse().map_err(|_| bad())?;
    if lo < 1024 || lo > hi {
        return Err(format!(
            "{s:?}: LO must be 1024 or more and no more than HI"
        ));
    }
    Ok((lo, hi))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutting down: stopping every engine");
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

/// The startup lines: where to open the dashboard (the one place the token is ever printed),
/// and in class mode where students join.
fn print_ready(r: &socketlab::Ready<'_>) {
    let s = r.startup;
    if let Some(why) = &s.not_kept {
        eprintln!("warning: {why}");
    }
    for p in &s.problems {
        eprintln!("warning: {p}");
    }
    let base = r.base_url.trim_end_matches('/');
    if r.class {
        println!("listening on http://{}/", r.listen);
        if let Some(t) = &s.token {
            println!("instructor: {base}/?token={t}");
        }
        if let Some(code) = &s.class_code {
            println!("students join at: {base}/join/{code}");
        }
    } else {
        match &s.token {
            Some(t) => println!("listening on http://{}/?token={t}", r.listen),
            None => println!("listening on http://{}/", r.listen),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("socketlab=info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    // As nginx and Go do: every descriptor the system allows, for engines and the dashboard.
    match socketlab::web::conns::raise_open_files() {
        Some(n) if n < 4096 => eprintln!(
            "warning: the open-file limit is {n} (its hard limit); socketlab serves at most {} dashboard connections and engines share the rest. Raise it (ulimit -Hn, or LimitNOFILE= in a systemd unit) for a large class",
            socketlab::web::conns::http_cap(cli.max_http_connections)
        ),
        _ => {}
    }
    if !(cli.connect_timeout > 0.0 && cli.connect_timeout <= 600.0) {
        return fail("--connect-timeout must be between 0 and 600 seconds");
    }
    if cli.class && cli.no_token {
        return fail(
            "--no-token is refused in class mode: the instructor's token is what tells the instructor from the students",
        );
    }
    if cli.no_token && cli.public_url.is_some() {
        return fail("--no-token is refused with --public-url: the proxy lets other machines in");
    }
    if cli.class && cli.ports_per_workspace == 0 {
        return fail("--ports-per-workspace must be at least 1");
    }
    let token = match (cli.no_token, cli.token) {
        (true, _) => None,
        (false, Some(t))
            if t.len() < 16
                || !t
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b';' && b != b',') =>
        {
            return fail("the token must be at least 16 printable characters, without ';' or ','");
        }
        (false, Some(t)) => Some(t),
        // A class keeps its generated token across restarts (in its data directory), so it
        // is made there.
        (false, None) if cli.class => None,
        (false, None) => match socketlab::secret::random_hex(24) {
            Ok(t) => Some(t),
            Err(e) => return fail(e),
        },
    };
    if cli.no_token {
        // Checked before binding, so a refused --no-token never opens the port at all.
        let exposed = match tokio::net::lookup_host(&cli.listen).await {
            Ok(mut addrs) => addrs.any(|a| !a.ip().is_loopback()),
            Err(e) => return fail(format!("cannot resolve --listen {}: {e}", cli.listen)),
        };
        if exposed {
            return fail(format!(
                "--no-token is refused on {}, which other machines can reach; listen on 127.0.0.1 or keep the token",
                cli.listen
            ));
        }
    }
    let listener = match tokio::net::TcpListener::bind(&cli.listen).await {
        Ok(l) => l,
        Err(e) => {
            return fail(format!(
                "cannot listen on {}: {e}; pick another address with --listen HOST:PORT (port 0 picks a free one)",
                cli.listen
            ));
        }
    };
    let data_dir = match (cli.no_data_dir, cli.data_dir) {
        (true, _) => None,
        (false, Some(d)) => Some(d),
        (false, None) => {
            directories::ProjectDirs::from("", "", "socketlab").map(|d| d.data_dir().to_path_buf())
        }
    };
    let class = cli.class.then(|| ClassConfig {
        ws_max_engines: cli.ws_max_engines,
        ws_max_connections: cli.ws_max_connections,
        ws_bytes_per_sec: cli.ws_bytes_per_sec,
        ws_history_bytes: cli.ws_history_bytes,
        ws_files_bytes: cli.ws_files_bytes,
        ws_requests_per_sec: cli.ws_requests_per_sec,
        ports: cli.ports,
        ports_per_workspace: cli.ports_per_workspace,
        idle: cli.idle,
        expire: cli.expire,
        max_workspaces: cli.max_workspaces,
        ..ClassConfig::default()
    });
    let targets_given = !cli.allow_target.is_empty();
    let config = Config {
        limits: Limits {
            max_engines: cli.max_engines,
            max_connections: cli.max_connections,
            max_message: cli.max_message,
            max_viewers: cli.max_viewers,
            history: cli.history,
            history_bytes: cli.history_bytes,
            preview: usize::from(cli.preview),
            connect_timeout: Duration::from_secs_f64(cli.connect_timeout),
            max_file: cli.max_file,
            max_files: cli.ws_max_files,
            files_bytes: cli.files_bytes,
            max_watchers: cli.max_watchers,
            max_http_connections: cli.max_http_connections,
            ..Limits::default()
        },
        policy: Policy {
            allow_bind: if cli.allow_bind.is_empty() {
                Cidr::loopback()
            } else {
                cli.allow_bind
            },
            allow_target: if cli.allow_target.is_empty() {
                Cidr::loopback()
            } else {
                cli.allow_target
            },
            targets_given,
            allowed_ports: cli.allow_port,
            ..Policy::default()
        },
        access: Access {
            token,
            allowed_hosts: cli.allow_host,
        },
        class,
        data_dir,
        public_url: cli.public_url,
        trusted_proxies: if cli.trusted_proxy.is_empty() {
            Cidr::loopback()
        } else {
            cli.trusted_proxy
        },
    };
    match socketlab::serve_with(listener, config, shutdown_signal(), print_ready).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
