//! Server-rendered pages (askama).

use askama::Template;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use crate::engine::EngineView;
use crate::error::ApiError;

/// The dashboard page.
#[derive(Template)]
#[template(path = "index.html")]
struct Index {
    engines: Vec<EngineView>,
}

/// `GET /`
pub async fn index(State(s): State<AppState>) -> Result<Response, ApiError> {
    let page = Index {
        engines: s.registry.list(),
    };
    let html = page
        .render()
        .map_err(|e| ApiError::Internal(format!("template: {e}")))?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response())
}
