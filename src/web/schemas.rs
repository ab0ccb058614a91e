//! The JSON bodies the document describes beyond what the annotations can say: an engine
//! spec per kind with the behaviors the engine module allows it (read from
//! [`allowed_behaviors`], so a behavior added there is described here), a send, a lab, a
//! hand-out; and the operation ids and links (create an engine, then use its id) that let a
//! client (schemathesis's stateful phase) follow the API from one answer to the next.

use serde_json::{Map, Value, json};

use crate::engine::behavior::Behavior;
use crate::engine::spec::{Kind, allowed_behaviors};

/// A port socketlab lets an engine bind by default: 0 (any free one) or 1024 and above.
const PORT: &str = "(0|102[4-9]|10[3-9][0-9]|1[1-9][0-9]{2}|[2-9][0-9]{3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])";
/// A port one can connect or send to: as [`PORT`], without 0.
const TO_PORT: &str = "(102[4-9]|10[3-9][0-9]|1[1-9][0-9]{2}|[2-9][0-9]{3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])";

fn label() -> Value {
    json!({"type": "string", "maxLength": crate::engine::spec::MAX_NAME, "description": "a free label"})
}

/// One kind's spec: its behaviors, and the addresses it needs. (Behaviors that need
/// `options`, a file server's file, are left to API.md: `options` is not described here.)
fn spec_of(kind: Kind) -> Value {
    let behaviors: Vec<&str> = allowed_behaviors(kind)
        .into_iter()
        .filter(|b| !matches!(b, Behavior::File | Behavior::Receive))
        .map(Behavior::name)
        .collect();
    let mut props = Map::new();
    props.insert("kind".into(), json!({"const": kind.name()}));
    props.insert("behavior".into(), json!({"enum": behaviors}));
    props.insert("name".into(), label());
    let mut required = vec!["kind"];
    let (binds, targets) = match kind {
        Kind::TcpServer | Kind::UdpServer => (true, false),
        Kind::TcpClient | Kind::UdpClient => (false, true),
        Kind::TcpProxy | Kind::UdpProxy => (true, true),
    };
    if binds {
        required.push("bind");
        props.insert(
            "bind".into(),
            json!({"type": "string", "pattern": format!("^127\\.0\\.0\\.1:{PORT}$"),
                   "description": "the address to bind; port 0 picks a free one"}),
        );
    }
    if targets {
        props.insert(
            "target".into(),
            json!({"type": "string", "pattern": format!("^127\\.0\\.0\\.1:{TO_PORT}$"),
                   "description": "host:port to connect or send to"}),
        );
        required.push("target");
    }
    if kind.is_server() {
        required.push("behavior");
    }
    json!({"type": "object", "title": kind.name(), "properties": props, "required": required,
           "additionalProperties": false})
}

/// The described bodies, as components.
pub fn components() -> Vec<(&'static str, Value)> {
    let spec = json!({"oneOf": Kind::ALL.iter().map(|k| spec_of(*k)).collect::<Vec<_>>(),
        "description": "What an engine is to be (API.md's EngineSpec)."});
    let send = json!({"type": "object", "additionalProperties": false, "required": ["data"],
    "properties": {
        "data": {"type": "string", "minLength": 1, "maxLength": 4096, "pattern": "\\S"},
        "encoding": {"enum": ["text"], "description": "text; hex and base64 as API.md says"},
        "conn": {"type": "string", "pattern": "^(\\*|c[1-9][0-9]{0,5})$"},
        "repeat": {"type": "integer", "minimum": 1, "maximum": 3},
        "interval_ms": {"type": "integer", "minimum": 0, "maximum": 10}
    }});
    let server = json!({"type": "object", "additionalProperties": false,
        "required": ["kind", "bind", "behavior"],
        "properties": {"kind": {"const": "tcp-server"}, "bind": {"const": "127.0.0.1:0"},
                       "behavior": {"enum": ["echo", "uppercase", "add", "discard"]}, "name": label()}});
    let text = json!({"type": "string", "maxLength": 2000, "pattern": "\\S"});
    let lab = json!({"type": "object", "additionalProperties": false,
        "required": ["name", "engines"],
        "properties": {
            "name": {"type": "string", "maxLength": 100, "pattern": "\\S"},
            "description": {"type": "string", "maxLength": 4000},
            "engines": {"type": "array", "minItems": 1, "maxItems": crate::labs::MAX_ENGINES, "items": server},
            "steps": {"type": "array", "maxItems": crate::labs::MAX_STEPS, "items": {"type": "object",
                "additionalProperties": false, "required": ["text"], "properties": {"text": text}}}
        }, "description": "A lab (API.md); imported as given"});
    let from_current = json!({"type": "object", "additionalProperties": false,
        "required": ["name", "from_current"],
        "properties": {"name": {"type": "string", "maxLength": 100, "pattern": "^[ -~]*[!-~][ -~]*$"},
                       "from_current": {"const": true}, "keep_ports": {"type": "boolean"},
                       "description": {"type": "string", "maxLength": 4000}},
        "description": "Save the engines there are (and the sends made) as a lab"});
    let patch = json!({"type": "object", "additionalProperties": false, "required": ["options"],
        "properties": {"options": {"type": "object", "additionalProperties": false,
            "required": ["impair"], "properties": {"impair": {"oneOf": [{"type": "null"},
                {"type": "object", "additionalProperties": false, "properties": {
                    "loss": {"type": "number", "minimum": 0, "maximum": 1},
                    "duplicate": {"type": "number", "minimum": 0, "maximum": 1},
                    "reorder": {"type": "number", "minimum": 0, "maximum": 1},
                    "delay_ms": {"type": "integer", "minimum": 0, "maximum": 1000},
                    "jitter_ms": {"type": "integer", "minimum": 0, "maximum": 1000},
                    "seed": {"type": "integer", "minimum": 0, "maximum": 1000000}}}]}}}}});
    let hand_out = json!({"type": "object", "additionalProperties": false, "required": ["lab", "to"],
        "properties": {"lab": {"type": "string", "minLength": 1, "maxLength": 64},
                       "to": {"oneOf": [{"const": "all"}, {"type": "array", "minItems": 1, "maxItems": 50,
                                 "items": {"type": "string", "minLength": 1, "maxLength": 64}}]},
                       "load": {"type": "boolean"}}});
    let join = json!({"type": "object", "additionalProperties": false, "required": ["code", "name"],
        "properties": {"code": {"type": "string", "minLength": 1, "maxLength": 64},
                       "name": {"type": "string", "maxLength": 60, "pattern": "^[ -~]*[!-~][ -~]*$"}}});
    let new_workspace = json!({"type": "object", "additionalProperties": false, "required": ["name"],
        "properties": {"name": {"type": "string", "maxLength": 60, "pattern": "^[ -~]*[!-~][ -~]*$"}}});
    // An event as `capture::render` writes it: the members every event has, the kinds from
    // the code's own list, and the others each kind may carry.
    let kinds: Vec<&str> = crate::event::EventKind::ALL
        .iter()
        .map(|k| k.name())
        .collect();
    let event = json!({"type": "object", "required": ["seq", "time", "engine", "kind"],
        "properties": {
            "seq": {"type": "integer", "minimum": 1},
            "time": {"type": "string", "format": "date-time"},
            "engine": {"type": "string", "pattern": "^e[0-9]+$"},
            "kind": {"enum": kinds},
            "call": {"type": "string"},
            "conn": {"type": "string", "pattern": "^c[0-9]+$"},
            "local": {"type": "string"}, "peer": {"type": "string"},
            "bytes": {"type": "integer", "minimum": 0},
            "data": {"type": "string", "contentEncoding": "base64"},
            "text": {"type": "string"}, "truncated": {"type": "boolean"},
            "message": {"type": "string"}, "leg": {"enum": ["client", "server"]}
        }, "description": "One socket call (API.md's Events); rare kinds add members of their own"});
    let page = json!({"type": "object", "required": ["events", "next"], "additionalProperties": false,
        "properties": {"events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
                       "next": {"type": "integer", "minimum": 0}}});
    vec![
        ("Event", event),
        ("EventsPage", page),
        ("EngineSpec", spec),
        ("SendBody", send),
        ("Patch", patch),
        ("LabImport", lab),
        ("SaveCurrent", from_current),
        ("HandOut", hand_out),
        ("Join", join),
        ("NewWorkspace", new_workspace),
    ]
}

/// Which operation takes which described body.
pub const BODIES: [(&str, &str, &str); 8] = [
    ("/api/engines", "post", "EngineSpec"),
    ("/api/engines/{id}/send", "post", "SendBody"),
    ("/api/engines/{id}", "patch", "Patch"),
    ("/api/labs", "post", "LabImport|SaveCurrent"),
    ("/api/labs/{id}", "put", "LabImport"),
    ("/api/class/labs", "post", "HandOut"),
    ("/api/join", "post", "Join"),
    ("/api/workspaces", "post", "NewWorkspace"),
];

/// A parameter's schema, by its name (and, for `id`, the path it is in).
fn param_schema(path: &str, name: &str) -> Option<Value> {
    let id =
        |prefix: char| json!({"type": "string", "pattern": format!("^{prefix}[1-9][0-9]{{0,8}}$")});
    Some(match name {
        "id" if path.starts_with("/api/engines") => id('e'),
        "id" if path.starts_with("/api/files") => id('f'),
        "id" => {
            json!({"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9_-]+$"})
        }
        "engine" => id('e'),
        "conn" => id('c'),
        "seq" | "since" | "before" | "until" => {
            json!({"type": "integer", "minimum": 0, "maximum": u64::MAX})
        }
        "limit" => json!({"type": "integer", "minimum": 0, "maximum": u64::MAX,
            "description": "at most this many (1 to 1000; outside, the nearest)"}),
        "n" => json!({"type": "integer", "minimum": 0, "maximum": 1000}),
        "workspace" | "lab" => {
            json!({"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9_-]+$"})
        }
        "lang" => json!({"enum": ["python", "bash", "tcl", "powershell"]}),
        "replace" => json!({"type": "boolean"}),
        // What a file name may be (files::check_file_name): no / or \, no control character,
        // something besides dots and spaces; at most 200 characters.
        "name" => json!({"type": "string", "maxLength": 200,
            "pattern": r"^[^/\\\x00-\x1f\x7f-\x9f]*[^/\\\s.\x00-\x1f\x7f-\x9f][^/\\\x00-\x1f\x7f-\x9f]*$"}),
        _ => return None,
    })
}

/// Members that may be null besides their type (serde reads null as absent for these).
const NULLABLE: [&str; 10] = [
    "name",
    "description",
    "steps",
    "keep_ports",
    "load",
    "conn",
    "encoding",
    "repeat",
    "interval_ms",
    "behavior",
];

/// Lets the optional members of `schema` (and of the objects in it) be null.
fn nullable(schema: &mut Value) {
    let required: Vec<String> = schema["required"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if let Some(Value::Object(props)) = schema.get_mut("properties") {
        for (k, v) in props.iter_mut() {
            nullable(v);
            if NULLABLE.contains(&k.as_str()) && !required.contains(k) {
                *v = json!({"anyOf": [v.clone(), {"type": "null"}]});
            }
        }
    }
    for key in ["oneOf", "anyOf"] {
        for s in schema
            .get_mut(key)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            nullable(s);
        }
    }
    if let Some(items) = schema.get_mut("items") {
        nullable(items);
    }
}

/// Puts the described bodies, operation ids and links into the document.
pub fn describe(doc: &mut Value) {
    for (name, schema) in components() {
        doc["components"]["schemas"][name] = schema;
    }
    for (path, method, body) in BODIES {
        if body.is_empty() {
            continue;
        }
        let refs: Vec<Value> = body
            .split('|')
            .map(|b| json!({"$ref": format!("#/components/schemas/{b}")}))
            .collect();
        let schema = if refs.len() == 1 {
            refs[0].clone()
        } else {
            json!({"oneOf": refs})
        };
        if let Some(op) = doc["paths"][path].get_mut(method) {
            op["requestBody"]["content"]["application/json"]["schema"] = schema;
            op["requestBody"]["required"] = true.into();
        }
    }
    // An optional member may be null, as serde's Option takes it.
    for (name, schema) in doc["components"]["schemas"]
        .as_object_mut()
        .into_iter()
        .flatten()
    {
        if name != "Patch" {
            nullable(schema);
        }
    }
    // Answers the annotations leave as JSON that these describe.
    if let Some(ok) = doc["paths"]["/api/events"]["get"]["responses"].get_mut("200") {
        ok["content"]["application/json"]["schema"] =
            json!({"$ref": "#/components/schemas/EventsPage"});
    }
    // An upload may be empty; the program behind an engine without `lang` is the list of
    // languages, as JSON.
    doc["paths"]["/api/files"]["post"]["requestBody"]["required"] = false.into();
    if let Some(ok) = doc["paths"]["/api/engines/{id}/code"]["get"]["responses"].get_mut("200") {
        ok["content"]["application/json"] = json!({"schema": {}});
    }
    // Parameters' shapes, by name.
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            for (_, op) in item.as_object_mut().into_iter().flatten() {
                let params = op.get_mut("parameters").and_then(Value::as_array_mut);
                for p in params.into_iter().flatten() {
                    let name = p["name"].as_str().unwrap_or_default().to_string();
                    if let Some(s) = param_schema(path, &name) {
                        p["schema"] = s;
                    }
                }
            }
        }
    }
    // Operation ids from method and path, unique by construction.
    let mut ids: Vec<(String, String, String)> = Vec::new();
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            for (method, op) in item.as_object_mut().into_iter().flatten() {
                if op.get("responses").is_none() {
                    continue;
                }
                let id = format!("{method}{}", path.replace(['/', '.', '{', '}'], "_"));
                op["operationId"] = id.clone().into();
                ids.push((path.clone(), method.clone(), id));
            }
        }
    }
    // A made thing's id leads to the operations on it.
    for (create, under) in [
        ("/api/engines", "/api/engines/{id}"),
        ("/api/labs", "/api/labs/{id}"),
        ("/api/files", "/api/files/{id}"),
    ] {
        let links: Map<String, Value> = ids
            .iter()
            .filter(|(p, _, _)| p.starts_with(under))
            .map(|(_, _, id)| {
                (
                    id.clone(),
                    json!({"operationId": id, "parameters": {"id": "$response.body#/id"}}),
                )
            })
            .collect();
        if let Some(ok) = doc["paths"][create]["post"]["responses"].get_mut("201") {
            ok["links"] = Value::Object(links);
        }
    }
}
