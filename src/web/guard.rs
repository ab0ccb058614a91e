//! The checks every request passes before any handler, in this order:
//!
//! 1. **Host** (DNS rebinding): only names the dashboard serves. A rebinding page reaches us
//!    with its own name in `Host`, so an exact match on the name stops it; lookalikes such as
//!    `localhost.evil.example`, octal `0177.0.0.1` or dword `2130706433` are not in the list.
//! 2. **Origin** (cross-site WebSocket hijacking, CSRF): a WebSocket upgrade, a state-changing
//!    request, or any `/api` request that carries an `Origin` must carry exactly this
//!    dashboard's own (`http://` + the Host it was asked for), compared whole, never by
//!    prefix; `Sec-Fetch-Site: cross-site` is refused outright.
//! 3. **Token** on `/api` and `/ws`: `Authorization: Bearer`, or the `socketlab_token` cookie
//!    that visiting `/?token=` sets, compared in constant time.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::error::ApiError;

/// The cookie that carries the token for the page's own requests.
pub const COOKIE: &str = "socketlab_token";

/// What the guard needs to know.
#[derive(Debug, Clone)]
pub struct Guard {
    hosts: Vec<String>,
    token: Option<String>,
}

impl Guard {
    /// A guard answering to `localhost`, `127.0.0.1`, `[::1]`, the listen host and `extra`.
    pub fn new(listen_host: Option<String>, extra: &[String], token: Option<String>) -> Self {
        let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "[::1]"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        hosts.extend(listen_host);
        hosts.extend(extra.iter().cloned());
        let hosts = hosts
            .into_iter()
            .map(|h| {
                let h = h.to_ascii_lowercase();
                // An IPv6 literal appears in Host in brackets.
                if h.contains(':') && !h.starts_with('[') {
                    format!("[{h}]")
                } else {
                    h
                }
            })
            .collect();
        Self { hosts, token }
    }

    /// The token, if one is required.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Whether `value` (a Host header) names this dashboard; returns it lower-cased.
    fn host_ok(&self, value: &str) -> Option<String> {
        let v = value.trim().to_ascii_lowercase();
        let name = if v.starts_with('[') {
            let end = v.find(']')?;
            let rest = &v[end + 1..];
            if !(rest.is_empty() || rest.strip_prefix(':').is_some_and(is_port)) {
                return None;
            }
            &v[..=end]
        } else {
            match v.rsplit_once(':') {
                Some((n, p)) if is_port(p) => n,
                Some(_) => return None,
                None => v.as_str(),
            }
        };
        self.hosts.iter().any(|h| h == name).then_some(v)
    }

    /// Whether a request carries the token, in the header or the cookie.
    pub fn has_token(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let bearer = headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .any(|t| ct_eq(t.trim().as_bytes(), token.as_bytes()));
        bearer || cookie(headers, COOKIE).is_some_and(|c| ct_eq(c.as_bytes(), token.as_bytes()))
    }
}

/// The Host check alone, for property tests.
#[cfg(test)]
pub fn check_host_for_tests(g: &Guard, value: &str) -> Option<String> {
    g.host_ok(value)
}

fn is_port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
}

/// Compares in time that depends only on the lengths, so the token cannot be guessed byte by
/// byte from response times.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= std::hint::black_box(x ^ y);
    }
    diff == 0
}

/// The value of cookie `name`, if sent.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// The middleware.
pub async fn check(State(s): State<AppState>, req: Request, next: Next) -> Response {
    match verdict(&s.guard, &req) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

fn verdict(g: &Guard, req: &Request) -> Result<(), ApiError> {
    let headers = req.headers();
    let raw_host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    let Some(raw_host) = raw_host else {
        return Err(ApiError::Forbidden(
            "the request has no Host header; socketlab answers only requests addressed to it by name".into(),
        ));
    };
    let Some(host) = g.host_ok(&raw_host) else {
        let shown: String = raw_host.chars().take(80).collect();
        return Err(ApiError::Forbidden(format!(
            "Host \"{shown}\" is not a name this dashboard serves (a DNS rebinding defence); open it as \
             http://127.0.0.1:PORT/ or http://localhost:PORT/, or start socketlab with --allow-host NAME"
        )));
    };
    let path = req.uri().path();
    let api = path == "/api" || path.starts_with("/api/");
    let ws = path == "/ws" || path.starts_with("/ws/");
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if changes_state || upgrade || api || ws {
        if let Some(origin) = headers.get(header::ORIGIN) {
            let own = format!("http://{host}");
            let ok = origin.to_str().is_ok_and(|o| o.eq_ignore_ascii_case(&own));
            if !ok {
                let shown: String = origin
                    .to_str()
                    .unwrap_or("(not text)")
                    .chars()
                    .take(80)
                    .collect();
                return Err(ApiError::Forbidden(format!(
                    "cross-origin request refused: Origin {shown} is not this dashboard ({own}); \
                     use the dashboard's own page, or a client that sends no Origin (curl, scripts)"
                )));
            }
        }
        let cross_site = headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"));
        if cross_site {
            return Err(ApiError::Forbidden(
                "cross-site request refused (Sec-Fetch-Site: cross-site); use the dashboard's own page".into(),
            ));
        }
    }
    if (api || ws) && !g.has_token(headers) {
        return Err(ApiError::Unauthorized(
            "this dashboard needs its access token: open the URL socketlab printed at startup \
             (http://HOST:PORT/?token=...), or send the header Authorization: Bearer TOKEN"
                .into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_match_exactly() {
        let g = Guard::new(Some("127.0.0.2".into()), &["lab.example".into()], None);
        for ok in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1:1",
            "[::1]:8080",
            "[::1]",
            "127.0.0.2:9",
            "lab.example:80",
        ] {
            assert!(g.host_ok(ok).is_some(), "{ok}");
        }
        for bad in [
            "evil.example",
            "localhost.evil.example",
            "localhost.",
            "0177.0.0.1",
            "2130706433",
            "0x7f000001",
            "127.1",
            "10.0.2.555",
            "[::1]x",
            "[::2]:80",
            "localhost:80:80",
            "localhost:http",
            "",
            "localhost6",
            "127.0.0.1.nip.io",
        ] {
            assert!(g.host_ok(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn constant_time_compare_and_cookies() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; socketlab_token=t0k; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, COOKIE), Some("t0k"));
        let g = Guard::new(None, &[], Some("t0k".into()));
        assert!(g.has_token(&h));
        let mut h2 = HeaderMap::new();
        h2.insert(header::AUTHORIZATION, "Bearer nope".parse().unwrap());
        assert!(!g.has_token(&h2));
    }
}
