//! `/api/labs`: built-in and saved labs; save (from the current engines, or an import),
//! export (the `GET` body), change, delete, and load.

use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::body::{FromJson, JsonBody};
use super::caller::{Owner, Scope};
use crate::error::ApiError;
use crate::labs::{self, Lab, builtin};
use crate::workspace::Workspace;
use crate::workspace::labs as load;

fn find(ws: &Workspace, id: &str) -> Result<Lab, ApiError> {
    builtin::get(id)
        .cloned()
        .or_else(|| ws.labs().get(id))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no lab {id}; GET /api/labs lists the built-in ones and those saved here"
            ))
        })
}

/// A lab's body, or the API's error for one over the route's limit or unreadable.
/// A lab's JSON, bounded in depth before it is parsed; checked as a lab by the handler,
/// which knows the workspace's `--max-message`.
pub struct LabJson(Value);

impl FromJson for LabJson {
    const EXAMPLE: &'static str = r#"{"name": "My lab", "from_current": true}"#;

    fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        labs::check_depth(body)?;
        serde_json::from_slice(body).map(LabJson).map_err(|e| {
            ApiError::invalid_spec(format!(
                "a lab must be JSON: {{\"name\":\"My lab\",\"from_current\":true}} to save the current engines, or a lab's JSON to import: {e}"
            ))
        })
    }

    fn too_large() -> ApiError {
        ApiError::too_large(format!(
            "a lab is at most {} bytes of JSON without its files; export a smaller one",
            labs::MAX_LAB_BYTES
        ))
    }
}

fn not_builtin(id: &str) -> Result<(), ApiError> {
    if builtin::get(id).is_some() {
        // Not a bad request: the lab is there for everyone, and is not this caller's to change.
        return Err(ApiError::forbidden(format!(
            "lab {id} is built in and cannot be changed or deleted; import a copy (POST /api/labs with its JSON) and change that"
        )));
    }
    Ok(())
}

/// `GET /api/labs`: the built-in labs, then those saved here. Sent from JSON made once per
/// change and shared (a workspace's labs may be 16 MiB), never built per request.
#[utoipa::path(get, path = "/labs", tag = "Labs", params(("workspace" = Option<String>, Query, description = "the instructor: a student workspace to read, read-only")), responses((status = 200, description = "the built-in labs and those saved here", body = Vec<crate::labs::Lab>), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn list(Owner(ws): Owner) -> Response {
    let (builtins, saved) = (builtin::json_items(), ws.labs().json_items());
    let sep = if builtins.is_empty() || saved.is_empty() {
        ""
    } else {
        ","
    };
    let parts = [
        Bytes::from_static(b"["),
        builtins,
        Bytes::from_static(sep.as_bytes()),
        saved,
        Bytes::from_static(b"]"),
    ];
    let body = axum::body::Body::from_stream(futures_util::stream::iter(
        parts.into_iter().map(Ok::<_, std::convert::Infallible>),
    ));
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// `GET /api/labs/{id}`: one lab; its body is the export.
#[utoipa::path(get, path = "/labs/{id}", tag = "Labs", params(("id" = String, Path, description = "a lab id: echo, add, ... or l3"), ("workspace" = Option<String>, Query, description = "the instructor: a student workspace to read, read-only")), responses((status = 200, description = "the lab (its export)", body = crate::labs::Lab), (status = 404, description = "no such lab", body = crate::error::ErrorBody), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn get_one(Owner(ws): Owner, Path(id): Path<String>) -> Result<Json<Lab>, ApiError> {
    find(&ws, &id).map(Json)
}

/// `POST /api/labs`: `{"name","from_current": true}` saves the current engines; any other
/// body is a lab to import.
#[utoipa::path(post, path = "/labs", tag = "Labs", request_body(content = serde_json::Value, description = "{\"name\", \"from_current\": true, \"keep_ports\"} to save the engines, or a lab's JSON to import"), responses((status = 201, description = "the lab saved", body = crate::labs::Lab), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn create(
    Owner(ws): Owner,
    JsonBody(LabJson(v)): JsonBody<LabJson>,
) -> Result<Response, ApiError> {
    let lab = if v.get("from_current").and_then(Value::as_bool) == Some(true) {
        let obj = v.as_object().cloned().unwrap_or_default();
        for k in obj.keys() {
            if !["name", "description", "from_current", "keep_ports"].contains(&k.as_str()) {
                return Err(ApiError::invalid_spec(format!(
                    "field {k}: unknown with from_current; give name and, if you like, description and keep_ports"
                ))
                .at(k.as_str()));
            }
        }
        let name = v.get("name").and_then(Value::as_str).unwrap_or("").trim();
        if name.is_empty() {
            return Err(ApiError::invalid_spec(
                "field name: missing; name the lab, e.g. {\"name\":\"My echo lab\",\"from_current\":true}".into(),
            ).at("name"));
        }
        let description = match v.get("description") {
            None | Some(Value::Null) => "",
            Some(Value::String(d)) => d.as_str(),
            Some(_) => return Err(ApiError::bad_field("description", "must be text")),
        };
        let keep_ports = match v.get("keep_ports") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(ApiError::bad_field("keep_ports", "must be true or false")),
        };
        load::from_current(&ws, name.to_string(), description.to_string(), keep_ports).await?
    } else {
        Lab::from_value(v, ws.config().limits.max_message)?
    };
    let saved = ws.labs().add(lab)?;
    ws.save().await?;
    Ok((StatusCode::CREATED, Json(saved)).into_response())
}

/// `PUT /api/labs/{id}`: replaces a saved lab.
#[utoipa::path(put, path = "/labs/{id}", tag = "Labs", params(("id" = String, Path, description = "a saved lab's id")), request_body(content = serde_json::Value, description = "a lab"), responses((status = 200, description = "the lab", body = crate::labs::Lab), (status = 404, description = "no such lab", body = crate::error::ErrorBody), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn replace(
    Owner(ws): Owner,
    Path(id): Path<String>,
    JsonBody(LabJson(v)): JsonBody<LabJson>,
) -> Result<Json<Lab>, ApiError> {
    not_builtin(&id)?;
    find(&ws, &id)?;
    let lab = Lab::from_value(v, ws.config().limits.max_message)?;
    let saved = ws
        .labs()
        .put(&id, lab)?
        .ok_or_else(|| ApiError::not_found(format!("no lab {id}")))?;
    ws.save().await?;
    Ok(Json(saved))
}

/// `DELETE /api/labs/{id}`
#[utoipa::path(delete, path = "/labs/{id}", tag = "Labs", params(("id" = String, Path, description = "a saved lab's id")), responses((status = 204, description = "deleted"), (status = 404, description = "no such lab", body = crate::error::ErrorBody), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn remove(Owner(ws): Owner, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    not_builtin(&id)?;
    ws.labs().remove(&id).ok_or_else(|| {
        ApiError::not_found(format!("no lab {id}; GET /api/labs lists those saved here"))
    })?;
    ws.save().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/labs/{id}/load`'s query.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadQuery {
    /// Delete the workspace's engines first, so the lab is what is shown (and its fixed
    /// ports are free).
    #[serde(default)]
    replace: bool,
}

/// `POST /api/labs/{id}/load`: creates the lab's engines, servers first; all or nothing.
/// `?replace=true` deletes the workspace's engines first.
#[utoipa::path(post, path = "/labs/{id}/load", tag = "Labs", params(("id" = String, Path, description = "a lab id"), ("replace" = Option<bool>, Query, description = "delete the engines first")), responses((status = 200, description = "its engines and steps; a run starts", body = crate::workspace::labs::Loaded), (status = 404, description = "no such lab", body = crate::error::ErrorBody), (status = 409, description = "address_in_use", body = crate::error::ErrorBody), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn load_one(
    Owner(ws): Owner,
    Path(id): Path<String>,
    q: Result<axum::extract::Query<LoadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let lab = find(&ws, &id)?;
    let axum::extract::Query(q) = q.map_err(|e| {
        ApiError::invalid_spec(format!(
            "{}; the one option is ?replace=true (delete your engines first)",
            e.body_text()
        ))
    })?;
    if q.replace {
        ws.reset().await?;
    }
    let mut loaded = load::load(&ws, &lab).await?;
    if let Some(e) = loaded.unsaved.take() {
        let v = serde_json::to_value(&loaded).map_err(|e| ApiError::internal(e.to_string()))?;
        return Ok(super::not_saved_with(e, v));
    }
    Ok(Json(loaded).into_response())
}

/// `GET /api/labs/run`: the lab being done here, each step with what to do and whether it
/// is done (`404` when none was loaded).
#[utoipa::path(get, path = "/labs/run", tag = "Labs", params(("workspace" = Option<String>, Query, description = "the instructor: a student workspace to read, read-only")), responses((status = 200, description = "the lab being done, each step with its state", body = crate::workspace::RunView), (status = 404, description = "no lab loaded", body = crate::error::ErrorBody), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn run(Scope(ws): Scope) -> Result<Json<crate::workspace::RunView>, ApiError> {
    ws.run_view(true).map(Json).ok_or_else(no_run)
}

fn no_run() -> ApiError {
    ApiError::not_found(
        "no lab is loaded here; load one (POST /api/labs/{id}/load, or Load in the Labs panel)"
            .into(),
    )
}

/// `GET /api/labs/runs`'s answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Runs {
    /// The lab being done, if any.
    pub current: Option<crate::workspace::RunView>,
    /// The earlier runs, newest first.
    pub runs: Vec<crate::workspace::RunView>,
}

/// `GET /api/labs/runs`: the current run and the earlier ones, newest first.
#[utoipa::path(get, path = "/labs/runs", tag = "Labs", params(("workspace" = Option<String>, Query, description = "the instructor: a student workspace to read, read-only")), responses((status = 200, description = "the lab being done and the earlier runs", body = Runs), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn runs(Scope(ws): Scope) -> Json<Runs> {
    Json(Runs {
        current: ws.run_view(false),
        runs: ws.earlier_runs(),
    })
}

/// `POST /api/labs/run/steps/{n}/done`'s query.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoneQuery {
    /// The lab the step belongs to, as the page showed it: refused if another is loaded.
    lab: Option<String>,
}

/// `POST /api/labs/run/steps/{n}/done[?lab=ID]`: the student says a step the server cannot
/// check (one that shows a terminal's output) is done; it is marked self-reported.
#[utoipa::path(post, path = "/labs/run/steps/{n}/done", tag = "Labs", params(("n" = String, Path, description = "the step, from 0"), ("lab" = Option<String>, Query, description = "the lab the step belongs to")), responses((status = 200, description = "the run", body = crate::workspace::RunView), (status = 404, description = "no lab loaded, no such step, or another lab", body = crate::error::ErrorBody), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn step_done(
    Owner(ws): Owner,
    Path(n): Path<String>,
    q: Result<axum::extract::Query<DoneQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<crate::workspace::RunView>, ApiError> {
    let axum::extract::Query(q) = q.map_err(|e| {
        ApiError::invalid_spec(format!(
            "{}; the one option is ?lab=ID (the lab the step belongs to)",
            e.body_text()
        ))
    })?;
    let n: usize = n.parse().map_err(|_| {
        ApiError::invalid_spec(format!(
            "step {n:?} is not a step number: steps are counted from 0, as GET /api/labs/run lists them"
        ))
    })?;
    if ws.run_view(false).is_none() {
        return Err(no_run());
    }
    ws.say_step_done(n, q.lab.as_deref()).map(Json)
}
