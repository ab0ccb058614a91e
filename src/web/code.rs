//! `GET /api/engines/{id}/code`: the program behind an engine, or the languages it can be
//! written in.

use super::params::Id;
use crate::ids::EngineId;
use axum::Json;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::bad_query;
use super::caller::Scope;
use crate::code::{self, Lang, Program};
use crate::error::ApiError;

/// Query of `GET /api/engines/{id}/code`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeQuery {
    lang: Option<String>,
}

/// `GET /api/engines/{id}/code[?lang=python|bash|tcl|powershell]`
#[utoipa::path(get, path = "/engines/{id}/code", tag = "Engines", params(("id" = String, Path, description = "an engine id, e.g. e1"), ("workspace" = Option<String>, Query, description = "the instructor: a student workspace to read, read-only"), ("lang" = Option<String>, Query, description = "python, bash, tcl or powershell")), responses((status = 200, description = "the program behind the engine", body = String, content_type = "text/plain"), (status = 404, description = "no such engine here", body = crate::error::ErrorBody), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn code(
    Scope(ws): Scope,
    Id(id): Id<EngineId>,
    q: Result<Query<CodeQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    let view = ws.engine(id)?.view();
    let file_name = view
        .options
        .file
        .and_then(|f| ws.files().get(f).ok())
        .map(|m| m.name);
    if view.kind.is_proxy() {
        return Err(ApiError::invalid_spec(format!(
            "engine {id} is a {}: it relays between a client and a server and has no program of its own; the Code tab of either engine shows theirs",
            view.kind.name()
        )));
    }
    let program = Program::of(&view, file_name).ok_or_else(|| {
        ApiError::invalid_spec(format!(
            "engine {id} has no address to write into a program yet; start it first"
        ))
    })?;
    let Some(lang) = q.lang else {
        return Ok(Json(code::languages(&program)).into_response());
    };
    let lang = Lang::parse(&lang).ok_or_else(|| {
        ApiError::invalid_spec(format!(
            "field lang: \"{lang}\" is not a language here; use python, bash, tcl or powershell"
        ))
        .at("lang")
    })?;
    let file = format!("{}.{}", program.stem(), lang.extension());
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{file}\""),
            ),
        ],
        code::generate(lang, &program),
    )
        .into_response())
}
