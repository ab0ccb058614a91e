//! The one way a route takes a JSON body: [`JsonBody`] reads it whole within the route's
//! limit and parses it by its type's own rules ([`FromJson`]), so every route answers a body
//! too large, empty, malformed, or with a wrong field the same way: `413 too_large`, or `400
//! invalid_spec` with the field's path in `field` and an example of what to send.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;

use crate::error::ApiError;

/// A request body's type, as read from JSON.
pub trait FromJson: Sized {
    /// An example of the body, named in errors about it.
    const EXAMPLE: &'static str;

    /// Parses and checks the body; by default strictly, as its `Deserialize` says.
    fn from_json(body: &[u8]) -> Result<Self, ApiError>;

    /// The error for a body over the route's limit.
    fn too_large() -> ApiError {
        ApiError::too_large(
            "the request body is too large; send at most --max-message bytes of data".into(),
        )
    }
}

/// A JSON body of type `T`.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: FromJson> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, s: &S) -> Result<Self, ApiError> {
        let bytes = read::<T>(Bytes::from_request(req, s).await)?;
        T::from_json(&bytes).map(JsonBody)
    }
}

/// The body's bytes, or the API's error for one too large or unreadable.
pub(super) fn read<T: FromJson>(b: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    b.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            T::too_large()
        } else {
            ApiError::invalid_spec(format!(
                "could not read the request body: {}; send {}",
                e.body_text(),
                T::EXAMPLE
            ))
        }
    })
}

/// Implements [`FromJson`] for types read by their `Deserialize` alone.
macro_rules! from_json_by_serde {
    ($($t:ty => $example:expr),* $(,)?) => {
        $(
            impl $crate::web::body::FromJson for $t {
                const EXAMPLE: &'static str = $example;

                fn from_json(body: &[u8]) -> Result<Self, $crate::error::ApiError> {
                    $crate::json::parse_json(body, Self::EXAMPLE)
                }
            }
        )*
    };
}
pub(crate) use from_json_by_serde;

impl FromJson for crate::engine::EngineSpec {
    const EXAMPLE: &'static str =
        r#"{"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo"}"#;

    fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        crate::engine::EngineSpec::from_json(body)
    }
}
