//! Labs: a named, ordered list of engine specs with steps, built in (one per lecture
//! program) or saved in a workspace. A lab is checked field by field when it comes in, so a
//! malformed import is refused naming the field (`engines[2].target`), and kept exactly as
//! it came, so an export, an import and a restart give it back identical.
//!
//! Inside a lab, `"target": "@0"` aims a client at the lab's engine 0 and `"file": "@0"` a
//! file server at the lab's file 0; steps may say `@0` (engine 0's address), `@0.host` and
//! `@0.port`, resolved when the lab is loaded.

pub mod builtin;
mod check;
pub mod run;
mod shelf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) use check::engine_error;
pub use check::{at_index, check_depth, json_depth};
use check::{bad, check_engine, check_step, only, text};
pub use shelf::Shelf;

use crate::error::ApiError;
use crate::files::check_file_name;

/// Engines a lab may hold.
pub const MAX_ENGINES: usize = 32;
/// Steps a lab may hold.
pub const MAX_STEPS: usize = 50;
/// Files a lab may carry.
pub const MAX_FILES: usize = 8;
/// The most text one lab file may hold.
pub const MAX_FILE_TEXT: usize = 1 << 20;
/// Labs one workspace may keep.
pub const MAX_SAVED: usize = 64;
/// The most JSON one lab may be, its files left out (they have their own bound).
pub const MAX_LAB_BYTES: usize = 1 << 20;
/// The deepest a lab's JSON may nest. A saved lab sits two levels down in its workspace's
/// file, and that file must always read back (serde_json stops at 128).
pub const MAX_DEPTH: usize = 32;
/// The most JSON one workspace's saved labs may be, together.
pub const MAX_SAVED_BYTES: usize = 16 << 20;

/// A lab.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Lab {
    /// `l3` for a saved lab, a word for a built-in one; absent in what is imported.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// What it is called.
    pub name: String,
    /// What it shows.
    #[serde(default)]
    pub description: String,
    /// Whether it comes with socketlab (cannot be changed or deleted).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub builtin: bool,
    /// Engine specs, as the API takes them, in the lab's order.
    pub engines: Vec<Value>,
    /// Small text files the lab brings (a file server's `"file": "@0"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<LabFile>,
    /// What to do, in order.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// For a copy an instructor handed out, the instructor's lab it is a copy of (so handing
    /// it out again replaces this copy, never a lab of the student's own of the same name).
    /// Set by socketlab only: an import's is dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handed_out: Option<String>,
}

/// A file a lab brings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct LabFile {
    /// Its name.
    pub name: String,
    /// Its text.
    pub text: String,
}

/// One step of a lab.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Step {
    /// What to do and why.
    pub text: String,
    /// The engine the step is about (its index in the lab).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<usize>,
    /// A send the page can do for you (`POST /api/engines/{id}/send`'s body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<Value>,
    /// A command to run in a terminal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// What to type into it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// What should happen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expect>,
}

/// What a step should make happen.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Expect {
    /// On which engine (its index in the lab).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<usize>,
    /// An event of this kind (`received` when only `text` is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Text the event's data holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Text the command's output holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

impl Expect {
    /// Whether the server can tell the step is done: it names an engine, a kind or a text
    /// (an `output` only a terminal shows is the student's to report).
    pub fn is_checked(&self) -> bool {
        self.engine.is_some() || self.kind.is_some() || self.text.is_some()
    }
}

impl Lab {
    /// Parses and checks a lab from JSON, naming the first field that is wrong; a step's
    /// `send.data` may be at most `max_message` bytes.
    pub fn parse(body: &[u8], max_message: usize) -> Result<Self, ApiError> {
        check_depth(body)?;
        let v: Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::invalid_spec(format!(
                "a lab must be JSON like {{\"name\":\"Echo\",\"engines\":[...],\"steps\":[...]}}: {e}"
            ))
        })?;
        Self::from_value(v, max_message)
    }

    /// The bytes of JSON the lab takes without its files, as [`MAX_LAB_BYTES`] counts them.
    pub fn json_bytes(&self) -> usize {
        let files = self
            .files
            .iter()
            .map(|f| f.name.len() + f.text.len())
            .sum::<usize>();
        serde_json::to_vec(self).map_or(usize::MAX, |v| v.len().saturating_sub(files))
    }

    /// Checks a lab given as a JSON value; a step's `send.data` may be at most
    /// `max_message` bytes.
    pub fn from_value(v: Value, max_message: usize) -> Result<Self, ApiError> {
        let Value::Object(obj) = v else {
            return Err(ApiError::invalid_spec(
                "a lab must be a JSON object with name, engines and steps".into(),
            ));
        };
        only(
            &obj,
            "",
            &[
                "id",
                "name",
                "description",
                "builtin",
                "engines",
                "files",
                "steps",
                "from_current",
                "handed_out",
            ],
        )?;
        let name = text(&obj, "", "name", 100, true)?
            .unwrap_or_default()
            .trim()
            .to_string();
        let description = text(&obj, "", "description", 4000, false)?
            .unwrap_or_default()
            .to_string();
        let files: Vec<LabFile> = match obj.get("files") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) if a.len() > MAX_FILES => {
                return Err(bad("files", format!("at most {MAX_FILES}")));
            }
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let path = format!("files[{i}]");
                    let o = f
                        .as_object()
                        .ok_or_else(|| bad(&path, "must be {\"name\",\"text\"}"))?;
                    only(o, &path, &["name", "text"])?;
                    let name = text(o, &path, "name", 255, true)?.unwrap_or_default();
                    check_file_name(name).map_err(|e| bad(&format!("{path}.name"), e))?;
                    let body = text(o, &path, "text", MAX_FILE_TEXT, false)?.unwrap_or_default();
                    Ok(LabFile {
                        name: name.into(),
                        text: body.into(),
                    })
                })
                .collect::<Result<_, ApiError>>()?,
            Some(_) => return Err(bad("files", "must be a list of {\"name\",\"text\"}")),
        };
        let engines: Vec<Value> = match obj.get("engines") {
            Some(Value::Array(a)) if a.is_empty() => {
                return Err(bad("engines", "empty; a lab starts at least one engine"));
            }
            Some(Value::Array(a)) if a.len() > MAX_ENGINES => {
                return Err(bad("engines", format!("at most {MAX_ENGINES}")));
            }
            Some(Value::Array(a)) => a.clone(),
            None | Some(Value::Null) => {
                return Err(bad("engines", "missing; a lab is a list of engine specs"));
            }
            Some(_) => return Err(bad("engines", "must be a list of engine specs")),
        };
        for (i, e) in engines.iter().enumerate() {
            check_engine(i, e, &engines, files.len())?;
        }
        let steps = match obj.get("steps") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) if a.len() > MAX_STEPS => {
                return Err(bad("steps", format!("at most {MAX_STEPS}")));
            }
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, s)| check_step(i, s, engines.len(), max_message))
                .collect::<Result<_, ApiError>>()?,
            Some(_) => return Err(bad("steps", "must be a list of steps")),
        };
        let lab = Self {
            id: String::new(),
            name,
            description,
            builtin: false,
            engines,
            files,
            steps,
            handed_out: None,
        };
        let bytes = lab.json_bytes();
        if bytes > MAX_LAB_BYTES {
            return Err(ApiError::too_large(format!(
                "a lab is at most {MAX_LAB_BYTES} bytes of JSON without its files; this one is {bytes}: make its steps and engines smaller"
            )));
        }
        Ok(lab)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn err(v: Value) -> String {
        match Lab::from_value(v, 1 << 20) {
            Err(e) if matches!(e.kind(), ErrorKind::InvalidSpec | ErrorKind::InvalidAddress) => {
                e.message().to_string()
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn a_malformed_lab_is_refused_naming_the_field() {
        let server =
            serde_json::json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo"});
        let ok = serde_json::json!({"name": "x", "engines": [server.clone(), {"kind": "tcp-client", "target": "@0"}]});
        assert!(Lab::from_value(ok, 1 << 20).is_ok());
        assert!(err(serde_json::json!({"engines": [server.clone()]})).starts_with("field name"));
        assert!(err(serde_json::json!({"name": "x", "engines": [server.clone(), {"kind": "tcp-client", "target": "@5"}]})).starts_with("field engines[1].target"));
        // The field is the error's own, not read back from its message.
        let sing = serde_json::json!({"name": "x", "engines": [server.clone(), {"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "sing"}]});
        assert_eq!(
            Lab::from_value(sing, 1 << 20).unwrap_err().field(),
            Some("engines[1].behavior")
        );
        assert!(err(serde_json::json!({"name": "x", "engines": [server.clone(), {"kind": "udp-client", "target": "@0"}]})).contains("not a udp-server"));
        assert!(err(serde_json::json!({"name": "x", "engines": [server.clone(), {"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "sing"}]})).starts_with("field engines[1].behavior"));
        assert!(err(serde_json::json!({"name": "x", "engines": [server.clone()], "steps": [{"text": "go", "engine": 3}]})).starts_with("field steps[0].engine"));
        assert!(err(serde_json::json!({"name": "x", "engines": [server.clone()], "steps": [{"txt": "go"}]})).starts_with("field steps[0].txt"));
        assert!(
            err(serde_json::json!({"name": "x", "engines": [server], "colour": 1}))
                .starts_with("field colour")
        );
    }

    #[test]
    fn a_lab_is_bounded_in_depth_size_and_step_data() {
        assert_eq!(json_depth(br#"{"a": [1, {"b": "[[[{{"}]}"#), 3);
        assert_eq!(
            json_depth(br#""\"[[""#),
            0,
            "an escaped quote does not end the string"
        );
        let deep = format!("{}{}", "[".repeat(33), "]".repeat(33));
        let e = check_depth(deep.as_bytes()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooLarge, "{e:?}");
        check_depth(format!("{}{}", "[".repeat(32), "]".repeat(32)).as_bytes()).unwrap();
        let server =
            serde_json::json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo"});
        let step = |data: &str| {
            serde_json::json!({"name": "x", "engines": [server.clone()],
                "steps": [{"text": "go", "engine": 0, "send": {"data": data, "encoding": "hex", "conn": "*"}}]})
        };
        Lab::from_value(step("41 42"), 2).unwrap();
        match Lab::from_value(step("41 42 43"), 2) {
            Err(e) if e.kind() == ErrorKind::TooLarge => {
                assert_eq!(e.field(), Some("steps[0].send.data"), "{e:?}");
                assert!(e.message().starts_with("field steps[0].send.data"), "{e:?}");
            }
            other => panic!("{other:?}"),
        }
        assert!(err(step("4")).starts_with("field steps[0].send.data"));
        let nested = serde_json::json!({"name": "x", "engines": [server.clone()],
            "steps": [{"text": "go", "engine": 0, "send": {"data": "a", "extra": {"deep": [1]}}}]});
        assert!(err(nested).starts_with("field steps[0].send.extra"));
        let big = serde_json::json!({"name": "x", "engines": [server.clone()],
            "steps": (0..40).map(|_| serde_json::json!({"text": "t", "run": "r".repeat(2000), "input": "i".repeat(10_000), "engine": 0, "send": {"data": "d".repeat(20_000)}})).collect::<Vec<_>>()});
        assert!(matches!(
            Lab::from_value(big, 1 << 20),
            Err(e) if e.kind() == ErrorKind::TooLarge
        ));
        // Files do not count toward the megabyte: they have their own bound.
        let with_files = serde_json::json!({"name": "x", "engines": [server],
            "files": (0..2).map(|i| serde_json::json!({"name": format!("f{i}"), "text": "z".repeat(900_000)})).collect::<Vec<_>>()});
        Lab::from_value(with_files, 1 << 20).unwrap();
    }
}
