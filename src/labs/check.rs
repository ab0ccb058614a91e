//! Checking a lab as it comes in, field by field, so a malformed one is refused naming the
//! field (`engines[2].target`, `steps[3].send.data`) and bounded in depth and size.

use serde_json::{Map, Value};

use super::*;
use crate::engine::EngineSpec;
use crate::error::ApiError;

pub(super) fn bad(field: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::bad_field(field, why)
}

pub(super) fn too_large(field: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::too_large(format!("field {field}: {why}")).at(field)
}

/// How deep `json` nests (`{}` is 1), counted over the bytes before anything is parsed, so a
/// document nested a million deep costs one pass and no recursion. Brackets inside strings
/// do not count.
pub fn json_depth(json: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in json {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Refuses a lab's JSON nested deeper than [`MAX_DEPTH`], before it is parsed.
pub fn check_depth(json: &[u8]) -> Result<(), ApiError> {
    let depth = json_depth(json);
    if depth > MAX_DEPTH {
        return Err(ApiError::too_large(format!(
            "a lab nests at most {MAX_DEPTH} levels deep; this one nests {depth}: flatten it"
        )));
    }
    Ok(())
}

/// Fails on a member not in `allowed`, naming it and what is allowed.
pub(super) fn only(obj: &Map<String, Value>, path: &str, allowed: &[&str]) -> Result<(), ApiError> {
    for k in obj.keys() {
        if !allowed.contains(&k.as_str()) {
            let at = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            return Err(bad(
                &at,
                format!("unknown; allowed here: {}", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

pub(super) fn text<'a>(
    obj: &'a Map<String, Value>,
    path: &str,
    key: &str,
    max: usize,
    required: bool,
) -> Result<Option<&'a str>, ApiError> {
    let field = if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    };
    match obj.get(key) {
        None | Some(Value::Null) if required => Err(bad(&field, "missing")),
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if required && s.trim().is_empty() => {
            Err(bad(&field, "empty; write something"))
        }
        Some(Value::String(s)) if s.len() > max => Err(bad(&field, format!("at most {max} bytes"))),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(&field, "must be a string")),
    }
}

pub(super) fn index(
    obj: &Map<String, Value>,
    path: &str,
    key: &str,
    len: usize,
    what: &str,
) -> Result<Option<usize>, ApiError> {
    let field = format!("{path}.{key}");
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if (n as usize) < len => Ok(Some(n as usize)),
            Some(n) => Err(bad(
                &field,
                format!("{n} is past the lab's {len} {what}; count from 0"),
            )),
            None => Err(bad(
                &field,
                format!("must be the index of one of the lab's {what}, from 0"),
            )),
        },
    }
}

/// `@3` → 3.
pub fn at_index(s: &str) -> Option<usize> {
    s.strip_prefix('@').and_then(|n| n.parse().ok())
}

/// An engine's error, said of the lab's engine `i` (`field engines[2].target: ...`).
pub(crate) fn engine_error(i: usize, e: ApiError) -> ApiError {
    if e.field().is_some() {
        e.under(&format!("engines[{i}]"))
    } else {
        e.map_message(|m| format!("engines[{i}]: {m}"))
    }
}

pub(super) fn kind_of(spec: &Value) -> &str {
    spec.get("kind").and_then(Value::as_str).unwrap_or("")
}

/// Checks one engine spec of a lab: as the API would take it, with `@N` targets and files
/// pointing inside the lab.
pub(super) fn check_engine(
    i: usize,
    spec: &Value,
    engines: &[Value],
    files: usize,
) -> Result<(), ApiError> {
    let Some(obj) = spec.as_object() else {
        return Err(bad(
            &format!("engines[{i}]"),
            "must be an engine spec object",
        ));
    };
    let mut probe = obj.clone();
    if let Some(t) = obj
        .get("target")
        .and_then(Value::as_str)
        .filter(|t| t.starts_with('@'))
    {
        let field = format!("engines[{i}].target");
        let n = at_index(t).ok_or_else(|| {
            bad(
                &field,
                format!("{t:?}: write @ and the index of a server of this lab, like @0"),
            )
        })?;
        let server = engines.get(n).ok_or_else(|| {
            bad(
                &field,
                format!("{t}: the lab has {} engines, counted from 0", engines.len()),
            )
        })?;
        let want = kind_of(spec).replace("-client", "-server");
        if kind_of(server) != want {
            return Err(bad(
                &field,
                format!(
                    "{t} is a {}, not a {want} this client can talk to",
                    kind_of(server)
                ),
            ));
        }
        probe.insert("target".into(), Value::from("127.0.0.1:9"));
    }
    if let Some(f) = obj
        .get("options")
        .and_then(|o| o.get("file"))
        .and_then(Value::as_str)
        .filter(|f| f.starts_with('@'))
    {
        let field = format!("engines[{i}].options.file");
        match at_index(f) {
            Some(n) if n < files => {}
            _ => {
                return Err(bad(
                    &field,
                    format!("{f:?}: write @ and the index of one of the lab's {files} files"),
                ));
            }
        }
        if let Some(Value::Object(o)) = probe.get_mut("options") {
            o.insert("file".into(), Value::from("f1"));
        }
    }
    let body = serde_json::to_vec(&Value::Object(probe)).unwrap_or_default();
    EngineSpec::from_json(&body)
        .map(|_| ())
        .map_err(|e| engine_error(i, e))
}

/// Checks a step's `send`: the send body the page posts, its data decoded and bounded.
pub(super) fn check_send(
    path: &str,
    o: &Map<String, Value>,
    max_message: usize,
) -> Result<(), ApiError> {
    only(
        o,
        path,
        &[
            "data",
            "encoding",
            "conn",
            "to",
            "shutdown",
            "repeat",
            "interval_ms",
        ],
    )?;
    let data = text(o, path, "data", usize::MAX, false)?;
    let encoding = text(o, path, "encoding", 10, false)?;
    for key in ["conn", "to", "shutdown"] {
        text(o, path, key, 200, false)?;
    }
    for key in ["repeat", "interval_ms"] {
        if let Some(v) = o.get(key).filter(|v| !v.is_null())
            && !v.is_u64()
        {
            return Err(bad(&format!("{path}.{key}"), "must be a whole number"));
        }
    }
    let bytes = crate::codec::decode(encoding, data.unwrap_or(""))
        .map_err(|e| bad(&format!("{path}.data"), e))?;
    if bytes.len() > max_message {
        return Err(too_large(
            &format!("{path}.data"),
            format!(
                "{} bytes is over the message size limit of {max_message} (--max-message)",
                bytes.len()
            ),
        ));
    }
    Ok(())
}

pub(super) fn check_step(
    i: usize,
    s: &Value,
    engines: usize,
    max_message: usize,
) -> Result<Step, ApiError> {
    let path = format!("steps[{i}]");
    let o = s
        .as_object()
        .ok_or_else(|| bad(&path, "must be an object with text"))?;
    only(
        o,
        &path,
        &["text", "engine", "send", "run", "input", "expect"],
    )?;
    let send = match o.get("send") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(so)) => {
            check_send(&format!("{path}.send"), so, max_message)?;
            Some(v.clone())
        }
        Some(_) => {
            return Err(bad(
                &format!("{path}.send"),
                "must be a send body like {\"data\":\"hello\"}",
            ));
        }
    };
    let engine = index(o, &path, "engine", engines, "engines")?;
    if send.is_some() && engine.is_none() {
        return Err(bad(
            &format!("{path}.engine"),
            "missing: which engine sends?",
        ));
    }
    let expect = match o.get("expect") {
        None | Some(Value::Null) => None,
        Some(Value::Object(e)) => {
            let ep = format!("{path}.expect");
            only(e, &ep, &["engine", "kind", "text", "output"])?;
            let kind = text(e, &ep, "kind", 40, false)?;
            if let Some(k) = kind
                && !crate::event::EventKind::parse(k)
                    .is_some_and(|k| k != crate::event::EventKind::Step)
            {
                return Err(bad(
                    &format!("{ep}.kind"),
                    format!(
                        "{k:?} is not an event kind; use received, sent, accepted, connected, closed, eof, file or another kind of API.md's Events"
                    ),
                ));
            }
            Some(Expect {
                engine: index(e, &ep, "engine", engines, "engines")?,
                kind: text(e, &ep, "kind", 40, false)?.map(str::to_string),
                text: text(e, &ep, "text", 2000, false)?.map(str::to_string),
                output: text(e, &ep, "output", 2000, false)?.map(str::to_string),
            })
        }
        Some(_) => return Err(bad(&format!("{path}.expect"), "must be an object")),
    };
    Ok(Step {
        text: text(o, &path, "text", 2000, true)?
            .unwrap_or_default()
            .to_string(),
        engine,
        send,
        run: text(o, &path, "run", 2000, false)?.map(str::to_string),
        input: text(o, &path, "input", 10_000, false)?.map(str::to_string),
        expect,
    })
}
