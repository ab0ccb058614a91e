//! The one error type every request can end in, mapped to API.md's status codes.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error a request can end in. Each variant is one `code` of API.md's error table; the
/// string is the message shown to the user, so it must say what to do next.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ApiError {
    /// Malformed JSON, an unknown field, or a field value the spec does not allow.
    #[error("{0}")]
    InvalidSpec(String),
    /// A `host:port` that cannot be parsed or resolved.
    #[error("{0}")]
    InvalidAddress(String),
    /// Send data that does not decode (bad hex or base64).
    #[error("{0}")]
    InvalidData(String),
    /// Missing or wrong access token.
    #[error("{0}")]
    Unauthorized(String),
    /// An address, port or origin outside the configured policy.
    #[error("{0}")]
    Forbidden(String),
    /// Unknown engine or connection.
    #[error("{0}")]
    NotFound(String),
    /// The port is already taken.
    #[error("{0}")]
    AddressInUse(String),
    /// The engine is stopped (or its connection is gone).
    #[error("{0}")]
    NotRunning(String),
    /// A configured limit (engines, viewers) is reached.
    #[error("{0}")]
    LimitReached(String),
    /// Send data over the message size limit.
    #[error("{0}")]
    TooLarge(String),
    /// A client's connect was refused, unreachable or timed out.
    #[error("{0}")]
    ConnectFailed(String),
    /// Too many attempts from one client (wrong join codes).
    #[error("{message}")]
    TooManyRequests {
        /// What to do.
        message: String,
        /// Seconds until another attempt is taken.
        retry_after: u64,
    },
    /// Something that should not happen; logged, and reported without internals.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The same error, its message rewritten (to say which part of a larger request failed).
    pub fn map_message(self, f: impl FnOnce(String) -> String) -> Self {
        match self {
            Self::InvalidSpec(m) => Self::InvalidSpec(f(m)),
            Self::InvalidAddress(m) => Self::InvalidAddress(f(m)),
            Self::InvalidData(m) => Self::InvalidData(f(m)),
            Self::Unauthorized(m) => Self::Unauthorized(f(m)),
            Self::Forbidden(m) => Self::Forbidden(f(m)),
            Self::NotFound(m) => Self::NotFound(f(m)),
            Self::AddressInUse(m) => Self::AddressInUse(f(m)),
            Self::NotRunning(m) => Self::NotRunning(f(m)),
            Self::LimitReached(m) => Self::LimitReached(f(m)),
            Self::TooLarge(m) => Self::TooLarge(f(m)),
            Self::ConnectFailed(m) => Self::ConnectFailed(f(m)),
            Self::TooManyRequests {
                message,
                retry_after,
            } => Self::TooManyRequests {
                message: f(message),
                retry_after,
            },
            Self::Internal(m) => Self::Internal(f(m)),
        }
    }

    /// The HTTP status API.md gives this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidSpec(_) | Self::InvalidAddress(_) | Self::InvalidData(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::AddressInUse(_) | Self::NotRunning(_) | Self::LimitReached(_) => {
                StatusCode::CONFLICT
            }
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ConnectFailed(_) => StatusCode::BAD_GATEWAY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code API.md gives this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidSpec(_) => "invalid_spec",
            Self::InvalidAddress(_) => "invalid_address",
            Self::InvalidData(_) => "invalid_data",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::AddressInUse(_) => "address_in_use",
            Self::NotRunning(_) => "not_running",
            Self::LimitReached(_) => "limit_reached",
            Self::TooLarge(_) => "too_large",
            Self::ConnectFailed(_) => "connect_failed",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if let Self::Internal(detail) = &self {
            // The detail may name internals; it goes to the log, the user gets a next step.
            tracing::error!(%detail, "internal error");
            "internal error; the server logged the details and keeps running, try again".into()
        } else {
            self.to_string()
        };
        let body = json!({"error": {"code": self.code(), "message": message}});
        let mut response = (status, Json(body)).into_response();
        if let Self::TooManyRequests { retry_after, .. } = &self {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, (*retry_after).into());
        }
        response
    }
}
