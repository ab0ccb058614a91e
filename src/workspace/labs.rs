//! Loading a lab into a workspace (its files, then its servers, then its clients aimed at
//! them; all or nothing), and saving a workspace's engines as a lab: the workspace's side of
//! `crate::labs`, which knows labs and not workspaces.

use std::net::SocketAddr;

use serde::Serialize;
use serde_json::Value;

use super::Workspace;
use crate::engine::{EngineSpec, EngineView};
use crate::error::ApiError;
use crate::ids::{EngineId, FileId};
pub use crate::labs::run::{LoadedExpect, LoadedStep};
use crate::labs::{Lab, LabFile, at_index, engine_error};

/// A file a saved lab carries inside it rather than by id, at most this big.
const EMBED_FILE: u64 = 256 * 1024;

/// What `POST /api/labs/{id}/load` returns.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Loaded {
    /// The lab's id.
    pub lab: String,
    /// Its name.
    pub name: String,
    /// Its engines as created, in the lab's order.
    pub engines: Vec<EngineView>,
    /// Its steps, with `@N` resolved to real addresses and engine indexes to ids.
    pub steps: Vec<LoadedStep>,
    /// The save that failed, if one did: the engines run, but are not on disk.
    #[serde(skip)]
    pub unsaved: Option<ApiError>,
}

/// `@0`, `@0.host` and `@0.port` in `s`, with engine 0's address.
fn resolve(s: &str, addrs: &[Option<SocketAddr>]) -> String {
    static AT: std::sync::OnceLock<regex_lite::Regex> = std::sync::OnceLock::new();
    let at = AT.get_or_init(|| regex_lite::Regex::new(r"@(\d+)(\.host|\.port)?").expect("valid"));
    at.replace_all(s, |c: &regex_lite::Captures<'_>| {
        let addr = c[1]
            .parse::<usize>()
            .ok()
            .and_then(|n| addrs.get(n).copied().flatten());
        match (addr, c.get(2).map(|m| m.as_str())) {
            (Some(a), Some(".host")) => a.ip().to_string(),
            (Some(a), Some(".port")) => a.port().to_string(),
            (Some(a), _) => a.to_string(),
            (None, _) => c[0].to_string(),
        }
    })
    .into_owned()
}

/// Loads `lab` into `ws`: all of it, or (on any failure) nothing, the failure naming the
/// engine (`engines[2]: port 5000 is in use ...`).
pub async fn load(ws: &Workspace, lab: &Lab) -> Result<Loaded, ApiError> {
    let mut made_files = Vec::new();
    let mut made = Vec::new();
    // The load's own events count toward its steps (a client greeted as it connects).
    let from = (ws.capture().lock().next_seq(), std::time::SystemTime::now());
    let mut result = load_into(ws, lab, &mut made_files, &mut made).await;
    if let Ok(loaded) = &mut result {
        let ids: Vec<EngineId> = loaded.engines.iter().map(|v| v.id).collect();
        ws.start_run(lab, &ids, loaded.steps.clone(), from);
        if let Err(e) = ws.save().await {
            loaded.unsaved = Some(e);
        }
    }
    if result.is_err() {
        for id in made.iter().rev() {
            let _ = ws.delete_engine(*id).await;
        }
        for id in &made_files {
            let _ = ws.files().remove(*id).await;
        }
    }
    result
}

async fn lab_file(ws: &Workspace, f: &LabFile, made: &mut Vec<FileId>) -> Result<FileId, ApiError> {
    use sha2::Digest as _;
    let sha = crate::secret::to_hex(&sha2::Sha256::digest(f.text.as_bytes()));
    if let Some(same) = ws
        .files()
        .list()
        .into_iter()
        .find(|m| m.name == f.name && m.sha256 == sha)
    {
        return Ok(same.id);
    }
    let mut w = ws.files().create(f.name.clone(), None).await?;
    w.write(f.text.as_bytes()).await?;
    let meta = w.finish(ws.files()).await?;
    made.push(meta.id);
    Ok(meta.id)
}

async fn load_into(
    ws: &Workspace,
    lab: &Lab,
    made_files: &mut Vec<FileId>,
    made: &mut Vec<EngineId>,
) -> Result<Loaded, ApiError> {
    let mut file_ids = Vec::new();
    let mut unsaved = None;
    for (i, f) in lab.files.iter().enumerate() {
        let id = lab_file(ws, f, made_files)
            .await
            .map_err(|e| e.map_message(|m| format!("files[{i}]: {m}")))?;
        file_ids.push(id);
    }
    let is_server = |v: &Value| {
        v.get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k.ends_with("-server"))
    };
    let order: Vec<usize> = (0..lab.engines.len())
        .filter(|&i| is_server(&lab.engines[i]))
        .chain((0..lab.engines.len()).filter(|&i| !is_server(&lab.engines[i])))
        .collect();
    let mut views: Vec<Option<EngineView>> = vec![None; lab.engines.len()];
    for i in order {
        let mut spec = lab.engines[i].clone();
        if let Some(n) = spec
            .get("target")
            .and_then(Value::as_str)
            .and_then(at_index)
        {
            let addr = views
                .get(n)
                .and_then(|v| v.as_ref())
                .and_then(|v| v.local)
                .ok_or_else(|| {
                    ApiError::invalid_spec(format!(
                        "field engines[{i}].target: @{n} is not a server of this lab"
                    ))
                    .at(format!("engines[{i}].target"))
                })?;
            spec["target"] = Value::from(addr.to_string());
        }
        if let Some(n) = spec
            .pointer("/options/file")
            .and_then(Value::as_str)
            .and_then(at_index)
        {
            let id = file_ids.get(n).cloned().ok_or_else(|| {
                ApiError::invalid_spec(format!(
                    "field engines[{i}].options.file: the lab has no file @{n}"
                ))
                .at(format!("engines[{i}].options.file"))
            })?;
            spec["options"]["file"] = Value::from(id.to_string());
        }
        let body = serde_json::to_vec(&spec).unwrap_or_default();
        let parsed = EngineSpec::from_json(&body).map_err(|e| engine_error(i, e))?;
        let (view, saved) = ws
            .create_engine(parsed)
            .await
            .map_err(|e| engine_error(i, e))?;
        // Not on disk is not a failure of the load: the engines run, and the answer says so.
        if let Err(e) = saved {
            unsaved = Some(e);
        }
        made.push(view.id);
        views[i] = Some(view);
    }
    let views: Vec<EngineView> = views.into_iter().flatten().collect();
    let addrs: Vec<Option<SocketAddr>> = views.iter().map(|v| v.local).collect();
    let id_of = |n: Option<usize>| n.and_then(|n| views.get(n)).map(|v| v.id.to_string());
    let steps = lab
        .steps
        .iter()
        .map(|s| LoadedStep {
            checked: s
                .expect
                .as_ref()
                .is_some_and(crate::labs::Expect::is_checked),
            text: resolve(&s.text, &addrs),
            engine: id_of(s.engine),
            send: s.send.clone(),
            run: s.run.as_deref().map(|r| resolve(r, &addrs)),
            input: s.input.clone(),
            expect: s.expect.as_ref().map(|e| LoadedExpect {
                engine: id_of(e.engine),
                kind: e.kind.clone(),
                text: e.text.clone(),
                output: e.output.clone(),
            }),
        })
        .collect();
    Ok(Loaded {
        lab: lab.id.clone(),
        name: lab.name.clone(),
        engines: views,
        steps,
        unsaved,
    })
}

/// The workspace's engines as a lab: their specs in order, clients aimed at one of these
/// servers written `@N`, small files a file server sends carried inside, fixed ports made 0
/// unless `keep_ports` (so the lab loads in any workspace's block), and the sends made from
/// the page as its steps, each expecting the reply that came back.
pub async fn from_current(
    ws: &Workspace,
    name: String,
    description: String,
    keep_ports: bool,
) -> Result<Lab, ApiError> {
    let views = ws.engines();
    if views.is_empty() {
        return Err(ApiError::invalid_spec(
            "there are no engines to save; start some (a preset, or the form), then save them as a lab".into(),
        ));
    }
    let saved = ws.saved_engines();
    let mut files: Vec<LabFile> = Vec::new();
    let mut engines = Vec::new();
    let (mut order, mut names) = (Vec::new(), Vec::new());
    for v in &views {
        let Some(mut spec) = saved
            .iter()
            .find(|s| s.id == v.id.to_string())
            .map(|s| s.spec.clone())
        else {
            continue;
        };
        let target = v
            .target
            .as_deref()
            .and_then(|t| t.parse::<SocketAddr>().ok())
            .or(v.peer);
        if let Some(t) = target
            && !v.kind.is_server()
            && let Some(n) = views.iter().position(|s| {
                s.kind.is_server() && s.kind.is_tcp() == v.kind.is_tcp() && s.local == Some(t)
            })
        {
            spec["target"] = Value::from(format!("@{n}"));
        }
        if let Some(fid) = v.options.file
            && let Ok(meta) = ws.files().get(fid)
            && meta.bytes <= EMBED_FILE
            && let Ok(bytes) = tokio::fs::read(ws.files().path(&meta)).await
            && let Ok(text) = String::from_utf8(bytes)
        {
            files.push(LabFile {
                name: meta.name,
                text,
            });
            spec["options"]["file"] = Value::from(format!("@{}", files.len() - 1));
        }
        if !keep_ports
            && let Some(bind) = spec.get("bind").and_then(Value::as_str)
            && let Ok(a) = bind.parse::<SocketAddr>()
        {
            spec["bind"] = Value::from(SocketAddr::new(a.ip(), 0).to_string());
        }
        order.push(v.id);
        names.push(v.name.clone().unwrap_or_else(|| v.id.to_string()));
        engines.push(spec);
    }
    let steps = ws.sends_as_steps(&order, &names);
    Lab::from_value(
        serde_json::json!({
            "name": name,
            "description": description,
            "engines": engines,
            "files": files,
            "steps": steps,
        }),
        ws.config().limits.max_message,
    )
}
