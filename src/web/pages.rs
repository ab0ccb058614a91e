//! Server-rendered pages (askama): the dashboard, the page that asks for the token, the join
//! page, and the stop a watch link makes to set its cookie.

use std::convert::Infallible;

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{OptionalFromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AppState;
use super::caller::{COOKIE, Caller, WATCH_COOKIE, cookies_for};
use super::guard::client_ip;
use crate::engine::EngineView;
use crate::error::{ApiError, ErrorKind};
use crate::workspace::Role;

/// The dashboard page.
#[derive(Template)]
#[template(path = "index.html")]
struct Index {
    engines: Vec<EngineView>,
    role: &'static str,
    mode: &'static str,
    readonly: bool,
    ws_name: String,
    ports: Option<String>,
}

/// Shown instead of the dashboard to a browser without a credential.
#[derive(Template)]
#[template(path = "token.html")]
struct TokenPage {
    wrong: bool,
    class: bool,
}

/// The join page.
#[derive(Template)]
#[template(path = "join.html")]
struct JoinPage {
    code: String,
    invited: Option<String>,
    current: Option<String>,
}

/// A short page with a title, a sentence, and maybe where to go next.
#[derive(Template)]
#[template(path = "message.html")]
struct Message<'a> {
    title: &'a str,
    text: &'a str,
    go: Option<&'a str>,
    /// Whether the page moves on to `go` by itself (else the reader clicks Continue).
    auto: bool,
    /// A way back instead (the reader's own workspace).
    back: Option<&'a str>,
}

/// Whether the browser says this navigation came from another site (a link or a script on a
/// page elsewhere). Such a navigation may show a page but never sets a credential: a page
/// elsewhere must not be able to sign a student into a workspace of its choosing (login
/// CSRF), replacing the cookie that is their only copy of their own secret.
fn cross_site(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"))
}

/// The page a cross-site navigation gets instead: one button that continues on this site,
/// which is then a same-origin navigation the reader chose.
fn continue_here(title: &str, text: &str, to: &str) -> Result<Response, ApiError> {
    let page = render(&Message {
        title,
        text,
        go: Some(to),
        auto: false,
        back: None,
    })?;
    Ok(([NO_STORE], Html(page)).into_response())
}

/// Query of `GET /watch/{id}`.
#[derive(Debug, Deserialize)]
pub struct WatchQuery {
    /// The reader chose to leave their own workspace for this watch link.
    switch: Option<String>,
}

/// Query of `GET /`.
#[derive(Debug, Deserialize)]
pub struct IndexQuery {
    token: Option<String>,
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Caller {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Infallible> {
        Ok(parts.extensions.get::<Caller>().cloned())
    }
}

fn render(t: &impl Template) -> Result<String, ApiError> {
    t.render()
        .map_err(|e| ApiError::internal(format!("template: {e}")))
}

const NO_STORE: (header::HeaderName, &str) = (header::CACHE_CONTROL, "no-store");

/// `s` percent-encoded for a URL's path segment or query value.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn with_cookies(mut r: Response, cookies: Vec<String>) -> Response {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

fn message(status: StatusCode, title: &str, text: &str) -> Result<Response, ApiError> {
    let page = render(&Message {
        title,
        text,
        go: None,
        auto: false,
        back: None,
    })?;
    Ok((status, [NO_STORE], Html(page)).into_response())
}

/// `GET /` and `GET /?token=`: the token in the URL becomes an HttpOnly, SameSite=Strict
/// cookie, then a redirect takes it out of the address bar (and out of the history).
pub async fn index(
    State(s): State<AppState>,
    caller: Option<Caller>,
    q: Result<Query<IndexQuery>, QueryRejection>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let set = &s.workspaces;
    let class = set.is_class();
    if let Ok(Query(IndexQuery { token: Some(given) })) = q
        && set.token_required()
    {
        if cross_site(&headers) {
            let to = format!("/?token={}", urlencode(&given));
            return continue_here(
                "Open the dashboard?",
                "A page on another site sent you here with an access link. Continue only if you meant to open this socketlab dashboard.",
                &to,
            );
        }
        if set.is_token(&given) {
            let r = Redirect::to("/").into_response();
            return Ok(with_cookies(r, cookies_for(&s.guard, COOKIE, &given)));
        }
        let page = render(&TokenPage { wrong: true, class })?;
        return Ok((StatusCode::UNAUTHORIZED, [NO_STORE], Html(page)).into_response());
    }
    let Some(caller) = caller else {
        let page = render(&TokenPage {
            wrong: false,
            class,
        })?;
        return Ok((StatusCode::UNAUTHORIZED, [NO_STORE], Html(page)).into_response());
    };
    let ws = &caller.ws;
    let page = render(&Index {
        engines: ws.engines(),
        role: caller.role.name(),
        mode: if class { "class" } else { "personal" },
        readonly: caller.read_only,
        ws_name: ws.name(),
        ports: ws.port_range().map(|(lo, hi)| format!("{lo}-{hi}")),
    })?;
    Ok(([NO_STORE], Html(page)).into_response())
}

/// `GET /join/{code}`: asks for a display name (the class code), or opens the workspace a
/// one-person link was made for. A wrong code counts against the client's attempts.
pub async fn join(
    State(s): State<AppState>,
    Path(code): Path<String>,
    caller: Option<Caller>,
    req: Request,
) -> Result<Response, ApiError> {
    let (parts, _) = req.into_parts();
    let ip = client_ip(&s.guard, &parts);
    match s.workspaces.check_code(&code, ip) {
        Ok(invited) => {
            let current = caller
                .filter(|c| c.role == Role::Student)
                .map(|c| c.home.name());
            let page = render(&JoinPage {
                code,
                invited: invited.map(|w| w.name()),
                current,
            })?;
            Ok(([NO_STORE], Html(page)).into_response())
        }
        Err(e) if e.kind() == ErrorKind::TooManyRequests => {
            message(StatusCode::TOO_MANY_REQUESTS, "Too many tries", e.message())
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            message(StatusCode::NOT_FOUND, "Not a class server", e.message())
        }
        Err(e) => message(
            StatusCode::FORBIDDEN,
            "This join link is not valid",
            &format!(
                "{e} (The link may have been mistyped; links are case-insensitive, dashes optional.)"
            ),
        ),
    }
}

/// `GET /watch/{id}`: sets the watch cookie (clearing the others), then the page moves on to
/// the dashboard, read-only.
pub async fn watch(
    State(s): State<AppState>,
    Path(id): Path<String>,
    caller: Option<Caller>,
    q: Query<WatchQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    if !s.workspaces.watch_exists(&id) {
        return message(
            StatusCode::NOT_FOUND,
            "This watch link does not work",
            "Its owner may have made a new one (which stops the old link at once), or the \
             workspace was removed. Ask for the current link.",
        );
    }
    if cross_site(&headers) {
        return continue_here(
            "Watch this workspace?",
            "A page on another site sent you here with a watch link. Continuing replaces what this browser is signed in as here (a student's workspace, say) with this read-only watch link; continue only if you meant to.",
            &format!("/watch/{}", urlencode(&id)),
        );
    }
    // A student's browser holds its only copy of the student's secret: the watch cookie
    // would replace it. Said first, and done only if they still want to.
    if let Some(c) = caller.filter(|c| c.role == Role::Student)
        && q.switch.is_none()
    {
        let text = format!(
            "This browser is signed in to your own workspace, \"{}\". Watching this link signs it out here: to come back to your workspace you will need your own join link (or your instructor). Go back to your workspace, or watch anyway.",
            c.home.name()
        );
        let page = render(&Message {
            title: "Leave your workspace to watch?",
            text: &text,
            go: Some(&format!("/watch/{}?switch=1", urlencode(&id))),
            auto: false,
            back: Some("/"),
        })?;
        return Ok(([NO_STORE], Html(page)).into_response());
    }
    let page = render(&Message {
        title: "Opening the workspace, read-only",
        text: "You can watch everything happen live; nothing you do here changes it.",
        // The room sees the scene, large (Esc or the button leaves present mode).
        go: Some("/?present"),
        auto: true,
        back: None,
    })?;
    let r = ([NO_STORE], Html(page)).into_response();
    Ok(with_cookies(r, cookies_for(&s.guard, WATCH_COOKIE, &id)))
}
