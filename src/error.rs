//! The one error type every request can end in, mapped to API.md's status codes.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Which error of API.md's table an [`ApiError`] is: its `code` and HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Malformed JSON, an unknown field, or a field value the spec does not allow.
    InvalidSpec,
    /// A `host:port` that cannot be parsed or resolved.
    InvalidAddress,
    /// Send data that does not decode (bad hex or base64).
    InvalidData,
    /// Missing or wrong access token.
    Unauthorized,
    /// An address, port or origin outside the configured policy.
    Forbidden,
    /// Unknown engine or connection.
    NotFound,
    /// The port is already taken.
    AddressInUse,
    /// The engine is stopped (or its connection is gone).
    NotRunning,
    /// A configured limit (engines, viewers) is reached.
    LimitReached,
    /// Send data over the message size limit.
    TooLarge,
    /// A client's connect was refused, unreachable or timed out.
    ConnectFailed,
    /// Too many attempts from one client (wrong join codes, a flood of requests).
    TooManyRequests,
    /// A socket call failed for a reason of the network's, not the request's (a `sendto()`
    /// the OS refused); the message names the call and the OS's reason.
    SendFailed,
    /// A workspace's files are over their quota (`--ws-max-files`, `--ws-files-bytes`).
    QuotaExceeded,
    /// The change is live but could not be written to disk; socketlab retries.
    NotSaved,
    /// Two credential cookies of one name, or a malformed credential.
    InvalidCredential,
    /// A display name someone in the class has already (case and spaces ignored).
    NameTaken,
    /// Something that should not happen; logged, and reported without internals.
    Internal,
    /// A route that does not take the request's method (`405`).
    MethodNotAllowed,
    /// A request that took too long to arrive (`408`).
    Timeout,
}

/// An error a request can end in: its kind (API.md's `code`), the message shown to the user
/// (which must say what to do next), and the JSON path of the one field it is about, when
/// there is one, so clients read `field` instead of the English.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    kind: ErrorKind,
    message: String,
    field: Option<String>,
    /// Seconds until another attempt is taken (`too_many_requests`).
    retry_after: Option<u64>,
    /// A name that is free (`name_taken`).
    suggestion: Option<String>,
}

macro_rules! constructors {
    ($($(#[$doc:meta])* $name:ident => $kind:ident),* $(,)?) => {
        impl ApiError {
            $(
                $(#[$doc])*
                pub fn $name(message: String) -> Self {
                    Self::new(ErrorKind::$kind, message)
                }
            )*
        }
    };
}

constructors! {
    /// `400 invalid_spec`.
    invalid_spec => InvalidSpec,
    /// `400 invalid_address`.
    invalid_address => InvalidAddress,
    /// `400 invalid_data`.
    invalid_data => InvalidData,
    /// `401 unauthorized`.
    unauthorized => Unauthorized,
    /// `403 forbidden`.
    forbidden => Forbidden,
    /// `404 not_found`.
    not_found => NotFound,
    /// `409 address_in_use`.
    address_in_use => AddressInUse,
    /// `409 not_running`.
    not_running => NotRunning,
    /// `409 limit_reached`.
    limit_reached => LimitReached,
    /// `413 too_large`.
    too_large => TooLarge,
    /// `502 connect_failed`.
    connect_failed => ConnectFailed,
    /// `502 send_failed`.
    send_failed => SendFailed,
    /// `507 quota_exceeded`.
    quota_exceeded => QuotaExceeded,
    /// `507 not_saved`.
    not_saved => NotSaved,
    /// `400 invalid_credential`.
    invalid_credential => InvalidCredential,
    /// `500 internal`: the message is logged, never shown.
    internal => Internal,
}

impl ApiError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            field: None,
            retry_after: None,
            suggestion: None,
        }
    }

    /// `400 invalid_spec` about `field` (a JSON path), its message "field PATH: why".
    pub fn bad_field(field: impl Into<String>, why: impl std::fmt::Display) -> Self {
        let field = field.into();
        Self::invalid_spec(format!("field {field}: {why}")).at(field)
    }

    /// `429 too_many_requests`, to be tried again after `retry_after` seconds.
    pub fn too_many_requests(message: impl Into<String>, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(ErrorKind::TooManyRequests, message)
        }
    }

    /// `409 name_taken`, with a name that is free.
    pub fn name_taken(message: impl Into<String>, suggestion: impl Into<String>) -> Self {
        Self {
            suggestion: Some(suggestion.into()),
            ..Self::new(ErrorKind::NameTaken, message)
        }
    }

    /// The same error, about the field at JSON path `field`.
    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Which error it is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message shown to the user.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The JSON path of the field it is about, if one.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// Seconds until another attempt is taken, for `too_many_requests`.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// The same error, its message rewritten (to say which part of a larger request failed).
    pub fn map_message(mut self, f: impl FnOnce(String) -> String) -> Self {
        self.message = f(self.message);
        self
    }

    /// The same error said of a part of a larger document: its field goes under `prefix`
    /// (`engines[2]` and `target` make `engines[2].target`), and so does the path its
    /// message names.
    pub fn under(mut self, prefix: &str) -> Self {
        if let Some(f) = self.field.take() {
            let named = format!("field {f}");
            if let Some(rest) = self.message.strip_prefix(&named) {
                self.message = format!("field {prefix}.{f}{rest}");
            }
            self.field = Some(format!("{prefix}.{f}"));
        }
        self
    }

    /// The HTTP status API.md gives this error.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            ErrorKind::InvalidSpec
            | ErrorKind::InvalidAddress
            | ErrorKind::InvalidData
            | ErrorKind::InvalidCredential => StatusCode::BAD_REQUEST,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::AddressInUse
            | ErrorKind::NotRunning
            | ErrorKind::LimitReached
            | ErrorKind::NameTaken => StatusCode::CONFLICT,
            ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::ConnectFailed | ErrorKind::SendFailed => StatusCode::BAD_GATEWAY,
            ErrorKind::QuotaExceeded | ErrorKind::NotSaved => StatusCode::INSUFFICIENT_STORAGE,
            ErrorKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::Timeout => StatusCode::REQUEST_TIMEOUT,
        }
    }

    /// The stable machine-readable code API.md gives this error.
    pub fn code(&self) -> &'static str {
        match self.kind {
            ErrorKind::InvalidSpec => "invalid_spec",
            ErrorKind::InvalidAddress => "invalid_address",
            ErrorKind::InvalidData => "invalid_data",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::AddressInUse => "address_in_use",
            ErrorKind::NotRunning => "not_running",
            ErrorKind::LimitReached => "limit_reached",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::ConnectFailed => "connect_failed",
            ErrorKind::TooManyRequests => "too_many_requests",
            ErrorKind::SendFailed => "send_failed",
            ErrorKind::QuotaExceeded => "quota_exceeded",
            ErrorKind::NotSaved => "not_saved",
            ErrorKind::InvalidCredential => "invalid_credential",
            ErrorKind::NameTaken => "name_taken",
            ErrorKind::Internal => "internal",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::Timeout => "timeout",
        }
    }
}

/// The error body for a status that came from outside the handlers (axum's own rejections,
/// a body limit, a `405`), so every error on every route has the same shape.
pub fn error_body(status: StatusCode, detail: &str) -> serde_json::Value {
    use ErrorKind as K;
    // The codes are the kinds' own, so the document's list of codes is every code there is.
    let (kind, next) = match status.as_u16() {
        400 => (K::InvalidSpec, "fix the request and send it again"),
        404 => (K::NotFound, "see docs/api.md for the routes"),
        405 => (
            K::MethodNotAllowed,
            "this route does not take that method; see docs/api.md",
        ),
        408 => (
            K::Timeout,
            "the request took too long to arrive; send it again",
        ),
        413 => (
            K::TooLarge,
            "the request body is over the limit for this route; send less",
        ),
        415 => (
            K::InvalidSpec,
            "send the body as JSON (Content-Type: application/json)",
        ),
        s if s >= 500 => (
            K::Internal,
            "the server logged the details and keeps running; try again",
        ),
        _ => (K::InvalidSpec, "fix the request and send it again"),
    };
    let detail = detail.trim();
    let message = if detail.is_empty() {
        next.to_string()
    } else {
        format!("{detail}; {next}")
    };
    serde_json::to_value(ErrorBody {
        error: ErrorDetail {
            code: kind,
            message,
            field: None,
            suggestion: None,
        },
    })
    .unwrap_or_else(|_| json!({"error": {"code": "internal", "message": "internal error"}}))
}

/// Every error's body, `{"error": {...}}`: what [`ApiError::into_body`] writes, and what the
/// OpenAPI document says of every error.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// An error: its code, what to do next, and the field it is about.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// The kind of error (API.md's table of codes).
    pub code: ErrorKind,
    /// What went wrong and what to do next, for a person.
    pub message: String,
    /// The JSON path of the field the error is about (`engines[2].target`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// A value that would do (a free display name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
}

impl ApiError {
    /// The JSON body API.md gives this error: `{"error": {"code", "message", "field"?}}`.
    pub fn into_body(self) -> serde_json::Value {
        let message = if self.kind == ErrorKind::Internal {
            // The detail may name internals; it goes to the log, the user gets a next step.
            tracing::error!(detail = %self.message, "internal error");
            "internal error; the server logged the details and keeps running, try again".into()
        } else {
            self.message.clone()
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.kind,
                message,
                field: self.field,
                suggestion: self.suggestion,
            },
        };
        serde_json::to_value(body)
            .unwrap_or_else(|_| json!({"error": {"code": "internal", "message": "internal error"}}))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry = self.retry_after;
        let mut response = (status, Json(self.into_body())).into_response();
        if let Some(retry_after) = retry {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, retry_after.into());
        }
        response
    }
}
