//! Server-rendered pages (askama): the dashboard, and the page that asks for the token.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AppState;
use super::guard::{COOKIE, ct_eq};
use crate::engine::EngineView;
use crate::error::ApiError;

/// The dashboard page.
#[derive(Template)]
#[template(path = "index.html")]
struct Index {
    engines: Vec<EngineView>,
}

/// Shown instead of the dashboard to a browser without the token.
#[derive(Template)]
#[template(path = "token.html")]
struct TokenPage {
    wrong: bool,
}

/// Query of `GET /`.
#[derive(Debug, Deserialize)]
pub struct IndexQuery {
    token: Option<String>,
}

fn render(t: &impl Template) -> Result<String, ApiError> {
    t.render()
        .map_err(|e| ApiError::Internal(format!("template: {e}")))
}

/// `GET /` and `GET /?token=`: the token in the URL becomes an HttpOnly, SameSite=Strict
/// cookie, then a redirect takes it out of the address bar (and out of the history).
pub async fn index(
    State(s): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<IndexQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let no_store = (header::CACHE_CONTROL, "no-store");
    if let Some(token) = s.guard.token() {
        if let Ok(Query(IndexQuery { token: Some(given) })) = q {
            if ct_eq(given.as_bytes(), token.as_bytes()) {
                let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/");
                return Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response());
            }
            let page = render(&TokenPage { wrong: true })?;
            return Ok((StatusCode::UNAUTHORIZED, [no_store], Html(page)).into_response());
        }
        if !s.guard.has_token(&headers) {
            let page = render(&TokenPage { wrong: false })?;
            return Ok((StatusCode::UNAUTHORIZED, [no_store], Html(page)).into_response());
        }
    }
    let page = render(&Index {
        engines: s.registry.list(),
    })?;
    Ok(([no_store], Html(page)).into_response())
}
