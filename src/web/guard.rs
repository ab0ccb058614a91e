//! The checks every request passes before any handler, in this order:
//!
//! 1. **Host** (DNS rebinding): only names the dashboard serves. A rebinding page reaches us
//!    with its own name in `Host`, so an exact match on the name stops it; lookalikes such as
//!    `localhost.evil.example`, octal `0177.0.0.1` or dword `2130706433` are not in the list.
//! 2. **Origin** (cross-site WebSocket hijacking, CSRF): a WebSocket upgrade, a state-changing
//!    request, or any `/api` request that carries an `Origin` must carry exactly this
//!    dashboard's own (`http://` + the Host it was asked for, or `--public-url`'s origin),
//!    compared whole, never by prefix; `Sec-Fetch-Site: cross-site` is refused outright.
//! 3. **Who is asking** (the one place roles are decided, in [`super::caller`]): the access
//!    token, a student's session secret or a watch id, as `Authorization: Bearer` or the
//!    cookie its page set. `/api` and `/ws` need one (but `POST /api/join`). Watchers read
//!    only, `?workspace=ID` lets the instructor look into another workspace (read-only), and
//!    another workspace's ids answer `404`. The result, a [`Caller`], goes into the request;
//!    handlers take it by type ([`super::caller::Scope`], `Owner` where watchers may not
//!    come, `Instructor` for the class's routes), so a route's rules are in its signature.
//! 4. **Pace** (class mode): a student's requests keep to `--ws-requests-per-sec` (its
//!    watchers to as many again, apart): a second's worth at once, then they wait their
//!    turn, and past a second's wait `429` (after that second, so a loop cannot spin).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::caller::{Caller, authorize, identify, unauthorized};
use crate::error::{ApiError, ErrorKind};
use crate::workspace::Workspaces;

/// What the guard needs to know.
#[derive(Debug, Clone)]
pub struct Guard {
    hosts: Vec<String>,
    /// `--public-url`'s origin: then the one allowed `Origin`.
    public_origin: Option<String>,
    secure: bool,
    /// Peers whose `X-Forwarded-For` is believed (`--trusted-proxy`).
    trusted: Vec<crate::config::Cidr>,
}

impl Guard {
    /// A guard answering to `localhost`, `127.0.0.1`, `[::1]`, the listen host, `extra` and
    /// the public URL's host.
    pub fn new(
        listen_host: Option<String>,
        extra: &[String],
        public: Option<&crate::config::PublicUrl>,
    ) -> Self {
        let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "[::1]"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        hosts.extend(listen_host);
        hosts.extend(extra.iter().cloned());
        hosts.extend(public.map(|p| p.host()));
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
        Self {
            hosts,
            public_origin: public.map(|p| p.origin()),
            secure: public.is_some_and(|p| p.secure()),
            trusted: crate::config::Cidr::loopback(),
        }
    }

    /// Believes `X-Forwarded-For` only from these peers (the reverse proxy's addresses).
    pub fn with_trusted_proxies(mut self, trusted: Vec<crate::config::Cidr>) -> Self {
        if !trusted.is_empty() {
            self.trusted = trusted;
        }
        self
    }

    /// Whether cookies must carry `Secure` (behind an https `--public-url`).
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// A credential cookie's name: under https, with the `__Host-` prefix, so only this
    /// origin over TLS can set it (Secure, `Path=/`, no `Domain`): a page served by a
    /// neighbour's engine on another port of the host cannot toss one in.
    pub fn cookie_name(&self, base: &str) -> String {
        if self.secure {
            format!("__Host-{base}")
        } else {
            base.to_string()
        }
    }

    /// Whether this server sits behind a reverse proxy (so `X-Forwarded-For` names clients).
    pub fn proxied(&self) -> bool {
        self.public_origin.is_some()
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
}

/// The Host check alone, for property tests.
#[cfg(test)]
pub fn check_host_for_tests(g: &Guard, value: &str) -> Option<String> {
    g.host_ok(value)
}

fn is_port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
}

/// The middleware.
pub async fn check(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    // A method no route has (TRACE, OPTIONS, CONNECT) is 405 whatever else the request
    // says: it must not first be judged by the workspace it names.
    use axum::http::Method;
    if ![
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ]
    .contains(req.method())
    {
        return super::api::bad_method().await;
    }
    if let Err(e) = verdict(&s.guard, &s.workspaces, &mut req) {
        return e.into_response();
    }
    // A student's requests keep to its workspace's budget, as nginx's limit_req would: a
    // little over waits its turn, a flood is refused, so one looping script cannot take
    // the dashboard's threads from the class.
    let caller = req.extensions().get::<Caller>().cloned();
    if let Some(c) = &caller {
        match c.home.pace_request(c.role) {
            Ok(None) => {}
            Ok(Some(wait)) => tokio::time::sleep(wait).await,
            Err(e) => {
                // Held as long as the longest wait, so a refused caller cannot loop fast.
                tokio::time::sleep(crate::workspace::MAX_REQUEST_WAIT).await;
                return e.into_response();
            }
        }
    }
    let res = next.run(req).await;
    // A large answer takes one of its workspace's few places until it is sent, so clients
    // that ask and never read cannot pile up answers in the server's memory. (Streamed
    // answers, with no size known, hold only what the socket takes.)
    let big = axum::body::HttpBody::size_hint(res.body())
        .exact()
        .is_some_and(|n| n > crate::workspace::BIG_ANSWER);
    match caller {
        Some(c) if big => match c.ws.big_answer(c.role) {
            Ok(place) => res.map(|b| super::conns::hold_until_sent(b, place)),
            Err(e) => e.into_response(),
        },
        _ => res,
    }
}

fn verdict(g: &Guard, set: &Workspaces, req: &mut Request) -> Result<(), ApiError> {
    let headers = req.headers();
    let raw_host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    let Some(raw_host) = raw_host else {
        return Err(ApiError::forbidden(
            "the request has no Host header; socketlab answers only requests addressed to it by name".into(),
        ));
    };
    let Some(host) = g.host_ok(&raw_host) else {
        let shown: String = raw_host.chars().take(80).collect();
        return Err(ApiError::forbidden(format!(
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
            let own = g
                .public_origin
                .clone()
                .unwrap_or_else(|| format!("http://{host}"));
            let ok = origin.to_str().is_ok_and(|o| o.eq_ignore_ascii_case(&own));
            if !ok {
                let shown: String = origin
                    .to_str()
                    .unwrap_or("(not text)")
                    .chars()
                    .take(80)
                    .collect();
                return Err(ApiError::forbidden(format!(
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
            return Err(ApiError::forbidden(
                "cross-site request refused (Sec-Fetch-Site: cross-site); use the dashboard's own page".into(),
            ));
        }
    }
    // Joining needs no credential and takes whatever one the browser holds (a watch link's
    // on the projector, say): it replaces them all.
    if path.starts_with("/static/") || path == "/healthz" || path == "/api/join" {
        return Ok(());
    }
    let public = !(api || ws);
    // A page (the join page above all) still opens with a tossed cookie beside ours: it is
    // served as no one, and its own form replaces them.
    let identity = match identify(g, set, headers) {
        Err(e) if public && e.kind() == ErrorKind::InvalidCredential => None,
        other => other?,
    };
    let Some((role, home, revoked)) = identity else {
        if public {
            return Ok(());
        }
        return Err(unauthorized(g, set, headers));
    };
    let caller = authorize(set, role, home, revoked, req)?;
    // A workspace is in use when its owner uses it; someone looking in (a watcher, the
    // instructor) counts through their live viewer instead.
    if !caller.read_only {
        caller.ws.touch();
    }
    req.extensions_mut().insert(caller);
    Ok(())
}

/// The client's address: the peer, or behind the reverse proxy (`--public-url`, the peer one
/// of `--trusted-proxy`) the address the proxy put last in `X-Forwarded-For`.
pub fn client_ip(g: &Guard, parts: &Parts) -> IpAddr {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    if g.proxied() && g.trusted.iter().any(|c| c.contains(peer)) {
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .next_back();
        if let Some(ip) = forwarded {
            return ip;
        }
    }
    peer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_match_exactly() {
        let public: crate::config::PublicUrl = "https://class.example:8443/".parse().unwrap();
        let g = Guard::new(
            Some("127.0.0.2".into()),
            &["lab.example".into()],
            Some(&public),
        );
        for ok in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1:1",
            "[::1]:8080",
            "[::1]",
            "127.0.0.2:9",
            "lab.example:80",
            "class.example:8443",
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
}
