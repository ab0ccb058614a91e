//! The `socketlab` binary: flags, logging, and serving until Ctrl-C or SIGTERM.

use std::time::Duration;

use clap::Parser;
use socketlab::config::{Config, Limits, Policy};

/// socketlab: drive real TCP and UDP sockets from a browser dashboard and watch every
/// accept(), recv(), send() and close() live.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Address the dashboard listens on; port 0 picks a free one.
    #[arg(long, env = "SOCKETLAB_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
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
    /// Bytes of data carried in one event.
    #[arg(long, default_value_t = 4096)]
    preview: usize,
    /// Seconds a client's connect() may take.
    #[arg(long, default_value_t = 5.0)]
    connect_timeout: f64,
    /// A port below 1024 engines may use anyway (repeatable).
    #[arg(long = "allow-port")]
    allow_port: Vec<u16>,
}

async fn shutdown_signal() {
    {
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
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("socketlab=info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if !(cli.connect_timeout > 0.0 && cli.connect_timeout <= 600.0) {
        eprintln!("error: --connect-timeout must be between 0 and 600 seconds");
        return std::process::ExitCode::from(2);
    }
    let config = Config {
        limits: Limits {
            max_engines: cli.max_engines,
            max_connections: cli.max_connections,
            max_message: cli.max_message,
            max_viewers: cli.max_viewers,
            history: cli.history,
            preview: cli.preview,
            connect_timeout: Duration::from_secs_f64(cli.connect_timeout),
            ..Limits::default()
        },
        policy: Policy {
            allowed_ports: cli.allow_port,
            ..Policy::default()
        },
    };
    let listener = match tokio::net::TcpListener::bind(&cli.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "error: cannot listen on {}: {e}; pick another address with --listen HOST:PORT (port 0 picks a free one)",
                cli.listen
            );
            return std::process::ExitCode::FAILURE;
        }
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("listening on http://{addr}/");
    match socketlab::serve(listener, config, shutdown_signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
