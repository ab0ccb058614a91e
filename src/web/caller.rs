//! Who is asking: the credential a request carries (bearer token, a student's session
//! cookie, a watch link's cookie), the role it gives, and the workspace the request acts on,
//! as [`Caller`]. The guard decides it once per request; handlers take it by type:
//! [`Scope`] for the workspace, [`Owner`] where watchers may not come, [`Instructor`] for the
//! class's routes, so a route's rules are in its signature, not in a list of paths.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Uri, header};

use super::AppState;
use super::guard::Guard;
use crate::error::ApiError;
use crate::workspace::{Role, Workspace, Workspaces};

/// The cookie that carries the access token for the page's own requests.
pub const COOKIE: &str = "socketlab_token";
/// The cookie that carries a student's session secret.
pub const SESSION_COOKIE: &str = "socketlab_ws";
/// The cookie that carries a watch id.
pub const WATCH_COOKIE: &str = "socketlab_watch";

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
        // A `?workspace=` the caller may not use is refused here, once the route matched, so
        // a method the route does not have is 405 first.
        if let Some(ScopeRefused(e)) = parts.extensions.get::<ScopeRefused>() {
            return Err(e.clone());
        }
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::internal("a route that needs a workspace is not behind the guard".into())
        })
    }
}

/// The caller, when it is the instructor: the type of every handler of `/api/workspaces`, so
/// such a route is the instructor's by its signature, whatever its path.
pub struct Instructor(pub Caller);

impl FromRequestParts<AppState> for Instructor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, s).await?;
        if caller.role == Role::Instructor {
            return Ok(Instructor(caller));
        }
        Err(ApiError::forbidden(if s.workspaces.is_class() {
            "only the instructor may do this (the class's workspaces, hand-outs and progress)"
                .into()
        } else {
            "this socketlab is not a class server; start it with --class to have workspaces".into()
        }))
    }
}

/// The workspace a request acts on, when the caller is not a watcher: files and labs are
/// their owner's alone (the instructor may still look in, read-only).
pub struct Owner(pub Arc<Workspace>);

impl<S: Send + Sync> FromRequestParts<S> for Owner {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, s).await?;
        if caller.role == Role::Watcher {
            return Err(ApiError::forbidden(
                "a watch link shows a workspace's engines, events, code and captures; its files \
                 and labs are its owner's alone"
                    .into(),
            ));
        }
        Ok(Owner(caller.ws))
    }
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
        return Err(ApiError::invalid_credential(format!(
            "this request carries two {name} cookies, so it is not served as either; another \
             page on this host may have set one: clear this site's cookies (or close the \
             browser), then open your link again"
        )));
    }
    Ok(first)
}

/// Who a credential makes the caller: its role, workspace, and revocation.
pub(super) type Identity = (Role, Arc<Workspace>, tokio_util::sync::CancellationToken);

/// The bearer values of a request, then its cookies, each with the role it must give;
/// `400` for a credential cookie sent twice.
pub(super) fn identify(
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
        (SESSION_COOKIE, Some(Role::Student)),
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

pub(super) fn unauthorized(g: &Guard, set: &Workspaces, headers: &HeaderMap) -> ApiError {
    let sent = |name: &str| matches!(cookie(headers, &g.cookie_name(name)), Ok(Some(_)));
    if sent(SESSION_COOKIE) {
        return ApiError::unauthorized(
            "your workspace no longer exists (the instructor removed it, or it expired after a \
             long time unused); join again with your class's join link"
                .into(),
        );
    }
    if sent(WATCH_COOKIE) {
        return ApiError::unauthorized(
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
    ApiError::unauthorized(format!("this dashboard needs an access credential: {how}"))
}

/// A `?workspace=ID` the caller may not use (none such, or a write into another's): the
/// error every handler that takes the caller answers with.
#[derive(Clone)]
pub(super) struct ScopeRefused(pub ApiError);

/// The role's rules, and `?workspace=ID` (taken out of the URI, so handlers never see it);
/// a refused `?workspace=` is put in the request as [`ScopeRefused`], for the handler.
pub(super) fn authorize(
    set: &Workspaces,
    role: Role,
    home: Arc<Workspace>,
    revoked: tokio_util::sync::CancellationToken,
    req: &mut Request,
) -> Result<Caller, ApiError> {
    let reads = matches!(*req.method(), Method::GET | Method::HEAD);
    if role == Role::Watcher && !reads {
        return Err(ApiError::forbidden(
            "a watch link is read-only: it shows a workspace's engines and events but changes \
             nothing; the workspace's owner can act on it"
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
        req.extensions_mut()
            .insert(ScopeRefused(ApiError::not_found(format!(
                "no workspace {shown}"
            ))));
        return Ok(caller);
    };
    if !reads {
        req.extensions_mut()
            .insert(ScopeRefused(ApiError::forbidden(
            "the instructor looks into a student's workspace read-only; to act in it, reset or \
             remove it from the class list"
                .into(),
        )));
        return Ok(caller);
    }
    caller.ws = other;
    caller.read_only = true;
    Ok(caller)
}

/// Removes `name=VALUE` from the request's query string; returns VALUE (the last, if several).
pub(super) fn take_query_param(req: &mut Request, name: &str) -> Option<String> {
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

/// `Set-Cookie` values that set `name` and clear the other two credential cookies, so a
/// browser acts as one role at a time.
pub fn cookies_for(g: &Guard, name: &str, value: &str) -> Vec<String> {
    let secure = if g.secure() { "; Secure" } else { "" };
    let mut out = vec![format!(
        "{}={value}; HttpOnly; SameSite=Strict; Path=/{secure}",
        g.cookie_name(name)
    )];
    for other in [COOKIE, SESSION_COOKIE, WATCH_COOKIE] {
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
    fn constant_time_compare_and_cookies() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; socketlab_token=t0k; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, COOKIE), Ok(Some("t0k")));
        assert_eq!(cookie(&h, SESSION_COOKIE), Ok(None));
        // A second cookie of the name (tossed in with another path): neither is served.
        h.append(header::COOKIE, "socketlab_token=other".parse().unwrap());
        assert!(matches!(
            cookie(&h, COOKIE),
            Err(e) if e.kind() == crate::error::ErrorKind::InvalidCredential
        ));
    }

    #[test]
    fn setting_one_credential_cookie_clears_the_others() {
        let g = Guard::new(None, &[], None);
        let c = cookies_for(&g, SESSION_COOKIE, "s3cret");
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
