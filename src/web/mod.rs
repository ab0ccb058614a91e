//! The HTTP face: REST API, WebSocket event stream, pages and static files.

mod api;
pub mod guard;
mod pages;
mod ws;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, header};
use axum::routing::{delete, get, post};
use axum::{Router, middleware};
use tokio_util::sync::CancellationToken;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::ApiError;
use crate::event::EventBus;
use crate::registry::Registry;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The engines.
    pub registry: Registry,
    /// Viewers connected now, for `--max-viewers`.
    pub viewers: Arc<AtomicUsize>,
    /// Cancelled after the engines have stopped at shutdown, so viewers see the last
    /// `stopped` events before their stream closes.
    pub closing: CancellationToken,
    /// Host, Origin and token checks.
    pub guard: Arc<guard::Guard>,
}

impl AppState {
    /// State over a registry, guarded by `guard`.
    pub fn new(registry: Registry, guard: guard::Guard) -> Self {
        Self {
            registry,
            viewers: Arc::new(AtomicUsize::new(0)),
            closing: CancellationToken::new(),
            guard: Arc::new(guard),
        }
    }

    fn bus(&self) -> &Arc<EventBus> {
        &self.registry.env().bus
    }
}

/// The whole router: pages, `/api`, `/ws`, `/static`, `/healthz`.
pub fn app(state: AppState) -> Router {
    let limits = &state.registry.env().config.limits;
    // Hex spells a byte in up to three characters ("6c "), so the body must be able to carry
    // a full-size message written that way.
    let body_limit = limits
        .max_message
        .saturating_mul(4)
        .saturating_add(64 * 1024);
    let api = Router::new()
        .route("/engines", get(api::list).post(api::create))
        .route("/engines/{id}", get(api::get_one).delete(api::delete_one))
        .route("/engines/{id}/stop", post(api::stop))
        .route("/engines/{id}/start", post(api::start))
        .route("/engines/{id}/send", post(api::send))
        .route("/engines/{id}/connections/{conn}", delete(api::close_conn))
        .route("/engines/{id}/export", get(api::export))
        .route("/events", get(api::events))
        .fallback(api::no_route)
        .method_not_allowed_fallback(api::bad_method);
    Router::new()
        .route("/", get(pages::index))
        .route("/healthz", get(|| async { "ok" }))
        .route("/ws", get(ws::upgrade))
        .nest("/api", api)
        .nest_service(
            "/static",
            ServeDir::new(concat!(env!("CARGO_MANIFEST_DIR"), "/static")),
        )
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), guard::check))
        .layer(header_layer(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .layer(header_layer(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header_layer(header::REFERRER_POLICY, "no-referrer"))
        .with_state(state)
}

/// Sets a security header on every response that does not set it itself. The page loads
/// only its own scripts and styles, so the strict policy costs nothing and means received
/// bytes could never run as script even if a bug put them into markup.
fn header_layer(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// Maps a query-string rejection to `invalid_spec` with axum's own description.
fn bad_query(e: axum::extract::rejection::QueryRejection) -> ApiError {
    ApiError::InvalidSpec(format!("bad query string: {}", e.body_text()))
}
