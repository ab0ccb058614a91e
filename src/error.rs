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
    /// A socket call failed for a reason of the network's, not the request's (a `sendto()`
    /// the OS refused); the message names the call and the OS's reason.
    #[error("{0}")]
    SendFailed(String),
    /// A workspace's files are over their quota (`--ws-max-files`, `--ws-files-bytes`).
    #[error("{0}")]
    QuotaExceeded(String),
    /// The change is live but could not be written to disk; socketlab retries.
    #[error("{0}")]
    NotSaved(String),
    /// Two credential cookies of one name, or a malformed credential.
    #[error("{0}")]
    InvalidCredential(String),
    /// A display name someone in the class has already (case and spaces ignored).
    #[error("{message}")]
    NameTaken {
        /// What to do.
        message: String,
        /// A name that is free.
        suggestion: String,
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
            Self::SendFailed(m) => Self::SendFailed(f(m)),
            Self::QuotaExceeded(m) => Self::QuotaExceeded(f(m)),
            Self::NotSaved(m) => Self::NotSaved(f(m)),
            Self::InvalidCredential(m) => Self::InvalidCredential(f(m)),
            Self::NameTaken {
                message,
                suggestion,
            } => Self::NameTaken {
                message: f(message),
                suggestion,
            },
            Self::Internal(m) => Self::Internal(f(m)),
        }
    }

    /// The HTTP status API.md gives this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidSpec(_)
            | Self::InvalidAddress(_)
            | Self::InvalidData(_)
            | Self::InvalidCredential(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::AddressInUse(_)
            | Self::NotRunning(_)
            | Self::LimitReached(_)
            | Self::NameTaken { .. } => StatusCode::CONFLICT,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ConnectFailed(_) | Self::SendFailed(_) => StatusCode::BAD_GATEWAY,
            Self::QuotaExceeded(_) | Self::NotSaved(_) => StatusCode::INSUFFICIENT_STORAGE,
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
            Self::SendFailed(_) => "send_failed",
            Self::QuotaExceeded(_) => "quota_exceeded",
            Self::NotSaved(_) => "not_saved",
            Self::InvalidCredential(_) => "invalid_credential",
            Self::NameTaken { .. } => "name_taken",
            Self::Internal(_) => "internal",
        }
    }
}

/// The JSON path an error is about, when its message names one the way every field error
/// here does (`field options.rules[0].pattern: ...`), so clients read `field` instead of the
/// English.
pub fn field_of(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("field ")?;
    let end = rest.find([':', ' ', ';', ','])?;
    let field = &rest[..end];
    let ok = !field.is_empty()
        && field
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.[]".contains(&b));
    ok.then_some(field)
}

/// The error body for a status that came from outside the handlers (axum's own rejections,
/// a body limit, a `405`), so every error on every route has the same shape.
pub fn error_body(status: StatusCode, detail: &str) -> serde_json::Value {
    let (code, next) = match status.as_u16() {
        400 => ("invalid_spec", "fix the request and send it again"),
        404 => ("not_found", "see docs/api.md for the routes"),
        405 => (
            "method_not_allowed",
            "this route does not take that method; see docs/api.md",
        ),
        408 => (
            "timeout",
            "the request took too long to arrive; send it again",
        ),
        413 => (
            "too_large",
            "the request body is over the limit for this route; send less",
        ),
        415 => (
            "invalid_spec",
            "send the body as JSON (Content-Type: application/json)",
        ),
        s if s >= 500 => (
            "internal",
            "the server logged the details and keeps running; try again",
        ),
        _ => ("invalid_spec", "fix the request and send it again"),
    };
    let detail = detail.trim();
    let message = if detail.is_empty() {
        next.to_string()
    } else {
        format!("{detail}; {next}")
    };
    json!({"error": {"code": code, "message": message}})
}

impl ApiError {
    /// The JSON body API.md gives this error: `{"error": {"code", "message", "field"?}}`.
    pub fn into_body(self) -> serde_json::Value {
        let message = if let Self::Internal(detail) = &self {
            // The detail may name internals; it goes to the log, the user gets a next step.
            tracing::error!(%detail, "internal error");
            "internal error; the server logged the details and keeps running, try again".into()
        } else {
            self.to_string()
        };
        let mut body = match field_of(&message) {
            Some(field) => {
                json!({"error": {"code": self.code(), "message": message, "field": field}})
            }
            None => json!({"error": {"code": self.code(), "message": message}}),
        };
        if let Self::NameTaken { suggestion, .. } = &self {
            body["error"]["suggestion"] = suggestion.clone().into();
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry = match &self {
            Self::TooManyRequests { retry_after, .. } => Some(*retry_after),
            _ => None,
        };
        let mut response = (status, Json(self.into_body())).into_response();
        if let Some(retry_after) = retry {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, retry_after.into());
        }
        response
    }
}
