//! One connection's task, a server's or a client's: it reads, reacts per the behavior and
//! the rules, and writes what the API or the chat room asks.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::task::Poll;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;

use super::super::behavior::Behavior;
use super::super::chat::{Dropped, Room};
use super::super::{Conn, ConnCmd, Engine, Run, pool};
use super::bell::Bell;
use super::paid_read;
use crate::event::{Call, Draft, EventKind};

/// One connection's task: reads, reacts, and writes what the API or the room asks.
pub(super) struct ConnTask {
    pub(super) engine: Arc<Engine>,
    pub(super) run: Arc<Run>,
    pub(super) conn: Arc<Conn>,
    pub(super) room: Option<Arc<Room>>,
    pub(super) server: bool,
}

impl ConnTask {
    pub(super) fn new(
        engine: Arc<Engine>,
        run: Arc<Run>,
        conn: Arc<Conn>,
        room: Option<Arc<Room>>,
        server: bool,
    ) -> Self {
        Self {
            engine,
            run,
            conn,
            room,
            server,
        }
    }
}

/// Why a write did not complete.
pub(super) enum WriteError {
    /// The engine or connection was closed while it waited.
    Closed(Cow<'static, str>),
    /// The socket call failed.
    Failed(Cow<'static, str>),
}

/// Whether the connection goes on after a step.
/// What one turn of a connection's loop got.
enum Got {
    Closed,
    Cmd(ConnCmd),
    Read(std::io::Result<usize>),
}

/// How often the loop looks at close and commands before data (see `run`).
const CHECK_EVERY: u32 = 16;

pub(super) enum Flow {
    Go,
    Close(Cow<'static, str>),
}

pub(super) fn describe_io(call: &str, e: &std::io::Error) -> Cow<'static, str> {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionReset => "connection reset by peer".into(),
        BrokenPipe => format!("{call} failed: broken pipe (the peer has closed)").into(),
        ConnectionAborted => "connection aborted".into(),
        _ => format!("{call} failed: {e}").into(),
    }
}

impl ConnTask {
    pub(super) fn draft(&self, kind: EventKind, call: Call) -> Draft<'_> {
        Draft::new(kind, call).conn(self.conn.id)
    }

    fn report_dropped(&self, dropped: Vec<Dropped>) {
        for d in dropped {
            let msg = format!(
                "chat line dropped for {}: its send queue is full (the client is not reading)",
                d.conn
            );
            self.engine
                .emit(self.draft(EventKind::Error, Call::Send).message(&msg));
        }
    }

    /// Writes all of `data` (Python's `sendall`) without recording it, unless the engine or
    /// connection is closed first.
    pub(super) async fn write(
        &self,
        wr: &mut OwnedWriteHalf,
        data: &[u8],
    ) -> Result<(), WriteError> {
        // Most sends fit in the socket buffer at once; only a send that must wait for the
        // peer races the close signal.
        let done = match wr.try_write(data) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
            Err(e) => return Err(WriteError::Failed(describe_io("send()", &e))),
        };
        if done == data.len() {
            return Ok(());
        }
        tokio::select! {
            biased;
            _ = self.conn.close.cancelled() => Err(WriteError::Closed(self.cancel_reason())),
            r = wr.write_all(&data[done..]) => r.map_err(|e| WriteError::Failed(describe_io("send()", &e))),
        }
    }

    /// Records a write's outcome: a `sent` event, or an `error` event and the close.
    pub(super) fn record_send(&self, data: &[u8], written: Result<(), WriteError>) -> Flow {
        match written {
            Ok(()) => {
                self.count_sent(data.len());
                self.engine
                    .emit(self.draft(EventKind::Sent, Call::Send).data(data));
                Flow::Go
            }
            Err(WriteError::Closed(why)) => Flow::Close(why),
            Err(WriteError::Failed(why)) => {
                self.engine
                    .emit(self.draft(EventKind::Error, Call::Send).message(&why));
                Flow::Close(why)
            }
        }
    }

    fn count_sent(&self, n: usize) {
        self.engine.stats.sent(n);
        self.conn
            .bytes_out
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// Writes all of `data` and records it.
    pub(super) async fn send(&self, wr: &mut OwnedWriteHalf, data: &[u8]) -> Flow {
        let written = self.write(wr, data).await;
        self.record_send(data, written)
    }

    pub(super) fn cancel_reason(&self) -> Cow<'static, str> {
        if self.run.cancel.is_cancelled() {
            if self.engine.env.root.is_cancelled() {
                "closed: socketlab is shutting down".into()
            } else {
                "closed: engine stopped".into()
            }
        } else {
            "closed by the user".into()
        }
    }

    async fn on_command(&self, wr: &mut OwnedWriteHalf, cmd: ConnCmd) -> Flow {
        // `_room` keeps the bytes' place in the outbox until they are written.
        let ConnCmd::Send {
            data,
            shutdown_write,
            reply,
            room: _room,
        } = cmd;
        let mut flow = if data.is_empty() {
            Flow::Go
        } else {
            self.send(wr, &data).await
        };
        if let Flow::Go = flow
            && shutdown_write
        {
            match wr.shutdown().await {
                Ok(()) => self.engine.emit(
                    self.draft(EventKind::Shutdown, Call::Shutdown)
                        .message("shutdown(SHUT_WR): this side sends no more; still receiving until the peer closes"),
                ),
                Err(e) => {
                    let why = describe_io("shutdown()", &e);
                    self.engine.emit(self.draft(EventKind::Error, Call::Shutdown).message(&why));
                    flow = Flow::Close(why);
                }
            }
        }
        if let Some(reply) = reply {
            let _ = reply.send(match &flow {
                Flow::Go => Ok(data.len()),
                Flow::Close(why) => Err(format!("send on {} failed: {why}", self.conn.id)),
            });
        }
        flow
    }

    async fn on_data(&self, wr: &mut OwnedWriteHalf, data: &[u8]) -> Flow {
        self.engine.stats.received(data.len());
        self.conn
            .bytes_in
            .fetch_add(data.len() as u64, std::sync::atomic::Ordering::Relaxed);
        let received = || {
            self.engine
                .emit(self.draft(EventKind::Received, Call::Recv).data(data))
        };
        let spec = &self.run.spec;
        let greeting = spec.options.greeting.as_deref().unwrap_or("");
        let limit = self.engine.env.config.limits.max_message;
        let at = self.draft(EventKind::Error, Call::Send);
        let response = if spec.compiled_rules.has_regex() {
            // Off the async workers; a close while the rules work ends the wait.
            tokio::select! {
                biased;
                _ = self.conn.close.cancelled() => return Flow::Close(self.cancel_reason()),
                r = pool::respond(&self.engine, spec, data, self.conn.peer, limit, at) => r,
            }
        } else {
            spec.behavior
                .respond(&spec.compiled_rules, data, greeting, self.conn.peer, limit)
        };
        let say = |msgs: &[std::borrow::Cow<'_, [u8]>]| {
            if let Some(room) = &self.room {
                for m in msgs {
                    self.report_dropped(room.say(self.conn.id, m));
                }
            }
        };
        let Some(reply) = response.reply.as_ref().filter(|r| !r.is_empty()) else {
            received();
            pool::report(&self.engine, &response, limit, at);
            say(&response.broadcast);
            return Flow::Go;
        };
        // Answer first, then record both calls (in the order they happened): watching the
        // traffic must not sit between a request and its reply.
        let flow = match self.write(wr, reply).await {
            Ok(()) => {
                self.count_sent(reply.len());
                self.engine.emit_pair(
                    self.draft(EventKind::Received, Call::Recv).data(data),
                    self.draft(EventKind::Sent, Call::Send).data(reply),
                );
                Flow::Go
            }
            failed => {
                received();
                self.record_send(reply, failed)
            }
        };
        pool::report(&self.engine, &response, limit, at);
        say(&response.broadcast);
        flow
    }

    /// Runs the connection to its end and returns why it ended.
    pub(super) async fn run(self, stream: TcpStream, mut rx: mpsc::Receiver<ConnCmd>) -> String {
        let (mut rd, mut wr) = stream.into_split();
        let mut buf = vec![0u8; self.run.spec.options.recv_size];
        if let Some(room) = &self.room {
            self.report_dropped(room.join(self.conn.id, self.conn.peer, self.conn.out.clone()));
        }
        let greeting = self.run.spec.options.greeting.as_deref().unwrap_or("");
        let mut flow = Flow::Go;
        let mut linger = false;
        if self.server
            && let Some(hello) = self.run.spec.behavior.on_accept(greeting)
        {
            flow = self.send(&mut wr, &hello).await;
            if let Flow::Go = flow {
                linger = true;
                flow = Flow::Close(
                    format!(
                        "closed by the server after sending ({} behavior)",
                        self.run.spec.behavior.name()
                    )
                    .into(),
                );
            }
        }
        if self.server && self.run.spec.behavior == Behavior::File {
            flow = self.serve_file(&mut wr).await;
        }
        let mut saving = self.start_saving().await;
        let mut peer_closed = false;
        // One close future for the whole loop, not a new registration per recv().
        let mut closed = std::pin::pin!(self.conn.close.cancelled());
        let mut turn = 0u32;
        let bell = Bell::new();
        let mut commands_open = true;
        let reason = loop {
            if let Flow::Close(reason) = flow {
                break reason;
            }
            turn = turn.wrapping_add(1);
            // The close and the command queue are polled only once one of them has woken the
            // task (see `Bell`), and the read first, so a task woken for data reads it at
            // once; every CHECK_EVERY turns they come first, so a flood never starves a close
            // or a send.
            let signals = std::future::poll_fn(|cx| {
                bell.poll(cx, |cx| {
                    if closed.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Got::Closed);
                    }
                    if commands_open {
                        match rx.poll_recv(cx) {
                            Poll::Ready(Some(cmd)) => return Poll::Ready(Got::Cmd(cmd)),
                            Poll::Ready(None) => commands_open = false,
                            Poll::Pending => {}
                        }
                    }
                    Poll::Pending
                })
            });
            let got = if turn.is_multiple_of(CHECK_EVERY) {
                tokio::select! {
                    biased;
                    g = signals => g,
                    r = paid_read(&self.engine, &mut rd, &mut buf) => Got::Read(r),
                }
            } else {
                tokio::select! {
                    biased;
                    r = paid_read(&self.engine, &mut rd, &mut buf) => Got::Read(r),
                    g = signals => g,
                }
            };
            flow = match got {
                Got::Closed => Flow::Close(self.cancel_reason()),
                Got::Cmd(cmd) => self.on_command(&mut wr, cmd).await,
                Got::Read(r) => match r {
                    Ok(0) => {
                        peer_closed = true;
                        self.engine
                            .emit(self.draft(EventKind::Eof, Call::Recv).message(
                                "recv() returned 0 bytes: the peer closed its side (end of stream)",
                            ));
                        Flow::Close("peer closed the connection (recv() returned 0 bytes)".into())
                    }
                    Ok(n) => {
                        let mut f = self.on_data(&mut wr, &buf[..n]).await;
                        if let (Flow::Go, Some(_)) = (&f, &saving) {
                            f = self.save(&mut saving, &buf[..n]).await;
                        }
                        // (The workspace's byte budget was claimed by the read: see
                        // `paid_read`.)
                        f
                    }
                    Err(e) => Flow::Close(describe_io("recv()", &e)),
                },
            };
        };
        if let Some(s) = saving.take() {
            self.finish_saving(s, peer_closed).await;
        }
        let mut reason = reason;
        if linger && !self.conn.close.is_cancelled() {
            let discarded = linger_close(&mut rd, &mut wr, &mut buf, &mut closed).await;
            if discarded > 0 {
                reason = format!(
                    "{reason}; it read and set aside the {discarded} bytes the client had sent, so the reply was not cut by a reset (lingering close)"
                )
                .into();
            }
        }
        if let Some(room) = &self.room {
            self.report_dropped(room.leave(self.conn.id));
        }
        drop(rd);
        drop(wr);
        self.engine.remove_conn(&self.run, &self.conn);
        self.engine
            .emit(self.draft(EventKind::Closed, Call::Close).message(&reason));
        reason.into_owned()
    }
}

/// How long a server that closes first keeps reading what the client still sends, and how
/// much of it: nginx's lingering close, bounded (its `lingering_time` is 30 s; a class needs
/// less).
const LINGER: std::time::Duration = std::time::Duration::from_secs(2);
const LINGER_BYTES: usize = 64 * 1024;

/// Closes as nginx does when the server speaks first and hangs up (daytime, greet): a
/// `close()` with the client's bytes unread makes the kernel send a reset, which can destroy
/// the reply before the client reads it. So: `shutdown(SHUT_WR)` (the reply then a FIN), and
/// read until the client closes, for at most `LINGER` and `LINGER_BYTES`. Returns the bytes
/// read and set aside.
async fn linger_close(
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    wr: &mut OwnedWriteHalf,
    buf: &mut [u8],
    closed: &mut std::pin::Pin<&mut tokio_util::sync::WaitForCancellationFuture<'_>>,
) -> usize {
    if wr.shutdown().await.is_err() {
        return 0;
    }
    let deadline = tokio::time::Instant::now() + LINGER;
    let mut discarded = 0;
    while discarded < LINGER_BYTES {
        tokio::select! {
            biased;
            _ = closed.as_mut() => break,
            r = tokio::time::timeout_at(deadline, rd.read(buf)) => match r {
                Ok(Ok(n)) if n > 0 => discarded += n,
                _ => break,
            },
        }
    }
    discarded
}
