//! REST handlers for API.md's routes.

use super::params::{Conn, Id, named};
use crate::capture::render::export;
use crate::ids::{ConnId, ConnPick, EngineId};
use axum::Json;
use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::bad_query;
use super::caller::Scope;
use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt;

use super::body::{JsonBody, from_json_by_serde};
use crate::addr::{parse_host_port, resolve};
use crate::capture::Filter;
use crate::codec::decode;
use crate::config::MAX_UDP_PAYLOAD;
use crate::engine::{EngineSpec, EngineView, MAX_REPEAT, SendOutcome, SendTarget};
use crate::error::ApiError;

/// `GET /api/engines`
#[utoipa::path(get, path = "/engines", tag = "Engines", params(("workspace" = Option<String>, Query, description = "the instructor: a student workspace to read, read-only")), responses((status = 200, description = "the engines of the workspace", body = Vec<crate::engine::EngineView>), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn list(Scope(ws): Scope) -> Json<Vec<EngineView>> {
    Json(ws.engines())
}

/// `POST /api/engines`
#[utoipa::path(post, path = "/engines", tag = "Engines", request_body(content = serde_json::Value, description = "an EngineSpec: {\"kind\": \"tcp-server\", \"bind\": \"127.0.0.1:0\", \"behavior\": \"echo\"} (API.md)"), responses((status = 201, description = "the engine, started", body = crate::engine::EngineView), (status = 409, description = "address_in_use: the port is taken", body = crate::error::ErrorBody), (status = 502, description = "connect_failed: a client could not connect", body = crate::error::ErrorBody), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn create(
    Scope(ws): Scope,
    JsonBody(spec): JsonBody<EngineSpec>,
) -> Result<Response, ApiError> {
    let (view, saved) = ws.create_engine(spec).await?;
    // Not on disk, the engine runs all the same: the page gets it, and the banner.
    if let Err(e) = saved {
        let v = serde_json::to_value(&view).map_err(|e| ApiError::internal(e.to_string()))?;
        return Ok(super::not_saved_with(e, v));
    }
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// `GET /api/engines/{id}`
#[utoipa::path(get, path = "/engines/{id}", tag = "Engines", params(("id" = String, Path, description = "an engine id, e.g. e1"), ("workspace" = Option<String>, Query, description = "the instructor: a student workspace to read, read-only")), responses((status = 200, description = "the engine with its live connections", body = crate::engine::EngineView), (status = 404, description = "no such engine here", body = crate::error::ErrorBody), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn get_one(Scope(ws): Scope, Id(id): Id<EngineId>) -> Result<Json<EngineView>, ApiError> {
    Ok(Json(ws.engine(id)?.view()))
}

/// What `PATCH /api/engines/{id}` may change on a running engine.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    options: PatchOptions,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchOptions {
    /// The new impairment; `null` turns it off.
    impair: Option<crate::engine::impair::Impair>,
}

/// `PATCH /api/engines/{id}`: `{"options": {"impair": {...}}}` changes a UDP engine's
/// impairment; the next datagram follows it.
#[utoipa::path(patch, path = "/engines/{id}", tag = "Engines", params(("id" = String, Path, description = "an engine id, e.g. e1")), request_body(content = serde_json::Value, description = "{\"options\": {\"impair\": {...}}} on a UDP engine"), responses((status = 200, description = "the engine", body = crate::engine::EngineView), (status = 404, description = "no such engine here", body = crate::error::ErrorBody), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn patch(
    Scope(ws): Scope,
    Id(id): Id<EngineId>,
    JsonBody(p): JsonBody<Patch>,
) -> Result<Json<EngineView>, ApiError> {
    let engine = ws.engine(id)?;
    if engine.kind().is_tcp() {
        return Err(ApiError::invalid_spec(format!(
            "field options.impair is for UDP engines; {id} is a {} (TCP repairs loss itself)",
            engine.kind().name()
        ))
        .at("options.impair"));
    }
    if let Some(i) = &p.options.impair {
        i.check()?;
    }
    engine.set_impair(p.options.impair);
    Ok(Json(engine.view()))
}

/// `POST /api/engines/{id}/stop`
#[utoipa::path(post, path = "/engines/{id}/stop", tag = "Engines", params(("id" = String, Path, description = "an engine id, e.g. e1")), responses((status = 200, description = "the engine, stopped; its port is free", body = crate::engine::EngineView), (status = 404, description = "no such engine here", body = crate::error::ErrorBody), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn stop(Scope(ws): Scope, Id(id): Id<EngineId>) -> Result<Json<EngineView>, ApiError> {
    let e = ws.engine(id)?;
    e.stop().await;
    Ok(Json(e.view()))
}

/// `POST /api/engines/{id}/start`
#[utoipa::path(post, path = "/engines/{id}/start", tag = "Engines", params(("id" = String, Path, description = "an engine id, e.g. e1")), responses((status = 200, description = "the engine, running", body = crate::engine::EngineView), (status = 404, description = "no such engine here", body = crate::error::ErrorBody), (status = 409, description = "address_in_use", body = crate::error::ErrorBody), (status = 502, description = "connect_failed", body = crate::error::ErrorBody), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn start(Scope(ws): Scope, Id(id): Id<EngineId>) -> Result<Json<EngineView>, ApiError> {
    let e = ws.engine(id)?;
    e.start().await?;
    Ok(Json(e.view()))
}

/// `DELETE /api/engines/{id}`
#[utoipa::path(delete, path = "/engines/{id}", tag = "Engines", params(("id" = String, Path, description = "an engine id, e.g. e1")), responses((status = 204, description = "stopped and deleted"), (status = 404, description = "no such engine here", body = crate::error::ErrorBody), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn delete_one(Scope(ws): Scope, Id(id): Id<EngineId>) -> Result<StatusCode, ApiError> {
    ws.delete_engine(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    #[serde(default)]
    data: String,
    encoding: Option<String>,
    conn: Option<ConnPick>,
    to: Option<String>,
    shutdown: Option<String>,
    #[serde(default, deserialize_with = "crate::json::whole_opt")]
    repeat: Option<u32>,
    #[serde(default, deserialize_with = "crate::json::whole_opt")]
    interval_ms: Option<u64>,
}

from_json_by_serde! {
    Patch => r#"{"options": {"impair": {"loss": 0.2, "seed": 1}}}"#,
    SendBody => r#"{"data": "hello\n", "conn": "c2"}"#,
}

/// The longest pause between repeated sends: an hour.
const MAX_INTERVAL_MS: u64 = 3_600_000;

/// `POST /api/engines/{id}/send`
#[utoipa::path(post, path = "/engines/{id}/send", tag = "Engines", params(("id" = String, Path, description = "an engine id, e.g. e1")), request_body(content = serde_json::Value, description = "{\"data\", \"encoding\": text|hex|base64, \"conn\", \"to\", \"shutdown\": \"write\", \"repeat\", \"interval_ms\"}"), responses((status = 200, description = "what was sent: {bytes, sent_to}", body = crate::engine::SendOutcome), (status = 404, description = "no such engine or connection", body = crate::error::ErrorBody), (status = 409, description = "not_running", body = crate::error::ErrorBody), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn send(
    Scope(ws): Scope,
    Id(id): Id<EngineId>,
    JsonBody(req): JsonBody<SendBody>,
) -> Result<Json<SendOutcome>, ApiError> {
    let engine = ws.engine(id)?;
    let data = decode(req.encoding.as_deref(), &req.data)?;
    let limits = &ws.config().limits;
    let udp = !engine.kind().is_tcp();
    let max = if udp {
        limits.max_message.min(MAX_UDP_PAYLOAD)
    } else {
        limits.max_message
    };
    if data.len() > max {
        let why = if udp && max == MAX_UDP_PAYLOAD {
            "a UDP datagram carries at most 65507 bytes".to_string()
        } else {
            "the message size limit (--max-message)".to_string()
        };
        return Err(ApiError::too_large(format!(
            "{} bytes is over {why}: {max} bytes; send it in smaller pieces",
            data.len()
        )));
    }
    let shutdown_write = match req.shutdown.as_deref() {
        None => false,
        Some("write") => true,
        Some(other) => {
            return Err(ApiError::invalid_spec(format!(
                "field shutdown: \"{other}\" is not supported; use \"write\" to half-close after sending"
            )).at("shutdown"));
        }
    };
    if data.is_empty() && !shutdown_write {
        return Err(ApiError::invalid_data(
            "data is empty; give the bytes to send in data (or \"shutdown\": \"write\" to only half-close)".into(),
        ));
    }
    let to = match &req.to {
        Some(t) => {
            let hp = parse_host_port("to", t)?;
            if hp.port == 0 {
                return Err(ApiError::invalid_address(
                    "to: port 0 cannot be sent to; give the receiver's port".into(),
                ));
            }
            let addrs = resolve("to", &hp, &ws.config().policy).await?;
            Some(addrs[0])
        }
        None => None,
    };
    let times = req.repeat.unwrap_or(1);
    if !(1..=MAX_REPEAT).contains(&times) {
        return Err(ApiError::invalid_spec(format!(
            "field repeat: {times} is out of range; send 1 to {MAX_REPEAT} times"
        ))
        .at("repeat"));
    }
    let interval = req.interval_ms.unwrap_or(0);
    if interval > MAX_INTERVAL_MS {
        return Err(ApiError::invalid_spec(format!(
            "field interval_ms: at most {MAX_INTERVAL_MS} (an hour)"
        ))
        .at("interval_ms"));
    }
    if times > 1 && shutdown_write {
        return Err(ApiError::invalid_spec(
            "field shutdown: a half-close cannot be repeated; send it once".into(),
        )
        .at("shutdown"));
    }
    // Kept for "Save as lab": the send as a step, and where its reply is to be looked for.
    let after = ws.capture().lock().next_seq();
    let mut step = serde_json::json!({"data": req.data});
    if let Some(e) = &req.encoding {
        step["encoding"] = e.as_str().into();
    }
    if matches!(req.conn, Some(crate::ids::ConnPick::All)) {
        step["conn"] = "*".into();
    }
    if let Some(t) = &req.to {
        step["to"] = t.as_str().into();
    }
    if shutdown_write {
        step["shutdown"] = "write".into();
    }
    if times > 1 {
        step["repeat"] = times.into();
        step["interval_ms"] = interval.into();
    }
    let sample = data[..data.len().min(200)].to_vec();
    let out = engine
        .send_repeated(
            Bytes::from(data),
            SendTarget {
                conn: req.conn,
                to,
                shutdown_write,
            },
            times,
            std::time::Duration::from_millis(interval),
        )
        .await?;
    ws.note_send(id, step, &sample, after);
    Ok(Json(out))
}

/// `POST /api/engines/{id}/send/stop`: ends the engine's repeated sends.
#[utoipa::path(post, path = "/engines/{id}/send/stop", tag = "Engines", params(("id" = String, Path, description = "an engine id, e.g. e1")), responses((status = 200, description = "how many repeated sends were ended", body = Stopped), (status = 404, description = "no such engine here", body = crate::error::ErrorBody), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn stop_sending(
    Scope(ws): Scope,
    Id(id): Id<EngineId>,
) -> Result<Json<Stopped>, ApiError> {
    let stopped = ws.engine(id)?.stop_repeats();
    Ok(Json(Stopped { stopped }))
}

/// `POST /api/engines/{id}/send/stop`'s answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Stopped {
    /// Repeated sends ended.
    pub stopped: usize,
}

/// `DELETE /api/engines/{id}/connections/{conn}`
#[utoipa::path(delete, path = "/engines/{id}/connections/{conn}", tag = "Engines", params(("id" = String, Path, description = "an engine id, e.g. e1"), ("conn" = String, Path, description = "a connection id, e.g. c2")), responses((status = 204, description = "closed"), (status = 404, description = "no such engine or connection", body = crate::error::ErrorBody), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn close_conn(
    Scope(ws): Scope,
    Id(id): Id<EngineId>,
    Conn(conn): Conn,
) -> Result<StatusCode, ApiError> {
    ws.engine(id)?.close_conn(conn).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of `GET /api/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    engine: Option<String>,
    conn: Option<ConnId>,
    since: Option<u64>,
    before: Option<u64>,
    until: Option<u64>,
    limit: Option<usize>,
}

/// The most events one `GET /api/events` returns.
const MAX_EVENTS_PAGE: usize = 10_000;
/// The most JSON one page of events carries (past it the page ends early, its `next`
/// where it stopped): 10,000 events of 4 KiB previews would be 100 MB.
pub(super) const MAX_PAGE_BYTES: usize = 1 << 20;

/// A page of events as a JSON response.
fn events_page(records: &[Utf8Bytes], next: u64) -> Response {
    let out = crate::capture::render::page(records, next);
    ([(header::CONTENT_TYPE, "application/json")], out).into_response()
}

/// `GET /api/events`
#[utoipa::path(get, path = "/events", tag = "Events", params(("workspace" = Option<String>, Query, description = "the instructor: a student workspace to read, read-only"), ("engine" = Option<String>, Query, description = "one engine's"), ("conn" = Option<String>, Query, description = "one connection's"), ("since" = Option<u64>, Query, description = "after this seq"), ("before" = Option<u64>, Query, description = "before this seq (pages backwards)"), ("until" = Option<u64>, Query, description = "none after this seq"), ("limit" = Option<u32>, Query, description = "at most this many")), responses((status = 200, description = "{events: [...], next: SEQ}", body = serde_json::Value), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn events(
    Scope(ws): Scope,
    q: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    let filter = Filter {
        engine: match &q.engine {
            Some(e) => Some(ws.engine(named(e)?)?.id),
            None => None,
        },
        conn: q.conn,
        until: q.until,
    };
    let limit = q.limit.unwrap_or(1000).clamp(1, MAX_EVENTS_PAGE);
    let mut ring = ws.capture().lock();
    let (records, next) = match (q.before, q.since) {
        // Both: the events between them, oldest first.
        (Some(before), Some(since)) => {
            let until = before.saturating_sub(1);
            let filter = Filter {
                until: Some(filter.until.map_or(until, |u| u.min(until))),
                ..filter
            };
            ring.history_within(filter, since, limit, MAX_PAGE_BYTES)
        }
        (Some(before), None) => ring.history_before(filter, before, limit, MAX_PAGE_BYTES),
        (None, since) => ring.history_within(filter, since.unwrap_or(0), limit, MAX_PAGE_BYTES),
    };
    drop(ring);
    Ok(events_page(&records, next))
}

/// Events rendered per lock when exporting, so a long export never holds the ring for long.
pub(super) const EXPORT_STEP: usize = 2048;

/// `GET /api/engines/{id}/export`: every kept event of an engine, as a file to save. It is
/// written as it is read, a page at a time, so a million kept events never sit in memory
/// whole.
#[utoipa::path(get, path = "/engines/{id}/export", tag = "Events", params(("id" = String, Path, description = "an engine id, e.g. e1"), ("workspace" = Option<String>, Query, description = "the instructor: a student workspace to read, read-only")), responses((status = 200, description = "every kept event of the engine, as a JSON file", body = serde_json::Value), (status = 404, description = "no such engine here", body = crate::error::ErrorBody), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn export(Scope(ws): Scope, Id(id): Id<EngineId>) -> Result<Response, ApiError> {
    let engine = ws.engine(id)?;
    let view =
        serde_json::to_string(&engine.view()).map_err(|e| ApiError::internal(e.to_string()))?;
    let filter = Filter {
        engine: Some(engine.id),
        ..Filter::default()
    };
    let end = ws.capture().lock().next_seq().saturating_sub(1);
    let head = export::head(&view);
    let pages = futures_util::stream::unfold(
        (ws.clone(), 0u64, false),
        move |(ws, since, wrote)| async move {
            if since >= end {
                return None;
            }
            let (records, next) = ws.capture().lock().history(
                Filter {
                    until: Some(end),
                    ..filter
                },
                since,
                EXPORT_STEP,
            );
            let chunk = export::step(&records, wrote);
            let wrote = wrote || !records.is_empty();
            Some((
                Ok::<_, std::convert::Infallible>(chunk),
                (ws, next.max(since + 1), wrote),
            ))
        },
    );
    let body = futures_util::stream::once(async move { Ok(head) })
        .chain(pages)
        .chain(futures_util::stream::once(async {
            Ok(export::TAIL.to_string())
        }));
    let disposition = format!(
        "attachment; filename=\"socketlab-{}-events.json\"",
        engine.id
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}

/// Unknown `/api` routes.
pub async fn no_route() -> ApiError {
    ApiError::not_found("no such API route; see docs/api.md for the routes".into())
}

/// A known `/api` route with the wrong method.
pub async fn bad_method() -> Response {
    let body = crate::error::error_body(StatusCode::METHOD_NOT_ALLOWED, "");
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}
