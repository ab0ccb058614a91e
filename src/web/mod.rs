//! The HTTP face: REST API, WebSocket event stream, pages and embedded static files.
//!
//! Every request passes [`guard::check`] first; it decides who is asking and in which
//! workspace, and handlers take that workspace through [`caller`]'s extractors.

mod api;
mod assets;
pub mod body;
pub mod caller;
mod class;
mod code;
pub mod conns;
mod files;
pub mod guard;
mod labs;
pub mod openapi;
mod pages;
mod params;
mod pcap;
mod schemas;
mod viewer;
mod workspaces;
mod ws;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, header};
use axum::routing::get;
use axum::{Router, middleware};
use tokio_util::sync::CancellationToken;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::workspace::Workspaces;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// Every workspace, and through each its engines and events.
    pub workspaces: Workspaces,
    /// Cancelled after the engines have stopped at shutdown, so viewers see the last
    /// `stopped` events before their stream closes.
    pub closing: CancellationToken,
    /// Host and Origin checks, cookies.
    pub guard: Arc<guard::Guard>,
}

impl AppState {
    /// State over the workspaces, guarded by `guard`; `closing` ends every viewer's stream.
    pub fn new(workspaces: Workspaces, guard: guard::Guard, closing: CancellationToken) -> Self {
        Self {
            workspaces,
            closing,
            guard: Arc::new(guard),
        }
    }
}

/// The whole router: pages, `/api`, `/ws`, `/static`, `/healthz`.
pub fn app(state: AppState) -> Router {
    let limits = &state.workspaces.config().limits;
    // Hex spells a byte in up to three characters ("6c "), so the body must be able to carry
    // a full-size message written that way.
    let body_limit = limits
        .max_message
        .saturating_mul(4)
        .saturating_add(64 * 1024);
    // Each route and its description are registered together (utoipa-axum), so neither can
    // be added without the other; the document is built once, here.
    let (api, doc) = OpenApiRouter::new()
        .routes(routes!(api::list, api::create))
        .routes(routes!(api::get_one, api::delete_one, api::patch))
        .routes(routes!(api::stop))
        .routes(routes!(api::start))
        .routes(routes!(api::send))
        .routes(routes!(api::stop_sending))
        .routes(routes!(api::close_conn))
        .routes(routes!(api::export))
        .routes(routes!(code::code))
        .routes(routes!(pcap::capture))
        .routes(routes!(api::events))
        .routes(routes!(pcap::layers))
        .routes(routes!(files::list, files::upload))
        .routes(routes!(files::download, files::remove))
        .routes(routes!(labs::list, labs::create))
        .routes(routes!(labs::get_one, labs::replace, labs::remove))
        .routes(routes!(labs::load_one))
        .routes(routes!(labs::run))
        .routes(routes!(labs::runs))
        .routes(routes!(labs::step_done))
        .routes(routes!(workspaces::mine))
        .routes(routes!(workspaces::new_watch))
        .routes(routes!(workspaces::list, workspaces::create))
        .routes(routes!(workspaces::remove))
        .routes(routes!(workspaces::reset))
        .routes(routes!(workspaces::join))
        .routes(routes!(class::hand_out))
        .routes(routes!(class::progress_csv))
        .routes(routes!(openapi::document))
        .split_for_parts();
    let doc = openapi::finish(doc);
    let api = api
        .route("/docs", get(openapi::page))
        .layer(axum::Extension(doc))
        .fallback(api::no_route)
        .method_not_allowed_fallback(api::bad_method);
    Router::new()
        .route("/", get(pages::index))
        .route("/join/{code}", get(pages::join))
        .route("/watch/{id}", get(pages::watch))
        .route("/healthz", get(openapi::healthz))
        // Browsers ask for it on every page; there is none, and a 404 is noise in the console.
        .route(
            "/favicon.ico",
            get(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
        .route("/ws", get(ws::upgrade))
        .route("/static/{*path}", get(assets::serve))
        .nest("/api", api)
        .layer(middleware::map_response(json_errors))
        .layer(middleware::from_fn(move |req, next| {
            declared_too_long(req, next, body_limit)
        }))
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

/// A `507 not_saved` that still carries what the caller needs to go on (the change is live):
/// `{"error": {...}, "result": <the body the success would have had>}`.
pub(super) fn not_saved_with(e: ApiError, result: serde_json::Value) -> axum::response::Response {
    let status = e.status();
    let mut body = e.into_body();
    body["result"] = result;
    axum::response::IntoResponse::into_response((status, axum::Json(body)))
}

/// Refuses at once a body whose declared length is over the limit (uploads have their own,
/// `--max-file`), instead of reading up to the limit first: `Content-Length: 99999999999`
/// is answered now, not after the body's pause timeout.
async fn declared_too_long(
    req: axum::extract::Request,
    next: middleware::Next,
    limit: usize,
) -> axum::response::Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let upload = req.uri().path() == "/api/files";
    if let Some(n) = declared
        && n > limit as u64
        && !upload
    {
        return axum::response::IntoResponse::into_response(ApiError::too_large(format!(
            "the request body is {n} bytes, over this route's limit of {limit}; send less"
        )));
    }
    next.run(req).await
}

/// The most of a non-JSON error body read to quote it in the JSON one.
const REJECTION_TEXT: usize = 4096;

/// Rewrites an error that did not come from a handler as JSON (axum's own rejections: a body
/// over its limit, a missing content type, a bad path parameter, a WebSocket upgrade without
/// its headers, an unknown path), so every error has API.md's shape whatever produced it.
/// The pages' own HTML errors (a wrong join code) stay pages.
async fn json_errors(res: axum::response::Response) -> axum::response::Response {
    let status = res.status();
    let typed = res
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.as_bytes());
    let plain = typed.is_none_or(|t| t.starts_with(b"text/plain"));
    if !plain || !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, REJECTION_TEXT)
        .await
        .unwrap_or_default();
    let body = crate::error::error_body(status, &String::from_utf8_lossy(&text)).to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    axum::response::Response::from_parts(parts, axum::body::Body::from(body))
}

/// Maps a query-string rejection to `invalid_spec` with axum's own description.
fn bad_query(e: axum::extract::rejection::QueryRejection) -> ApiError {
    ApiError::invalid_spec(format!("bad query string: {}", e.body_text()))
}
