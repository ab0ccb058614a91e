//! The checks every request passes before any handler, in this order:
//!
//! 1. **Host** (DNS rebinding): only names the dashboard serves. A rebinding page reaches us
//!    with its own name in `Host`, so an exact match on the name stops it; lookalikes such as
//!    `localhost.evil.example`, octal `0177.0.0.1` or dword `2130706433` are not in the list.
//! 2. **Origin** (cross-site WebSocket hijacking, CSRF): a WebSocket upgrade, a state-changing
//!    request, or any `/api` request that carries an `Origin` must carry exactly this
//!    dashboard's own (`http://` + the Host it was asked for, or `--public-url`'s origin),
//!    compared whole, never by prefix; `Sec-Fetch-Site: cross-site` is refused outright.
//! 3. **Who is asking** (the one place roles are decided): the access token, a student's
//!    session secret or a watch id, as `Authorization: Bearer` or the cookie its page set.
//!    `/api` and `/ws` need one (but `POST /api/join`). Then the role's rules: instructor
//!    routes for the instructor only, watchers read only, `?workspace=ID` for the instructor
//!    to look into another workspace (read-only), and another workspace's ids answered `404`.
//!    The result, a [`Caller`], goes into the request for the [`Scope`] extractor; a handler
//!    has no other way to reach a workspace, so a new route cannot forget the rules.
//! 4. **Pace** (class mode): a student's requests keep to `--ws-requests-per-sec` (its
//!    watchers to as many again, apart): a second's worth at once, then they wait their
//!    turn, and past a second's wait `429` (after that second, so a loop cannot spin).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::error::ApiError;
use crate::workspace::{Role, Workspace, Workspaces};

/// The cookie that carries the access token for the page's own requests.
pub const COOKIE: &str = "socketlab_token";
/// The cookie that carries a student's session secret.
pub const WS_COOKIE: &str = "socketlab_ws";
/// The cookie that carries a watch id.
pub const WATCH_COOKIE: &str = "socketlab_watch";

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

/// Who a request acts as, and in which workspace.
#[derive(Clone)]
pub struct Caller {
    /// The role the credential gives.
    pub role: Role,
    /// The credential's own workspace.
    pub home: Arc<Workspace>,
    /// The workspace this request acts on (another one only for the instructor, read-only).
    pub ws: Arc<Workspace>,
    /// Whether this request may only look.
    pub read_only: bool,
    /// Cancelled when the credential is revoked (a replaced watch link, a signed-out session,
    /// a removed workspace): the streams opened with it end.
    pub revoked: tokio_util::sync::CancellationToken,
}

/// The workspace a request acts on, as the guard decided it.
pub struct Scope(pub Arc<Workspace>);

impl<S: Send + Sync> FromRequestParts<S> for Scope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Caller::from_request_parts(parts, &())
            .await
            .map(|c| Scope(c.ws))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::Internal("a route that needs a workspace is not behind the guard".into())
        })
    }
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

/// The value of cookie `name`, if sent; `400 invalid_credential` if it is sent twice (a
/// cookie tossed in beside ours with another path: neither is served).
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    let mut found = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v.trim());
    let first = found.next();
    if first.is_some() && found.next().is_some() {
        return Err(ApiError::InvalidCredential(format!(
            "this request carries two {name} cookies, so it is not served as either; another \
             page on this host may have set one: clear this site's cookies (or close the \
             browser), then open your link again"
        )));
    }
    Ok(first)
}

/// The middleware.
pub async fn check(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
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
    // Joining needs no credential and takes whatever one the browser holds (a watch link's
    // on the projector, say): it replaces them all.
    if path.starts_with("/static/") || path == "/healthz" || path == "/api/join" {
        return Ok(());
    }
    let public = !(api || ws);
    // A page (the join page above all) still opens with a tossed cookie beside ours: it is
    // served as no one, and its own form replaces them.
    let identity = match identify(g, set, headers) {
        Err(ApiError::InvalidCredential(_)) if public => None,
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

/// Who a credential makes the caller: its role, workspace, and revocation.
type Identity = (Role, Arc<Workspace>, tokio_util::sync::CancellationToken);

/// The bearer values of a request, then its cookies, each with the role it must give;
/// `400` for a credential cookie sent twice.
fn identify(
    g: &Guard,
    set: &Workspaces,
    headers: &HeaderMap,
) -> Result<Option<Identity>, ApiError> {
    let bearers = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    for b in bearers {
        if let Some(found) = set.authenticate(b) {
            return Ok(Some(found));
        }
    }
    // Each cookie opens only what its page set it for, so a student's cookie is never
    // mistaken for the token or the other way round.
    let by_cookie = [
        (COOKIE, None),
        (WS_COOKIE, Some(Role::Student)),
        (WATCH_COOKIE, Some(Role::Watcher)),
    ];
    let mut values = Vec::with_capacity(3);
    for (name, must_be) in by_cookie {
        values.push((cookie(headers, &g.cookie_name(name))?, must_be));
    }
    for (value, must_be) in values {
        if let Some(value) = value
            && let Some((role, ws, revoked)) = set.authenticate(value)
            && must_be.is_none_or(|r| r == role)
            && (must_be.is_some() || role == set.token_role())
        {
            return Ok(Some((role, ws, revoked)));
        }
    }
    Ok((!set.token_required()).then(|| {
        let home = set.home().clone();
        let never = home.revocation(set.token_role(), &[0; 32]);
        (set.token_role(), home, never)
    }))
}

fn unauthorized(g: &Guard, set: &Workspaces, headers: &HeaderMap) -> ApiError {
    let sent = |name: &str| matches!(cookie(headers, &g.cookie_name(name)), Ok(Some(_)));
    if sent(WS_COOKIE) {
        return ApiError::Unauthorized(
            "your workspace no longer exists (the instructor removed it, or it expired after a \
             long time unused); join again with your class's join link"
                .into(),
        );
    }
    if sent(WATCH_COOKIE) {
        return ApiError::Unauthorized(
            "this watch link no longer works (its owner made a new one, or the workspace was \
             removed); ask for the new link"
                .into(),
        );
    }
    let how = if set.is_class() {
        "students: open your class's join link (http://HOST:PORT/join/CODE); the instructor: \
         open the instructor URL socketlab printed at startup, or send Authorization: Bearer TOKEN"
    } else {
        "open the URL socketlab printed at startup (http://HOST:PORT/?token=...), or send the \
         header Authorization: Bearer TOKEN"
    };
    ApiError::Unauthorized(format!("this dashboard needs an access credential: {how}"))
}

/// The role's rules, and `?workspace=ID` (taken out of the URI, so handlers never see it).
fn authorize(
    set: &Workspaces,
    role: Role,
    home: Arc<Workspace>,
    revoked: tokio_util::sync::CancellationToken,
    req: &mut Request,
) -> Result<Caller, ApiError> {
    let path = req.uri().path();
    let reads = matches!(*req.method(), Method::GET | Method::HEAD);
    if (path == "/api/workspaces" || path.starts_with("/api/workspaces/"))
        && role != Role::Instructor
    {
        return Err(ApiError::Forbidden(if set.is_class() {
            "only the instructor may list, make, reset or remove workspaces".into()
        } else {
            "this socketlab is not a class server; start it with --class to have workspaces".into()
        }));
    }
    if role == Role::Watcher && !reads {
        return Err(ApiError::Forbidden(
            "a watch link is read-only: it shows a workspace's engines and events but changes \
             nothing; the workspace's owner can act on it"
                .into(),
        ));
    }
    let owners_only = ["/api/files", "/api/labs"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")));
    if role == Role::Watcher && owners_only {
        return Err(ApiError::Forbidden(
            "a watch link shows a workspace's engines, events, code and captures; its files \
             and labs are its owner's alone"
                .into(),
        ));
    }
    let mut caller = Caller {
        role,
        home: home.clone(),
        ws: home.clone(),
        read_only: role == Role::Watcher,
        revoked,
    };
    let Some(wanted) = take_query_param(req, "workspace") else {
        return Ok(caller);
    };
    if wanted == *home.id {
        return Ok(caller);
    }
    let other = (role == Role::Instructor)
        .then(|| set.get(&wanted))
        .flatten();
    let Some(other) = other else {
        let shown: String = wanted.chars().take(40).collect();
        return Err(ApiError::NotFound(format!("no workspace {shown}")));
    };
    if !reads {
        return Err(ApiError::Forbidden(
            "the instructor looks into a student's workspace read-only; to act in it, reset or \
             remove it from the class list"
                .into(),
        ));
    }
    caller.ws = other;
    caller.read_only = true;
    Ok(caller)
}

/// Removes `name=VALUE` from the request's query string; returns VALUE (the last, if several).
fn take_query_param(req: &mut Request, name: &str) -> Option<String> {
    let query = req.uri().query()?;
    let mut found = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.split_once('=') {
            Some((k, v)) if k == name => {
                found = Some(v.to_string());
                false
            }
            None if *pair == name => {
                found = Some(String::new());
                false
            }
            _ => true,
        })
        .collect();
    let found = found?;
    let path = req.uri().path();
    let pq = if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", kept.join("&"))
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = pq.parse().ok();
    if let Ok(uri) = Uri::from_parts(parts) {
        *req.uri_mut() = uri;
    }
    Some(found)
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

/// `Set-Cookie` values that set `name` and clear the other two credential cookies, so a
/// browser acts as one role at a time.
pub fn cookies_for(g: &Guard, name: &str, value: &str) -> Vec<String> {
    let secure = if g.secure { "; Secure" } else { "" };
    let mut out = vec![format!(
        "{}={value}; HttpOnly; SameSite=Strict; Path=/{secure}",
        g.cookie_name(name)
    )];
    for other in [COOKIE, WS_COOKIE, WATCH_COOKIE] {
        if other != name {
            out.push(format!(
                "{}=; Max-Age=0; HttpOnly; SameSite=Strict; Path=/{secure}",
                g.cookie_name(other)
            ));
        }
    }
    out
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

    #[test]
    fn constant_time_compare_and_cookies() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; socketlab_token=t0k; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, COOKIE), Ok(Some("t0k")));
        assert_eq!(cookie(&h, WS_COOKIE), Ok(None));
        // A second cookie of the name (tossed in with another path): neither is served.
        h.append(header::COOKIE, "socketlab_token=other".parse().unwrap());
        assert!(matches!(
            cookie(&h, COOKIE),
            Err(ApiError::InvalidCredential(_))
        ));
    }

    #[test]
    fn setting_one_credential_cookie_clears_the_others() {
        let g = Guard::new(None, &[], None);
        let c = cookies_for(&g, WS_COOKIE, "s3cret");
        assert_eq!(
            c[0],
            "socketlab_ws=s3cret; HttpOnly; SameSite=Strict; Path=/"
        );
        assert!(c[1..].iter().all(|c| c.contains("Max-Age=0")), "{c:?}");
        assert!(c.iter().any(|c| c.starts_with("socketlab_token=;")));
        assert!(c.iter().any(|c| c.starts_with("socketlab_watch=;")));
        let public: crate::config::PublicUrl = "https://lab.example/".parse().unwrap();
        let secure = Guard::new(None, &[], Some(&public));
        let c = cookies_for(&secure, COOKIE, "t");
        assert!(c.iter().all(|c| c.ends_with("; Path=/; Secure")), "{c:?}");
        assert!(c[0].starts_with("__Host-socketlab_token=t;"), "{c:?}");
        assert!(
            c.iter()
                .all(|c| c.starts_with("__Host-") && !c.contains("Domain"))
        );
    }

    #[test]
    fn the_workspace_query_parameter_is_taken_out() {
        let mut req = Request::builder()
            .uri("/api/events?since=3&workspace=wab12&limit=5")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(
            take_query_param(&mut req, "workspace").as_deref(),
            Some("wab12")
        );
        assert_eq!(req.uri().to_string(), "/api/events?since=3&limit=5");
        let mut alone = Request::builder()
            .uri("/ws?workspace=w1")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(
            take_query_param(&mut alone, "workspace").as_deref(),
            Some("w1")
        );
        assert_eq!(alone.uri().to_string(), "/ws");
        assert_eq!(take_query_param(&mut alone, "workspace"), None);
    }
}
