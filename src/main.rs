//! The `socketlab` binary: flags, logging, and serving until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use socketlab::config::{Access, Cidr, Config, Limits, Policy};

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
    /// Events kept for replay.
    #[arg(long, default_value_t = 10_000)]
    history: usize,
    /// Bytes of event JSON kept for replay (the oldest go first past it).
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    history_bytes: usize,
    /// Bytes of data carried in one event.
    #[arg(long, default_value_t = 4096)]
    preview: usize,
    /// Seconds a client's connect() may take.
    #[arg(long, default_value_t = 5.0)]
    connect_timeout: f64,
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

/// 192 bits from the OS's random source, as hex.
fn random_token() -> Result<String, String> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| format!("the OS random source failed: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
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
    if !(cli.connect_timeout > 0.0 && cli.connect_timeout <= 600.0) {
        return fail("--connect-timeout must be between 0 and 600 seconds");
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
        (false, None) => match random_token() {
            Ok(t) => Some(t),
            Err(e) => return fail(e),
        },
    };
    if token.is_none() {
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
    let addr: SocketAddr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    let config = Config {
        limits: Limits {
            max_engines: cli.max_engines,
            max_connections: cli.max_connections,
            max_message: cli.max_message,
            max_viewers: cli.max_viewers,
            history: cli.history,
            history_bytes: cli.history_bytes,
            preview: cli.preview,
            connect_timeout: Duration::from_secs_f64(cli.connect_timeout),
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
            allowed_ports: cli.allow_port,
            ..Policy::default()
        },
        access: Access {
            token: token.clone(),
            allowed_hosts: cli.allow_host,
        },
    };
    // The one place the token is ever printed: the URL to open.
    match &token {
        Some(t) => println!("listening on http://{addr}/?token={t}"),
        None => println!("listening on http://{addr}/"),
    }
    match socketlab::serve(listener, config, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
