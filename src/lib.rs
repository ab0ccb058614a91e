//! socketlab: a web dashboard that drives real TCP and UDP sockets and shows every socket
//! call live.
//!
//! The loop, one way around:
//!
//! ```text
//! browser ─HTTP─▶ web (api, ws, pages) ─▶ registry ─▶ engines (tokio tasks, real sockets)
//!    ▲                                                        │
//!    └──────── WebSocket ◀── capture (records in a ring, read by viewers) ◀┘
//! ```
//!
//! - [`config`]: limits, the address policy and the command line.
//! - [`ids`], [`secret`], [`disk`], [`json`]: typed ids, secrets, atomic writes, strict JSON.
//! - [`error`]: the one error type, mapped to API.md's codes.
//! - [`addr`], [`codec`]: parsing what users type (`host:port`, hex, base64).
//! - [`engine`]: specs, behaviors, the chat room, and the TCP/UDP engines.
//! - [`registry`]: engines by id, with create/stop/start/delete.
//! - [`event`]: events as engines describe them.
//! - [`capture`]: every event kept as a binary record, rendered to JSON when read.
//! - [`code`]: the program behind an engine, in Python, Bash, Tcl and PowerShell.
//! - [`files`]: a workspace's files, streamed to and from disk.
//! - [`labs`]: built-in and saved labs, loaded all or nothing.
//! - [`workspace`]: the unit that owns engines and events; class mode, roles' credentials,
//!   files on disk.
//! - [`web`]: the axum router, and the guard that decides who is asking.
//!
//! The modules are layers, checked by a test (`layers.rs`): nothing below `web` uses it,
//! nothing below `workspace` uses that.

#![warn(missing_docs)]

pub mod addr;
pub mod capture;
pub mod code;
pub mod codec;
pub mod config;
pub mod ctl;
pub mod disk;
pub mod engine;
pub mod error;
pub mod event;
pub mod files;
pub mod ids;
pub mod json;
pub mod labs;
#[cfg(test)]
mod layers;
pub mod registry;
pub mod secret;
pub mod web;
pub mod workspace;

#[cfg(test)]
mod prop_tests;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

pub use config::Config;
use workspace::startup::Startup;

/// How long shutdown waits for HTTP connections to finish before closing them anyway.
const HTTP_DRAIN: Duration = Duration::from_secs(5);

/// What a starting server tells whoever started it, to print.
pub struct Ready<'a> {
    /// The address the dashboard listens on.
    pub listen: SocketAddr,
    /// The base of every URL (`--public-url`, or `http://` + the listen address).
    pub base_url: &'a str,
    /// Whether this is a class server.
    pub class: bool,
    /// The token, the class code, and what could not be loaded.
    pub startup: &'a Startup,
}

/// The base of printed URLs without `--public-url`: the listen address, or for a wildcard
/// listen address the first `--allow-host` name (else loopback).
fn default_base(listen: SocketAddr, allowed_hosts: &[String]) -> String {
    if listen.ip().is_unspecified() {
        let host = allowed_hosts
            .first()
            .cloned()
            .unwrap_or_else(|| "127.0.0.1".into());
        format!("http://{host}:{}", listen.port())
    } else {
        format!("http://{listen}")
    }
}

/// Serves the dashboard on an already-bound `listener` until `shutdown` resolves, then stops
/// every engine and returns once their sockets are closed.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, config, shutdown, |_| {}).await
}

/// [`serve`], calling `ready` once the workspaces are loaded and before the first request.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    mut config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    ready: impl FnOnce(&Ready<'_>),
) -> std::io::Result<()> {
    let listen = listener.local_addr()?;
    config.policy.dashboard_port = Some(listen.port());
    let http = web::conns::Table::new(web::conns::http_cap(config.limits.max_http_connections));
    let base_url = match &config.public_url {
        Some(p) => p.origin(),
        None => default_base(listen, &config.access.allowed_hosts),
    };
    let guard = web::guard::Guard::new(
        Some(listen.ip().to_string()),
        &config.access.allowed_hosts,
        config.public_url.as_ref(),
    )
    .with_trusted_proxies(config.trusted_proxies.clone());
    let root = CancellationToken::new();
    let closing = CancellationToken::new();
    let class = config.class.is_some();
    let (workspaces, startup) = workspace::Workspaces::open(
        Arc::new(config),
        root.clone(),
        closing.clone(),
        base_url.clone(),
    )
    .await
    .map_err(std::io::Error::other)?;
    for p in &startup.problems {
        tracing::error!("{p}");
    }
    ready(&Ready {
        listen,
        base_url: &base_url,
        class,
        startup: &startup,
    });
    let state = web::AppState::new(workspaces.clone(), guard, closing.clone());
    let app = web::app(state).layer(axum::middleware::from_fn(web::conns::track));
    let janitor = {
        let set = workspaces.clone();
        let stop = root.clone();
        // The process's janitor: it ends with the root token and is awaited at shutdown.
        #[allow(clippy::disallowed_methods)]
        tokio::spawn(async move {
            let every = set.tidy_every();
            let mut last = Instant::now();
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(every) => {}
                }
                let now = Instant::now();
                set.tidy(now - last).await;
                last = now;
            }
        })
    };
    let stopping = workspaces.clone();
    let listener = web::conns::Listener::new(listener, http);
    let closed = root.clone();
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<web::conns::HttpConn>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        // Engines first, so viewers still see their last events; then the viewers, so the
        // HTTP drain can finish.
        root.cancel();
        stopping.shutdown().await;
        closing.cancel();
    });
    let drained = async {
        closed.cancelled().await;
        tokio::time::sleep(HTTP_DRAIN).await;
    };
    tokio::select! {
        r = server => r?,
        _ = drained => tracing::warn!("HTTP connections still open after the drain; closing them"),
    }
    let _ = janitor.await;
    workspaces.shutdown().await;
    Ok(())
}
