//! Workspace routes: the caller's own (`/api/workspace`), the instructor's list and actions
//! (`/api/workspaces`), and joining a class (`/api/join`). Who may call which is decided in
//! the guard; these only act.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::body::{FromJson, JsonBody, from_json_by_serde};
use super::caller::{Caller, Instructor, SESSION_COOKIE, cookies_for};
use super::guard::client_ip;
use crate::error::ApiError;
use crate::workspace::names::check_display_name;
use crate::workspace::{Role, WorkspaceSummary, WorkspaceView};

/// The largest body a workspace route reads.
const MAX_BODY: usize = 16 * 1024;

fn view_of(s: &AppState, c: &Caller) -> WorkspaceView {
    let class = (c.role == Role::Instructor && !c.read_only)
        .then(|| s.workspaces.class_view())
        .flatten();
    c.ws.view(c.role, c.read_only, s.workspaces.base_url(), class)
}

/// `GET /api/workspace`: the caller's workspace and role.
#[utoipa::path(get, path = "/workspace", tag = "Workspaces", params(("workspace" = Option<String>, Query, description = "the instructor: a student workspace to read, read-only")), responses((status = 200, description = "the caller's workspace and role", body = crate::workspace::WorkspaceView), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn mine(State(s): State<AppState>, caller: Caller) -> Json<WorkspaceView> {
    Json(view_of(&s, &caller))
}

/// `POST /api/workspace/watch`: a new watch id; the old link stops working at once.
#[utoipa::path(post, path = "/workspace/watch", tag = "Workspaces", responses((status = 200, description = "the workspace with its new watch link", body = crate::workspace::WorkspaceView), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn new_watch(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<WorkspaceView>, ApiError> {
    s.workspaces.regenerate_watch(&caller.ws).await?;
    Ok(Json(view_of(&s, &caller)))
}

/// `GET /api/workspaces` (instructor): every workspace with live counters.
#[utoipa::path(get, path = "/workspaces", tag = "Class", responses((status = 200, description = "every workspace with live counters (the instructor)", body = Vec<crate::workspace::WorkspaceSummary>), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn list(_: Instructor, State(s): State<AppState>) -> Json<Vec<WorkspaceSummary>> {
    let base = s.workspaces.base_url();
    Json(
        s.workspaces
            .list()
            .iter()
            .map(|w| w.summary(base))
            .collect(),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWorkspace {
    name: Option<String>,
}

from_json_by_serde! {
    NewWorkspace => r#"{"name": "Ada"}"#,
    JoinBody => r#"{"code": "abcd-efgh", "name": "Ada"}"#,
}

/// `POST /api/join`'s answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Joined {
    /// The new workspace.
    #[serde(flatten)]
    pub view: WorkspaceView,
    /// The session credential (also set as the `socketlab_ws` cookie), for scripts.
    pub credential: String,
}

/// `POST /api/workspaces`'s answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Invitation {
    /// The workspace's id.
    pub id: String,
    /// Its student's name.
    pub name: String,
    /// The link that opens it (one person's).
    pub join_url: String,
    /// Its read-only link.
    pub watch_url: String,
    /// Its ports, `[LO, HI]`.
    pub port_range: Option<[u16; 2]>,
}

/// `POST /api/workspaces` (instructor): a workspace for one student, with a join link that
/// opens it.
#[utoipa::path(post, path = "/workspaces", tag = "Class", request_body(content = serde_json::Value, description = "{\"name\": \"Ada\"}"), responses((status = 201, description = "the workspace and the one-person link that opens it", body = Invitation), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn create(
    _: Instructor,
    State(s): State<AppState>,
    JsonBody(req): JsonBody<NewWorkspace>,
) -> Result<Response, ApiError> {
    let name = check_display_name("name", req.name.as_deref().unwrap_or(""))?;
    let (ws, invite) = s.workspaces.create_student(&name, true).await?;
    let invite = invite.unwrap_or_default();
    let body = serde_json::to_value(Invitation {
        id: ws.id.to_string(),
        name: ws.name(),
        join_url: s.workspaces.url(&format!("/join/{invite}")),
        watch_url: s.workspaces.url(&format!("/watch/{}", ws.watch_id())),
        port_range: ws.port_range().map(|(lo, hi)| [lo, hi]),
    })
    .map_err(|e| ApiError::internal(e.to_string()))?;
    if ws.unsaved()
        && let Err(e) = ws.save().await
    {
        return Ok(super::not_saved_with(e, body));
    }
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `POST /api/workspaces/{id}/reset` (instructor): stops and deletes its engines.
#[utoipa::path(post, path = "/workspaces/{id}/reset", tag = "Class", params(("id" = String, Path, description = "a workspace id")), responses((status = 204, description = "its engines stopped and deleted"), (status = 404, description = "no such workspace", body = crate::error::ErrorBody), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn reset(
    _: Instructor,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<WorkspaceSummary>, ApiError> {
    s.workspaces.reset(&id).await?;
    Ok(Json(
        s.workspaces.find(&id)?.summary(s.workspaces.base_url()),
    ))
}

/// `DELETE /api/workspaces/{id}` (instructor): stops its engines and removes it.
#[utoipa::path(delete, path = "/workspaces/{id}", tag = "Class", params(("id" = String, Path, description = "a workspace id")), responses((status = 204, description = "removed"), (status = 404, description = "no such workspace", body = crate::error::ErrorBody), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn remove(
    _: Instructor,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.workspaces.remove(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinBody {
    code: Option<String>,
    name: Option<String>,
}

/// `POST /api/join`: the class code (or a one-person link's) and a display name make (or
/// open) a workspace, and set the `socketlab_ws` cookie. The body also carries the session
/// secret as `credential`, for scripts that send it as `Authorization: Bearer`.
#[utoipa::path(post, path = "/join", tag = "Class", request_body(content = serde_json::Value, description = "{\"code\", \"name\"}"), responses((status = 201, description = "the new workspace (as GET /api/workspace shows it) and its credential", body = Joined), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn join(State(s): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let ip = client_ip(&s.guard, &parts);
    let body = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| ApiError::too_large(format!("a join request is at most {MAX_BODY} bytes")))?;
    let req = JoinBody::from_json(&body)?;
    let Some(code) = req.code.filter(|c| !c.trim().is_empty()) else {
        // Still counted: an empty code is a wrong guess like any other.
        s.workspaces.check_code("", ip)?;
        return Err(ApiError::invalid_spec(
            "field code is missing: give the class code your instructor shows".into(),
        )
        .at("code"));
    };
    let (ws, secret, saved) = s
        .workspaces
        .join(&code, req.name.as_deref().unwrap_or(""), ip)
        .await?;
    let caller = Caller {
        role: Role::Student,
        home: ws.clone(),
        ws,
        read_only: false,
        revoked: tokio_util::sync::CancellationToken::new(),
    };
    let view = serde_json::to_value(Joined {
        view: view_of(&s, &caller),
        credential: secret.clone(),
    })
    .map_err(|e| ApiError::internal(e.to_string()))?;
    // Not saved, the student still gets in (the workspace is live) and is told why.
    let mut response = match saved {
        Ok(()) => (StatusCode::CREATED, Json(view)).into_response(),
        Err(e) => super::not_saved_with(e, view),
    };
    for c in cookies_for(&s.guard, SESSION_COOKIE, &secret) {
        if let Ok(v) = c.parse() {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        "no-store"
            .parse()
            .map_err(|_| ApiError::internal("header".into()))?,
    );
    Ok(response)
}
