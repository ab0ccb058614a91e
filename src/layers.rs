//! The layers of the house, as a rule the tests check: a module may use what is below it and
//! never what is above, so a change to the web layer cannot reach into an engine, and a
//! workspace can be built and tested without HTTP.
//!
//! ```text
//! web                      HTTP, WebSocket, pages
//! workspace                who owns what; saving; joining
//! registry, labs, code     engines by id; lab files; generated programs
//! engine, files            sockets and their runs; received files
//! capture, event           the record of every call
//! ids, secret, disk, …     leaves: they use no other module of the crate
//! ```
//!
//! The check reads the sources (comments stripped) and finds every path that starts at the
//! crate root (`crate::x`, `socketlab::x`, `crate::{x, y}`) or climbs out of the module with
//! `super::` to a sibling. A plain text check, as rust-analyzer's own "tidy" tests are: it
//! needs no compiler plugin and says which file and line broke which rule.

use std::path::Path;

/// Modules that use nothing else of the crate (`ctl` is a client of the API, and speaks to
/// the server only over HTTP, as any script would).
const LEAVES: &[&str] = &["ids", "secret", "disk", "error", "config", "ctl"];

/// The crate's top-level modules, which a leaf must not name.
const MODULES: &[&str] = &[
    "addr",
    "capture",
    "code",
    "codec",
    "config",
    "ctl",
    "disk",
    "engine",
    "error",
    "event",
    "files",
    "ids",
    "json",
    "labs",
    "registry",
    "secret",
    "web",
    "workspace",
];

/// What the record of calls must never use: everything that makes or shows calls.
const ABOVE_CAPTURE: &[&str] = &[
    "workspace",
    "web",
    "registry",
    "engine",
    "files",
    "labs",
    "code",
];

/// What each module must never use.
const FORBIDDEN: &[(&str, &[&str])] = &[
    ("engine", &["workspace", "web", "registry", "labs", "code"]),
    ("capture", ABOVE_CAPTURE),
    ("event", ABOVE_CAPTURE),
    (
        "files",
        &["workspace", "web", "registry", "engine", "labs", "code"],
    ),
    ("labs", &["workspace", "web", "registry"]),
    ("code", &["workspace", "web", "registry", "labs"]),
    ("registry", &["workspace", "web"]),
    ("codec", &["workspace", "web"]),
    (
        "json",
        &[
            "workspace",
            "web",
            "engine",
            "capture",
            "files",
            "labs",
            "code",
        ],
    ),
    ("addr", &["workspace", "web"]),
    ("workspace", &["web"]),
];

/// The top-level modules a source text names by a path from the crate root.
fn used_modules(src: &str, module: &str, nested: bool) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in src.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = find_root(rest, nested) {
            let mut after = &rest[at + 2..];
            while let Some(r) = after.strip_prefix("super::") {
                after = r;
            }
            // `crate::{a, b::c}` names a and b; `crate::a::b` names a.
            let items: Vec<&str> = match after.strip_prefix('{') {
                Some(list) => list.split('}').next().unwrap_or("").split(',').collect(),
                None => vec![after],
            };
            for item in items {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != module {
                    out.push((n + 1, name));
                }
            }
            rest = &rest[at + 2..];
        }
    }
    out
}

/// Where the next path from the crate root starts: `crate::`, `socketlab::`, or (in a file of a
/// module's folder, whose `super::super::` is the root; in a top-level file, `super::`) a climb
/// to the root.
fn find_root(s: &str, nested: bool) -> Option<usize> {
    let climb = if nested { "super::super::" } else { "super::" };
    ["crate::", "socketlab::", climb]
        .iter()
        .filter_map(|p| {
            s.match_indices(p)
                .find(|(i, _)| {
                    // A whole word: not `my_crate::` or a deeper `super::super::super::`.
                    let before = s[..*i].chars().last();
                    !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
                })
                .map(|(i, _)| i + p.len() - 2)
        })
        .min()
}

/// Every broken rule in one module's source text, as `file:line: message`.
fn check_text(module: &str, file: &str, nested: bool, src: &str) -> Vec<String> {
    let forbidden: Vec<&str> = if LEAVES.contains(&module) {
        MODULES.to_vec()
    } else {
        FORBIDDEN
            .iter()
            .find(|(m, _)| *m == module)
            .map(|(_, f)| f.to_vec())
            .unwrap_or_default()
    };
    used_modules(src, module, nested)
        .into_iter()
        .filter(|(_, used)| forbidden.contains(&used.as_str()))
        .map(|(line, used)| format!("{file}:{line}: `{module}` must not use `{used}`"))
        .collect()
}

/// Every broken rule under `src/`.
pub(crate) fn check_tree(src: &Path) -> Vec<String> {
    let mut broken = Vec::new();
    let Ok(entries) = std::fs::read_dir(src) else {
        return vec![format!("cannot read {}", src.display())];
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("")
            .to_string();
        if path.is_dir() {
            for file in files_under(&path) {
                // `mod.rs` is the module itself; any other file is one level down.
                let nested = file.file_name().is_some_and(|f| f != "mod.rs")
                    || file.parent() != Some(path.as_path());
                let text = std::fs::read_to_string(&file).unwrap_or_default();
                broken.extend(check_text(
                    &name,
                    &file.display().to_string(),
                    nested,
                    &text,
                ));
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            broken.extend(check_text(&name, &path.display().to_string(), false, &text));
        }
    }
    broken
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_tree_keeps_its_layers() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let broken = check_tree(&src);
        assert!(
            broken.is_empty(),
            "layer rules broken:\n{}",
            broken.join("\n")
        );
    }

    /// Files about one thing stay short enough to read whole; the code generators (one
    /// language each, every kind of program) and test files are the exceptions.
    #[test]
    fn no_source_file_is_over_500_lines() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let generators = ["python.rs", "tcl.rs", "bash.rs", "powershell.rs"];
        let mut long = Vec::new();
        for dir in ["src", "static"] {
            for file in files_of(&root.join(dir)) {
                let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let generator = file.parent().is_some_and(|p| p.ends_with("code"))
                    && generators.contains(&name);
                if generator || name.ends_with("_tests.rs") || name == "tests.rs" {
                    continue;
                }
                let lines = std::fs::read_to_string(&file).map_or(0, |t| t.lines().count());
                if lines > 500 {
                    long.push(format!("{}: {lines} lines", file.display()));
                }
            }
        }
        assert!(
            long.is_empty(),
            "split these by what they hold:\n{}",
            long.join("\n")
        );
    }

    fn files_of(dir: &Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                out.extend(files_of(&p));
            } else if p
                .extension()
                .is_some_and(|e| ["rs", "js", "css", "html"].contains(&e.to_str().unwrap_or("")))
            {
                out.push(p);
            }
        }
        out
    }

    #[test]
    fn a_forbidden_use_is_found_in_every_spelling() {
        let bad = [
            "use crate::web::guard::Guard;",
            "use crate::{event::Draft, workspace::Workspaces};",
            "let s = crate::workspace::to_hex(&d);",
            "use super::super::web::api;",
        ];
        for line in bad {
            assert_eq!(check_text("engine", "x.rs", true, line).len(), 1, "{line}");
        }
        assert_eq!(
            check_text("disk", "x.rs", false, "use crate::ids::EngineId;").len(),
            1
        );
        assert_eq!(
            check_text("files", "x.rs", false, "use super::web::api;").len(),
            1
        );
    }

    #[test]
    fn allowed_uses_and_comments_pass() {
        let ok = [
            "use crate::event::Draft; // not crate::web::x",
            "// see crate::workspace::Workspaces",
            "use super::conn::Conn;",
            "use my_crate::web::x;",
        ];
        for line in ok {
            assert!(
                check_text("engine", "x.rs", true, line).is_empty(),
                "{line}"
            );
        }
    }
}
