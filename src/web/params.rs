//! Typed ids from a route's path: `{id}` and `{conn}` parsed once by their id type, and a
//! malformed one answered like an absent one (`404`, saying where the real ones are listed),
//! never a parse error of a different shape.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::ids::{ConnId, Named};

/// The path's `{id}`, as a `T`.
pub struct Id<T>(pub T);

/// The path's `{conn}`.
pub struct Conn(pub ConnId);

async fn param<T: Named, S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    name: &str,
) -> Result<T, ApiError> {
    let raw = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|e| ApiError::internal(format!("path parameters: {e}")))?;
    let value = raw
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .ok_or_else(|| ApiError::internal(format!("the route has no {{{name}}}")))?;
    value
        .parse()
        .map_err(|_| ApiError::not_found(T::missing(value)))
}

impl<T: Named, S: Send + Sync> FromRequestParts<S> for Id<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        param(parts, state, "id").await.map(Id)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Conn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        param(parts, state, "conn").await.map(Conn)
    }
}

/// An id given in a query string (`?engine=e7`): a malformed one is a `404` like an absent
/// one, as in the path.
pub fn named<T: Named>(raw: &str) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found(T::missing(raw)))
}
