//! File transfers over a connection: a `file` server sends a file to each client that
//! connects, a `send()` at a time, then closes; a `receive` server, or a tcp-client with
//! `options.save`, keeps what arrives as a file when the peer closes its side. Both stream
//! from and to disk, tell their progress at most ten times a second, and end with a `file`
//! event carrying the SHA-256, so both sides can show the file arrived whole.

use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::tcp::OwnedWriteHalf;

use super::conn_task::{ConnTask, Flow};
use crate::event::{Call, EventKind, Extra};
use crate::files::{FileMeta, Source, Writer};
use crate::ids::FileId;

/// At most this often, per connection, a progress event.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
/// Bytes of a file per `send()`.
const CHUNK: usize = 64 * 1024;

/// When a connection last told its progress.
struct Progress {
    file: FileId,
    total: Option<u64>,
    last: Option<Instant>,
}

impl Progress {
    fn new(file: FileId, total: Option<u64>) -> Self {
        Self {
            file,
            total,
            last: None,
        }
    }

    /// The progress event's members, if one is due (or `force`d: the last one).
    fn due(&mut self, done: u64, force: bool) -> Option<Extra<'static>> {
        let now = Instant::now();
        if !force
            && self
                .last
                .is_some_and(|t| now.duration_since(t) < PROGRESS_EVERY)
        {
            return None;
        }
        self.last = Some(now);
        Some(Extra::Progress {
            file: self.file,
            done,
            total: self.total,
        })
    }
}

/// A connection keeping what it receives as a file.
pub(super) struct Saving {
    writer: Writer,
    progress: Progress,
}

fn file_members(meta: &FileMeta) -> Extra<'_> {
    Extra::File {
        file: meta.id,
        name: &meta.name,
        bytes: meta.bytes,
        sha256: &meta.sha256,
    }
}

impl ConnTask {
    fn note(&self, kind: EventKind, call: Call, message: &str) {
        self.engine.emit(self.draft(kind, call).message(message));
    }

    /// A `file` server's answer to a new connection: the whole file, then close.
    pub(super) async fn serve_file(&self, wr: &mut OwnedWriteHalf) -> Flow {
        let files = &self.engine.env.files;
        let meta = match self.run.spec.options.file.map(|id| (id, files.get(id))) {
            Some((_, Ok(m))) => m,
            Some((id, Err(e))) => {
                let why = format!("cannot send file {id}: {e}");
                self.note(EventKind::Error, Call::Send, &why);
                return Flow::Close(why.into());
            }
            None => {
                let why = "cannot send a file: options.file is missing".to_string();
                self.note(EventKind::Error, Call::Send, &why);
                return Flow::Close(why.into());
            }
        };
        let mut f = match tokio::fs::File::open(files.path(&meta)).await {
            Ok(f) => f,
            Err(e) => {
                let why = format!("cannot read file {}: {e}", meta.id);
                self.note(EventKind::Error, Call::Send, &why);
                return Flow::Close(why.into());
            }
        };
        let mut buf = vec![0u8; CHUNK];
        let mut done = 0u64;
        let mut progress = Progress::new(meta.id, Some(meta.bytes));
        loop {
            let n = match f.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    let why = format!("reading file {} failed: {e}", meta.id);
                    self.note(EventKind::Error, Call::Send, &why);
                    return Flow::Close(why.into());
                }
            };
            if let Flow::Close(why) = self.send(wr, &buf[..n]).await {
                return Flow::Close(why);
            }
            done += n as u64;
            if let Some(p) = progress.due(done, done == meta.bytes) {
                self.engine
                    .emit(self.draft(EventKind::Progress, Call::Send).extra(p));
            }
        }
        let members = file_members(&meta);
        let msg = format!("sent file {} ({} bytes) whole", meta.name, done);
        self.engine.emit(
            self.draft(EventKind::File, Call::Send)
                .extra(members)
                .message(&msg),
        );
        Flow::Close(format!("closed by the server after sending file {}", meta.id).into())
    }

    /// Whether this connection keeps what it receives (a `receive` server, or a tcp-client
    /// with `options.save`), and if so the file it writes to.
    pub(super) async fn start_saving(&self) -> Option<Saving> {
        let spec = &self.run.spec;
        let wanted = if self.server {
            spec.behavior == crate::engine::behavior::Behavior::Receive
        } else {
            spec.options.save == Some(true)
        };
        if !wanted {
            return None;
        }
        let name = format!(
            "{}-{}-from-{}.bin",
            self.engine.id, self.conn.id, self.conn.peer
        )
        .replace([':', '[', ']'], "_");
        let from = Source {
            engine: self.engine.id,
            conn: self.conn.id,
            peer: self.conn.peer.to_string(),
        };
        match self.engine.env.files.create(name, Some(from)).await {
            Ok(writer) => {
                let progress = Progress::new(writer.id(), None);
                Some(Saving { writer, progress })
            }
            Err(e) => {
                self.note(
                    EventKind::Error,
                    Call::Recv,
                    &format!("cannot keep what arrives as a file: {e}"),
                );
                None
            }
        }
    }

    /// Writes received bytes to the file; past `--max-file`, says so and closes.
    pub(super) async fn save(&self, saving: &mut Option<Saving>, data: &[u8]) -> Flow {
        let Some(s) = saving else {
            return Flow::Go;
        };
        if let Err(e) = s.writer.write(data).await {
            let why = format!("not saved: {e}");
            self.note(EventKind::Error, Call::Recv, &why);
            // Dropping the writer deletes what it wrote.
            *saving = None;
            return Flow::Close(why.into());
        }
        let done = s.writer.bytes();
        if let Some(p) = s.progress.due(done, false) {
            self.engine
                .emit(self.draft(EventKind::Progress, Call::Recv).extra(p));
        }
        Flow::Go
    }

    /// The peer closed its side: the file is complete, kept, and announced with its SHA-256.
    /// Ended any other way, what was received is not kept.
    pub(super) async fn finish_saving(&self, saving: Saving, peer_closed: bool) {
        if !peer_closed {
            self.note(
                EventKind::Error,
                Call::Recv,
                &format!(
                    "not saved as a file: the connection ended before the peer closed its side ({} bytes received)",
                    saving.writer.bytes()
                ),
            );
            return;
        }
        match saving.writer.finish(&self.engine.env.files).await {
            Ok(meta) => {
                let members = file_members(&meta);
                let msg = format!("received file {} ({} bytes) whole", meta.name, meta.bytes);
                self.engine.emit(
                    self.draft(EventKind::File, Call::Recv)
                        .extra(members)
                        .message(&msg),
                );
            }
            Err(e) => self.note(EventKind::Error, Call::Recv, &format!("not saved: {e}")),
        }
    }
}
