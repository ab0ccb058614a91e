//! Files on disk that survive a crash at any moment: [`write_atomic`] (a temp file in the same
//! directory, `fsync`, `rename`, `fsync` of the directory, as SQLite and Git do). A leaf: it
//! knows nothing of workspaces, files or HTTP, so every layer may use it.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The moments inside [`write_atomic`] at which a test can stop a save for good (and then
/// kill the process), so that "a crash at any moment" is shown moment by moment rather than
/// hoped for by timing. Set by the environment variable `SOCKETLAB_TEST_PAUSE_SAVE` as
/// `POINT:FILE_NAME` (`half-written:w1.json`); unset, as in any real run, it costs one
/// `OnceLock` read per save.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PausePoint {
    /// Half the bytes are in the temp file.
    HalfWritten,
    /// The temp file is whole and synced; the rename has not happened.
    BeforeRename,
    /// The rename happened; the directory is not yet synced.
    Renamed,
}

fn pause_point(name: &str, at: PausePoint) {
    static WANTED: std::sync::OnceLock<Option<(PausePoint, String)>> = std::sync::OnceLock::new();
    let wanted = WANTED.get_or_init(|| {
        let v = std::env::var("SOCKETLAB_TEST_PAUSE_SAVE").ok()?;
        let (point, file) = v.split_once(':')?;
        let point = match point {
            "half-written" => PausePoint::HalfWritten,
            "before-rename" => PausePoint::BeforeRename,
            "renamed" => PausePoint::Renamed,
            _ => return None,
        };
        Some((point, file.to_string()))
    });
    if wanted.as_ref().is_some_and(|(p, f)| *p == at && f == name) {
        eprintln!("test pause: saving {name} stopped at {at:?}; kill the process now");
        // Never resumes: the test kills the process while this save is frozen mid-way.
        loop {
            std::thread::park();
        }
    }
}

/// Writes `bytes` to `dir/name` so that a crash at any moment leaves either the old file or
/// the new one, never a mix: temp file, fsync, rename over, fsync the directory.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
    let result = (|| {
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp)?;
        let (first, rest) = bytes.split_at(bytes.len() / 2);
        f.write_all(first)?;
        pause_point(name, PausePoint::HalfWritten);
        f.write_all(rest)?;
        f.sync_all()?;
        drop(f);
        pause_point(name, PausePoint::BeforeRename);
        fs::rename(&tmp, dir.join(name))?;
        pause_point(name, PausePoint::Renamed);
        // The rename itself is durable only once the directory is.
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
