//! `/api/class`: the instructor hands a lab out to the class, and downloads the class's
//! progress as CSV.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::body::{JsonBody, from_json_by_serde};
use super::caller::Instructor;
use crate::error::ApiError;
use crate::labs::builtin;

/// Who gets a lab: `"all"`, or a list of workspace ids.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum To {
    /// `"all"`, or another word (refused).
    Word(String),
    /// Chosen students.
    Some(Vec<String>),
}

/// `POST /api/class/labs`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandOut {
    /// One of the instructor's labs (built in or saved).
    lab: String,
    /// `"all"` (and those who join later) or `["w1a2b3c4", ...]`.
    to: To,
    /// Load it in each workspace as it is given.
    #[serde(default)]
    load: bool,
}

from_json_by_serde! {
    HandOut => r#"{"lab": "echo", "to": "all", "load": true}"#,
}

/// `POST /api/class/labs` (instructor): copies one of the instructor's labs into every
/// student's labs (or the chosen ones'), loading it when asked; fixed ports outside a
/// student's block become port 0 inside it, and the answer says so per student.
#[utoipa::path(post, path = "/class/labs", tag = "Class", request_body(content = serde_json::Value, description = "{\"lab\", \"to\": \"all\" or [ids], \"load\"}"), responses((status = 200, description = "what each student was given", body = HandedOut), (status = 404, description = "no such lab or workspace", body = crate::error::ErrorBody), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn hand_out(
    Instructor(caller): Instructor,
    State(s): State<AppState>,
    JsonBody(req): JsonBody<HandOut>,
) -> Result<Response, ApiError> {
    let lab = builtin::get(&req.lab)
        .cloned()
        .or_else(|| caller.home.labs().get(&req.lab))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no lab {}; GET /api/labs lists the built-in ones and those you saved",
                req.lab
            ))
            .at("lab")
        })?;
    let to = match req.to {
        To::Word(w) if w == "all" => None,
        To::Word(w) => {
            return Err(ApiError::bad_field(
                "to",
                format!("{w:?}: give \"all\" or a list of workspace ids"),
            ));
        }
        To::Some(ids) if ids.is_empty() => {
            return Err(ApiError::bad_field(
                "to",
                "an empty list gives the lab to no one: give \"all\" or workspace ids",
            ));
        }
        To::Some(ids) => Some(ids),
    };
    let everyone = to.is_none();
    let given = s.workspaces.hand_out(lab.clone(), to, req.load).await?;
    let rewritten = given.iter().filter(|g| !g.rewritten.is_empty()).count();
    let copied = given.iter().filter(|g| g.lab.is_some()).count();
    let loaded = given.iter().filter(|g| g.loaded).count();
    let failed = given.iter().filter(|g| g.error.is_some()).count();
    let to = if everyone {
        json!("all")
    } else {
        json!(given.iter().map(|g| &g.workspace).collect::<Vec<_>>())
    };
    Ok(Json(HandedOut {
        lab: LabName {
            id: lab.id,
            name: lab.name,
        },
        to,
        load: req.load,
        late_joiners: everyone,
        given: copied,
        loaded,
        failed,
        ports_rewritten: rewritten,
        workspaces: given,
    })
    .into_response())
}

/// A lab by its id and name.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct LabName {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// `POST /api/class/labs`'s answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct HandedOut {
    /// The lab handed out.
    pub lab: LabName,
    /// `"all"`, or the workspaces it went to.
    pub to: serde_json::Value,
    /// Whether it was loaded as given.
    pub load: bool,
    /// Whether those who join later get it too.
    pub late_joiners: bool,
    /// Copies made.
    pub given: usize,
    /// Copies loaded.
    pub loaded: usize,
    /// Workspaces where giving or loading failed.
    pub failed: usize,
    /// Workspaces whose copy had fixed ports moved into their block.
    pub ports_rewritten: usize,
    /// Each workspace's part.
    pub workspaces: Vec<crate::workspace::handout::Given>,
}

/// A CSV field: quoted when it must be, and a leading `=`, `+`, `-` or `@` defused (a
/// student's name must not run as a formula in the instructor's spreadsheet).
fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// `GET /api/class/progress.csv` (instructor): one row per workspace and step of the lab
/// it is doing (`workspace,name,lab,step,done,how,at,handed_out`: the lab by its name, as
/// each student's copy has an id of its own, and the instructor's lab it is a copy of, so a
/// look-alike a student made is told apart); a workspace with no lab has one row with those
/// empty.
#[utoipa::path(get, path = "/class/progress.csv", tag = "Class", responses((status = 200, description = "workspace,name,lab,step,done,how,at,handed_out", body = String, content_type = "text/csv"), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn progress_csv(_: Instructor, State(s): State<AppState>) -> Response {
    let mut out = String::from("workspace,name,lab,step,done,how,at,handed_out\n");
    for ws in s.workspaces.list() {
        let (id, name) = (field(&ws.id), field(&ws.name()));
        match ws.run_view(false) {
            None => out.push_str(&format!("{id},{name},,,,,,\n")),
            Some(run) => {
                for (i, st) in run.steps.iter().enumerate() {
                    let how = match st.how {
                        Some(crate::labs::run::How::Seen) => "seen",
                        Some(crate::labs::run::How::Said) => "self",
                        None => "",
                    };
                    out.push_str(&format!(
                        "{id},{name},{},{i},{},{how},{},{}\n",
                        field(&run.name),
                        st.done,
                        st.at.as_deref().unwrap_or(""),
                        field(run.handed_out.as_deref().unwrap_or(""))
                    ));
                }
            }
        }
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"progress.csv\"",
            ),
        ],
        out,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_csv_field_is_quoted_and_never_a_formula() {
        assert_eq!(super::field("Ada"), "Ada");
        assert_eq!(super::field("Lovelace, Ada"), "\"Lovelace, Ada\"");
        assert_eq!(super::field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(super::field("=1+1"), "'=1+1");
        assert_eq!(super::field("@SUM(A1)"), "'@SUM(A1)");
    }
}
