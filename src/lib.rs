//! socketlab: a web dashboard that drives real TCP and UDP sockets and shows every socket
//! call live.
//!
//! The loop, one way around:
//!
//! ```text
//! browser ─HTTP─▶ web (api, ws, pages) ─▶ registry ─▶ engines (tokio tasks, real sockets)
//!    ▲                                                        │
//!    └──────── WebSocket ◀── event bus (history ring + broadcast) ◀┘
//! ```
//!
//! - [`config`]: limits and the address policy.
//! - [`error`]: the one error type, mapped to API.md's codes.
//! - [`addr`], [`codec`]: parsing what users type (`host:port`, hex, base64).
//! - [`engine`]: specs, behaviors, the chat room, and the TCP/UDP engines.
//! - [`registry`]: engines by id, with create/stop/start/delete.
//! - [`event`]: events and the bus.
//! - [`web`]: the axum router.

#![warn(missing_docs)]

pub mod addr;
pub mod codec;
pub mod config;
pub mod engine;
pub mod error;
pub mod event;
pub mod registry;
pub mod web;

#[cfg(test)]
mod prop_tests;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use config::Config;

/// How long shutdown waits for HTTP connections to finish before closing them anyway.
const HTTP_DRAIN: Duration = Duration::from_secs(5);

/// Serves the dashboard on an already-bound `listener` until `shutdown` resolves, then stops
/// every engine and returns once their sockets are closed.
pub async fn serve(
    listener: tokio::net::TcpListener,
    mut config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listen = listener.local_addr()?;
    config.policy.dashboard_port = Some(listen.port());
    let listen_host = Some(listen.ip().to_string());
    let guard = web::guard::Guard::new(
        listen_host,
        &config.access.allowed_hosts,
        config.access.token.clone(),
    );
    let limits = &config.limits;
    let bus = Arc::new(event::EventBus::new(
        limits.history,
        limits.preview,
        limits.viewer_buffer,
    ));
    let root = CancellationToken::new();
    let env = Arc::new(engine::Env::new(bus, Arc::new(config), root.clone()));
    let registry = registry::Registry::new(env);
    let state = web::AppState::new(registry.clone(), guard);
    let closing = state.closing.clone();
    let app = web::app(state);
    let stopping = registry.clone();
    // Events go out as many small WebSocket frames: without TCP_NODELAY, Nagle's algorithm
    // and delayed ACKs would hold some of them back by tens of milliseconds.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
        let _ = tcp.set_nodelay(true);
    });
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        // Engines first, so viewers still see their last events; then the viewers, so the
        // HTTP drain can finish.
        root.cancel();
        stopping.shutdown().await;
        closing.cancel();
    });
    let closed = registry.env().root.clone();
    let drained = async {
        closed.cancelled().await;
        tokio::time::sleep(HTTP_DRAIN).await;
    };
    tokio::select! {
        r = server => r?,
        _ = drained => tracing::warn!("HTTP connections still open after the drain; closing them"),
    }
    registry.shutdown().await;
    Ok(())
}
