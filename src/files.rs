//! A workspace's files: uploads, and what its engines received. Streamed from and to disk,
//! never held whole in memory; each is hashed (SHA-256) as it is written, so both sides of a
//! transfer can show a student the file arrived whole.
//!
//! A file is written under a temporary name and renamed into place once complete, then its
//! description is written beside it (`f3.json`, atomically): a listed file is always whole,
//! a restart lists exactly the files that were, and a crash or a refused upload leaves
//! nothing behind.
//!
//! A workspace's files have a quota, in number and bytes together ([`Quota`]), counting
//! uploads, files its engines keep, and those being written: a write that would pass it
//! fails at once (`507 quota_exceeded`), so a full quota never means a full disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use tokio::io::AsyncWriteExt;

use crate::error::ApiError;
use crate::event::format_time;
use crate::ids::{ConnId, EngineId, FileId, Named};

/// The longest file name kept.
pub const MAX_NAME: usize = 200;

/// Where a received file came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Source {
    /// The engine that received it.
    pub engine: EngineId,
    /// Its connection.
    pub conn: ConnId,
    /// The peer that sent it.
    pub peer: String,
}

/// One file, as listed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FileMeta {
    /// `f3`.
    pub id: FileId,
    /// Its name (as uploaded, or made up for a received one).
    pub name: String,
    /// Its length.
    pub bytes: u64,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
    /// When it was stored.
    pub created: String,
    /// Where it came from, for one an engine received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Source>,
}

/// A workspace's files.
#[derive(Debug)]
pub struct Files {
    dir: PathBuf,
    max: u64,
    list: Mutex<BTreeMap<u64, FileMeta>>,
    next: AtomicU64,
    quota: Arc<Quota>,
}

/// How many files, and how many bytes of them, a workspace may have; and how many it has,
/// counting those being written.
#[derive(Debug)]
pub struct Quota {
    /// Files at most (`--ws-max-files`).
    pub max_files: usize,
    /// Bytes at most, over all its files (`--ws-files-bytes`, `--files-bytes`).
    pub max_bytes: u64,
    files: AtomicUsize,
    bytes: AtomicU64,
}

impl Quota {
    /// A quota of `max_files` files and `max_bytes` bytes, none used.
    pub fn new(max_files: usize, max_bytes: u64) -> Self {
        Self {
            max_files,
            max_bytes,
            files: AtomicUsize::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    /// Files and bytes in use now.
    pub fn used(&self) -> (usize, u64) {
        (
            self.files.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }

    fn take_file(&self) -> Result<(), ApiError> {
        self.files
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.max_files).then_some(n + 1)
            })
            .map(|_| ())
            .map_err(|n| {
                ApiError::quota_exceeded(format!(
                    "this workspace has {n} files, the most it may keep (--ws-max-files {}); delete some (DELETE /api/files/ID, or the Files panel) and try again",
                    self.max_files
                ))
            })
    }

    fn take_bytes(&self, n: u64) -> Result<(), ApiError> {
        self.bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(n).filter(|t| *t <= self.max_bytes)
            })
            .map(|_| ())
            .map_err(|used| {
                ApiError::quota_exceeded(format!(
                    "this workspace's files may take {} bytes together and take {used}; this one does not fit (nothing of it was kept): delete some files and try again",
                    self.max_bytes
                ))
            })
    }

    fn give_back(&self, files: usize, bytes: u64) {
        self.files.fetch_sub(files, Ordering::Relaxed);
        self.bytes.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// Checks a file's name: 1 to 200 characters, no path separators or control characters.
pub fn check_file_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    let bad = name.is_empty()
        || name.chars().count() > MAX_NAME
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control());
    if bad {
        return Err(ApiError::invalid_spec(format!(
            "name: \"{}\" is not a file name; give 1 to {MAX_NAME} characters without / or \\, e.g. ?name=report.pdf",
            name.chars().take(40).collect::<String>()
        )));
    }
    Ok(name.to_string())
}

impl Files {
    /// The files kept in `dir` (which need not exist yet), at most `max` bytes each, within
    /// `quota` together. Files half-written when the last run ended are deleted. Files kept
    /// before a quota was lowered stay (the quota then only refuses new ones).
    pub fn open(dir: PathBuf, max: u64, quota: Quota) -> Self {
        let mut list = BTreeMap::new();
        let mut next = 1;
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".part") || name.contains(".tmp-") {
                let _ = std::fs::remove_file(e.path());
                continue;
            }
            let Some(id) = name
                .strip_suffix(".json")
                .and_then(|n| n.parse::<FileId>().ok())
            else {
                continue;
            };
            let meta = std::fs::read(e.path())
                .ok()
                .and_then(|b| serde_json::from_slice::<FileMeta>(&b).ok())
                .filter(|m| m.id == id && dir.join(id.to_string()).is_file());
            if let Some(meta) = meta {
                next = next.max(id.number() + 1);
                list.insert(id.number(), meta);
            }
        }
        quota.files.store(list.len(), Ordering::Relaxed);
        quota
            .bytes
            .store(list.values().map(|m| m.bytes).sum(), Ordering::Relaxed);
        Self {
            dir,
            max,
            list: Mutex::new(list),
            next: AtomicU64::new(next),
            quota: Arc::new(quota),
        }
    }

    /// The quota and what is used of it.
    pub fn quota(&self) -> &Quota {
        &self.quota
    }

    /// `507 quota_exceeded` now if `bytes` more would not fit (an upload's declared length).
    pub fn check_room(&self, bytes: u64) -> Result<(), ApiError> {
        let q = &self.quota;
        let (files, used) = q.used();
        if files >= q.max_files {
            return q.take_file();
        }
        if used.saturating_add(bytes) > q.max_bytes {
            return q.take_bytes(bytes);
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, FileMeta>> {
        self.list.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The most bytes one file may have.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Every file, oldest first.
    pub fn list(&self) -> Vec<FileMeta> {
        self.lock().values().cloned().collect()
    }

    /// One file, or `404` saying how to list them.
    pub fn get(&self, id: FileId) -> Result<FileMeta, ApiError> {
        self.lock()
            .get(&id.number())
            .cloned()
            .ok_or_else(|| ApiError::not_found(FileId::missing(&id.to_string())))
    }

    /// Where a file's bytes are.
    pub fn path(&self, meta: &FileMeta) -> PathBuf {
        self.dir.join(meta.id.to_string())
    }

    /// The directory the files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Starts writing a new file named `name`; `507 quota_exceeded` when the workspace has
    /// as many files as it may.
    pub async fn create(&self, name: String, from: Option<Source>) -> Result<Writer, ApiError> {
        self.quota.take_file()?;
        // From here a dropped writer gives its place back, whatever fails below.
        let reserved = Reserved {
            quota: self.quota.clone(),
            files: 1,
            bytes: 0,
        };
        create_private_dir(&self.dir)
            .await
            .map_err(|e| ApiError::internal(format!("cannot make {}: {e}", self.dir.display())))?;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let tmp = self.dir.join(format!(".f{n}.part"));
        let mut opts = tokio::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        opts.mode(0o600);
        let file = opts
            .open(&tmp)
            .await
            .map_err(|e| ApiError::internal(format!("cannot write {}: {e}", tmp.display())))?;
        Ok(Writer {
            n,
            name,
            from,
            tmp: Some(tmp),
            file: Some(file),
            hash: sha2::Sha256::new(),
            bytes: 0,
            max: self.max,
            reserved,
        })
    }

    /// Lists a finished file; its place in the quota stays taken.
    fn add(&self, meta: FileMeta, n: u64, mut reserved: Reserved) {
        reserved.files = 0;
        reserved.bytes = 0;
        self.lock().insert(n, meta);
    }

    /// Removes a file: its description first (so it is unlisted even if a crash came
    /// between), then its bytes.
    pub async fn remove(&self, id: FileId) -> Result<FileMeta, ApiError> {
        let meta = self.get(id)?;
        if self.lock().remove(&id.number()).is_some() {
            self.quota.give_back(1, meta.bytes);
        }
        let _ = tokio::fs::remove_file(self.dir.join(format!("{}.json", meta.id))).await;
        let _ = tokio::fs::remove_file(self.path(&meta)).await;
        Ok(meta)
    }

    /// Removes every file and the directory (the workspace is gone).
    pub async fn remove_all(&self) {
        let gone: Vec<FileMeta> = std::mem::take(&mut *self.lock()).into_values().collect();
        self.quota
            .give_back(gone.len(), gone.iter().map(|m| m.bytes).sum());
        let _ = tokio::fs::remove_dir_all(&self.dir).await;
    }
}

/// A place taken in a quota, given back when dropped (a writer that never finished).
#[derive(Debug)]
struct Reserved {
    quota: Arc<Quota>,
    files: usize,
    bytes: u64,
}

impl Drop for Reserved {
    fn drop(&mut self) {
        self.quota.give_back(self.files, self.bytes);
    }
}

/// Makes `dir` (and its parents) readable by this user only: received and uploaded files are
/// a student's own.
pub async fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = tokio::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    b.mode(0o700);
    b.create(dir).await
}

/// A file being written: bytes go to disk as they come, hashed on the way. Dropped without
/// [`Writer::finish`], it deletes what it wrote and gives its place in the quota back.
#[derive(Debug)]
pub struct Writer {
    n: u64,
    name: String,
    from: Option<Source>,
    tmp: Option<PathBuf>,
    file: Option<tokio::fs::File>,
    hash: sha2::Sha256,
    bytes: u64,
    max: u64,
    reserved: Reserved,
}

impl Writer {
    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The id it will have.
    pub fn id(&self) -> FileId {
        FileId::new(self.n)
    }

    /// Appends bytes; `413 too_large` the moment the file would pass the limit, `507
    /// quota_exceeded` the moment the workspace's files would pass theirs.
    pub async fn write(&mut self, data: &[u8]) -> Result<(), ApiError> {
        if self.bytes + data.len() as u64 > self.max {
            return Err(ApiError::too_large(format!(
                "the file passed the limit of {} bytes (--max-file); nothing was kept",
                self.max
            )));
        }
        self.reserved.quota.take_bytes(data.len() as u64)?;
        self.reserved.bytes += data.len() as u64;
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| ApiError::internal("write after finish".into()))?;
        file.write_all(data)
            .await
            .map_err(|e| ApiError::internal(format!("writing a file: {e}")))?;
        self.hash.update(data);
        self.bytes += data.len() as u64;
        Ok(())
    }

    /// Makes the file durable and lists it in `files`.
    pub async fn finish(mut self, files: &Files) -> Result<FileMeta, ApiError> {
        let reserved = Reserved {
            quota: self.reserved.quota.clone(),
            files: std::mem::take(&mut self.reserved.files),
            bytes: std::mem::take(&mut self.reserved.bytes),
        };
        let file = self
            .file
            .take()
            .ok_or_else(|| ApiError::internal("finished twice".into()))?;
        file.sync_all()
            .await
            .map_err(|e| ApiError::internal(format!("saving a file: {e}")))?;
        drop(file);
        let id = self.id();
        let tmp = self.tmp.take().unwrap_or_default();
        tokio::fs::rename(&tmp, files.dir().join(id.to_string()))
            .await
            .map_err(|e| ApiError::internal(format!("saving a file: {e}")))?;
        let meta = FileMeta {
            id,
            name: std::mem::take(&mut self.name),
            bytes: self.bytes,
            sha256: crate::secret::to_hex(&std::mem::take(&mut self.hash).finalize()),
            created: format_time(SystemTime::now()),
            from: self.from.take(),
        };
        let described =
            serde_json::to_vec_pretty(&meta).map_err(|e| ApiError::internal(e.to_string()))?;
        let (dir, name) = (files.dir().to_path_buf(), format!("{}.json", meta.id));
        tokio::task::spawn_blocking(move || crate::disk::write_atomic(&dir, &name, &described))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(|e| ApiError::internal(format!("saving a file's description: {e}")))?;
        files.add(meta.clone(), self.n, reserved);
        Ok(meta)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            // Not finished: what was written is not a file anyone asked to keep.
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// SHA-256 of a file's bytes, read from disk a piece at a time.
pub async fn sha256_of(path: &Path) -> std::io::Result<String> {
    use tokio::io::AsyncReadExt;
    let mut f = tokio::fs::File::open(path).await?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(crate::secret::to_hex(&h.finalize()))
}

#[cfg(test)]
#[path = "files_tests.rs"]
mod tests;
