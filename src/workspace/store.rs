//! Keeping workspaces on disk: one JSON file per workspace, written atomically (a temp file in
//! the same directory, `fsync`, `rename`, `fsync` of the directory, as SQLite and Git do), so a
//! crash mid-write leaves the previous version whole.
//!
//! A file that does not load is never overwritten or deleted (as PostgreSQL will not start
//! over a control file it cannot read): it is moved aside to `NAME.corrupt-YYYYMMDDTHHMMSS`,
//! reported by that path, and its port block, when it can be read from the bytes, stays
//! reserved; the other files load. Directories are `0700` and files `0600`: a student's
//! work is theirs.

use std::fs::{self, File, OpenOptions};

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::disk::write_atomic;

pub use crate::engine::SavedEngine;

/// The format version written; files of a newer version are reported, not guessed at.
pub const VERSION: u32 = 1;

/// Everything kept of one workspace.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SavedWorkspace {
    /// Format version.
    pub version: u32,
    /// Workspace id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `personal`, `instructor` or `student`.
    pub kind: String,
    /// When it was created (RFC 3339).
    pub created: String,
    /// When it was last active (RFC 3339), so expiry counts across restarts.
    pub last_active: String,
    /// SHA-256 (hex) of each of the student's session secrets (one per device joined); the
    /// secrets themselves are never written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets_sha256: Vec<String>,
    /// SHA-256 (hex) of a one-person join link's code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_sha256: Option<String>,
    /// The watch id (read-only, so kept as it is: the owner is shown it).
    pub watch: String,
    /// The port block's number, for a student.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<usize>,
    /// The number the next engine id gets.
    pub next_engine: u64,
    /// The engines, oldest first.
    pub engines: Vec<SavedEngine>,
    /// Labs saved in this workspace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labs: Vec<crate::labs::Lab>,
    /// The number the next saved lab gets.
    #[serde(default)]
    pub next_lab: u64,
    /// The lab run under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<crate::labs::run::Run>,
    /// Earlier lab runs, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<crate::labs::run::Run>,
}

/// Class-wide things kept across restarts: the join code and a generated instructor token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SavedClass {
    /// The class code students join with.
    pub code: String,
    /// The instructor token, when socketlab generated it (so the instructor's link survives
    /// a restart); absent when it came from `--token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// A lab handed out to all, given to those who join later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handout: Option<super::handout::Handout>,
}

/// The most a workspace file may be (labs are 16 MiB together at most); a larger one is
/// not read whole at start.
const MAX_FILE: u64 = 64 << 20;
/// Added to a moved-aside file's name once the instructor removed its workspace: kept, but
/// no longer listed or reserving ports.
const DISMISSED: &str = ".removed";

/// The first 64 KiB of a file (where a workspace file says its block), or nothing.
fn read_prefix(path: &Path) -> Vec<u8> {
    use std::io::Read as _;
    let mut buf = Vec::new();
    if let Ok(f) = File::open(path) {
        let _ = f.take(64 * 1024).read_to_end(&mut buf);
    }
    buf
}

/// A workspace file that did not load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The workspace id its name gives (`w1a2b3c4` of `w1a2b3c4.json`).
    pub id: String,
    /// Its port block, when the bytes still say it.
    pub block: Option<usize>,
    /// Where it is now: moved aside, or left where it was when it could not be read.
    pub moved_to: PathBuf,
    /// Why it did not load.
    pub why: String,
}

/// Makes `dir` (and its parents) `0700` if missing; with `ours`, also makes it `0700` if it
/// was there (a directory of socketlab's own; the `--data-dir` a user named keeps its mode).
fn private_dir(dir: &Path, ours: bool) -> std::io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)?;
    #[cfg(unix)]
    if ours {
        fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    }
    Ok(())
}

/// The port block a workspace file's bytes give (`"block": 3`), read without parsing them
/// as JSON: the file may be cut short or nested past what a parser takes.
fn block_in(bytes: &[u8]) -> Option<usize> {
    let at = memchr::memmem::find(bytes, b"\"block\"")? + 7;
    let rest = &bytes[at..];
    let rest = &rest[rest.iter().position(|b| !b.is_ascii_whitespace())?..];
    let rest = rest.strip_prefix(b":")?;
    let start = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    let digits: Vec<u8> = rest[start..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .copied()
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

/// `path` moved aside to `path.corrupt-YYYYMMDDTHHMMSS` (with `-2`, `-3`... if taken).
fn move_aside(path: &Path) -> std::io::Result<PathBuf> {
    let stamp: String = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(15)
        .collect();
    let base = format!("{}.corrupt-{stamp}", path.display());
    let mut to = PathBuf::from(&base);
    let mut n = 1;
    while to.exists() {
        n += 1;
        to = PathBuf::from(format!("{base}-{n}"));
    }
    fs::rename(path, &to)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(to)
}

/// A data directory for one mode (`personal` or `class`), locked against a second socketlab.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    workspaces: PathBuf,
    // Held open for the lock; closing it (at exit, or a crash) releases the lock.
    _lock: File,
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process holds the lock.
    #[error("{0} is in use by another socketlab")]
    Locked(PathBuf),
    /// The directory cannot be made or written.
    #[error("cannot use the data directory {0}: {1}")]
    Io(PathBuf, std::io::Error),
}

#[cfg(unix)]
fn lock(file: &File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor we own; it touches no memory.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

#[cfg(not(unix))]
fn lock(_file: &File) -> bool {
    true
}

impl Store {
    /// Opens (making it if needed) `root/mode`, and locks it.
    pub fn open(root: &Path, mode: &str) -> Result<Store, OpenError> {
        let dir = root.join(mode);
        let workspaces = dir.join("workspaces");
        let io = |e| OpenError::Io(dir.clone(), e);
        private_dir(root, false).map_err(io)?;
        private_dir(&dir, true).map_err(io)?;
        private_dir(&workspaces, true).map_err(io)?;
        private_dir(&dir.join("files"), true).map_err(io)?;
        let mut opts = OpenOptions::new();
        opts.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let lock_file = opts.open(dir.join("lock")).map_err(io)?;
        if !lock(&lock_file) {
            return Err(OpenError::Locked(dir));
        }
        Ok(Store {
            dir,
            workspaces,
            _lock: lock_file,
        })
    }

    /// The directory (`root/mode`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file_name(id: &str) -> String {
        format!("{id}.json")
    }

    /// Every kept workspace; each file that could not be read, moved aside; and a message for
    /// each problem, naming where the file is now and how to restore it.
    pub fn load(&self) -> (Vec<SavedWorkspace>, Vec<Broken>, Vec<String>) {
        let mut found = Vec::new();
        let mut broken = Vec::new();
        let mut problems = Vec::new();
        let entries = match fs::read_dir(&self.workspaces) {
            Ok(e) => e,
            Err(e) => {
                problems.push(format!("cannot list {}: {e}", self.workspaces.display()));
                return (found, broken, problems);
            }
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') && name.contains(".tmp-") {
                // Left by a crash mid-write; the real file beside it is whole.
                let _ = fs::remove_file(&path);
                continue;
            }
            // Moved aside on an earlier start and not yet removed by the instructor: still
            // not loaded, its block still kept, whatever has happened since.
            if let Some((file, _)) = name.split_once(".corrupt-") {
                if !name.ends_with(DISMISSED) {
                    broken.push(Broken {
                        id: file.trim_end_matches(".json").to_string(),
                        block: block_in(&read_prefix(&path)),
                        moved_to: path.clone(),
                        why: "moved aside on an earlier start".into(),
                    });
                }
                continue;
            }
            if !name.ends_with(".json") {
                continue;
            }
            let id = name.trim_end_matches(".json").to_string();
            let mut not_loaded = |why: String, block: Option<usize>, at: &Path| {
                problems.push(format!(
                    "workspace file {} was not loaded ({why}); it is left as it is",
                    at.display()
                ));
                broken.push(Broken {
                    id: id.clone(),
                    block,
                    moved_to: at.to_path_buf(),
                    why,
                });
            };
            // Not a plain file (a directory, a pipe that would block the start forever):
            // not opened at all.
            match fs::symlink_metadata(&path) {
                Ok(m) if m.is_file() => {}
                Ok(_) => {
                    not_loaded("it is not a plain file".into(), None, &path);
                    continue;
                }
                Err(e) => {
                    not_loaded(format!("cannot be examined: {e}"), None, &path);
                    continue;
                }
            }
            let size = fs::metadata(&path).map_or(0, |m| m.len());
            let bytes = if size > MAX_FILE {
                None
            } else {
                match fs::read(&path) {
                    Ok(b) => Some(b),
                    Err(e) => {
                        // Unreadable is not corrupt: nothing is moved, and it is said.
                        not_loaded(format!("cannot be read: {e}"), None, &path);
                        continue;
                    }
                }
            };
            let parsed = match &bytes {
                None => Err(format!(
                    "{size} bytes, more than a workspace file may be ({MAX_FILE})"
                )),
                Some(b) => serde_json::from_slice::<SavedWorkspace>(b)
                    .map_err(|e| e.to_string())
                    .and_then(|w| {
                        if w.version > VERSION {
                            Err(format!(
                                "written by a newer socketlab (format {}; this one reads {VERSION})",
                                w.version
                            ))
                        } else if Self::file_name(&w.id) != name {
                            Err(format!("it holds workspace {:?}, not {name}", w.id))
                        } else {
                            Ok(w)
                        }
                    }),
            };
            let why = match parsed {
                Ok(w) => {
                    found.push(w);
                    continue;
                }
                Err(e) => e,
            };
            let block = block_in(&bytes.unwrap_or_else(|| read_prefix(&path)));
            match move_aside(&path) {
                Ok(moved_to) => {
                    problems.push(format!(
                        "workspace file {} is corrupt and was not loaded ({why}); it was moved aside, unchanged, to {} (fix it and rename it back to {name}, then restart, to restore it); the other workspaces are loaded",
                        path.display(),
                        moved_to.display()
                    ));
                    broken.push(Broken {
                        id,
                        block,
                        moved_to,
                        why,
                    });
                }
                Err(e) => not_loaded(
                    format!("corrupt ({why}), and it could not be moved aside: {e}"),
                    block,
                    &path,
                ),
            }
        }
        (found, broken, problems)
    }

    /// Writes one workspace atomically.
    pub fn save(&self, w: &SavedWorkspace) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(w).map_err(std::io::Error::other)?;
        write_atomic(&self.workspaces, &Self::file_name(&w.id), &bytes)
    }

    /// The instructor removed a workspace that did not load: its moved-aside file is kept,
    /// renamed so that later starts no longer list it or keep its ports.
    pub fn dismiss(&self, b: &Broken) -> std::io::Result<()> {
        let name = b
            .moved_to
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("");
        if !name.contains(".corrupt-") || !b.moved_to.exists() {
            return Ok(());
        }
        let to = PathBuf::from(format!("{}{DISMISSED}", b.moved_to.display()));
        fs::rename(&b.moved_to, &to)?;
        File::open(&self.workspaces)?.sync_all()
    }

    /// Removes one workspace's file.
    pub fn remove(&self, id: &str) -> std::io::Result<()> {
        match fs::remove_file(self.workspaces.join(Self::file_name(id))) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => File::open(&self.workspaces)?.sync_all(),
        }
    }

    /// The class file, if there is one and it parses (else the problem).
    pub fn load_class(&self) -> Result<Option<SavedClass>, String> {
        let path = self.dir.join("class.json");
        match fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| format!("{} is corrupt ({e}); fix or remove it", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// Writes the class file atomically.
    pub fn save_class(&self, c: &SavedClass) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(c).map_err(std::io::Error::other)?;
        write_atomic(&self.dir, "class.json", &bytes)
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
