//! TCP engines: a server's accept loop, a client's connect, and the connection task both
//! share. Socket I/O only; what to reply comes from `behavior`.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::behavior::Behavior;
use super::chat::{Dropped, Room};
use super::{Conn, ConnCmd, Engine, Run, bind_error};
use crate::error::ApiError;
use crate::event::{Call, Draft, EventKind};

fn new_socket(addr: &SocketAddr) -> std::io::Result<TcpSocket> {
    if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
}

fn listen(addr: SocketAddr, backlog: u32) -> Result<TcpListener, ApiError> {
    let sock = new_socket(&addr).map_err(|e| bind_error(addr, &e))?;
    // SO_REUSEADDR lets a stopped server's port be bound again at once even while its old
    // connections sit in TIME_WAIT; it never lets two listeners share a port on Linux.
    sock.set_reuseaddr(true).map_err(|e| bind_error(addr, &e))?;
    sock.bind(addr).map_err(|e| bind_error(addr, &e))?;
    sock.listen(backlog).map_err(|e| bind_error(addr, &e))
}

/// Binds and listens, then runs the accept loop in the background.
pub(super) async fn start_server(
    engine: &Arc<Engine>,
    generation: u64,
    cancel: CancellationToken,
) -> Result<Arc<Run>, ApiError> {
    let backlog = engine.spec.options.backlog.unwrap_or(5);
    let mut last_err = None;
    let mut listener = None;
    for addr in engine.bind_plan() {
        match listen(addr, backlog) {
            Ok(l) => {
                listener = Some(l);
                break;
            }
            Err(e) => last_err = Some(e),
        }
    }
    let Some(listener) = listener else {
        return Err(engine.no_bind(last_err));
    };
    let local = listener
        .local_addr()
        .map_err(|e| ApiError::Internal(format!("local_addr: {e}")))?;
    let run = Arc::new(Run::new(generation, cancel, local, None));
    engine.emit(Draft::new(EventKind::Bound, Call::Bind).local(local));
    let msg = format!("listening, backlog {backlog}");
    engine.emit(
        Draft::new(EventKind::Listening, Call::Listen)
            .local(local)
            .message(&msg),
    );
    run.tracker
        .spawn(accept_loop(engine.clone(), run.clone(), listener));
    Ok(run)
}

async fn accept_loop(engine: Arc<Engine>, run: Arc<Run>, listener: TcpListener) {
    let conns = TaskTracker::new();
    let room = (engine.spec.behavior == Behavior::Chat).then(|| Arc::new(Room::new()));
    let limit = engine.env.config.limits.max_connections;
    let max = engine.spec.options.max_clients.unwrap_or(limit).min(limit);
    let mut stopped = std::pin::pin!(run.cancel.cancelled());
    loop {
        let accepted = tokio::select! {
            biased;
            _ = &mut stopped => break,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, peer)) => {
                let local = stream.local_addr().unwrap_or(run.local);
                let over_engine = run.conns().len() >= max;
                if over_engine || !engine.env.take_conn_place() {
                    drop(stream);
                    let msg = if over_engine {
                        format!(
                            "refused {peer}: {max} clients already connected (max_clients {max}); \
                             accepted and closed at once"
                        )
                    } else {
                        format!(
                            "refused {peer}: {}; accepted and closed at once",
                            engine.env.conn_budget_message()
                        )
                    };
                    engine.emit(
                        Draft::new(EventKind::Refused, Call::Accept)
                            .local(local)
                            .peer(peer)
                            .message(&msg),
                    );
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let (conn, rx) = engine.add_conn(&run, peer, local);
                engine.emit(
                    Draft::new(EventKind::Accepted, Call::Accept)
                        .conn(conn.num)
                        .local(local)
                        .peer(peer),
                );
                let task = ConnTask::new(engine.clone(), run.clone(), conn, room.clone(), true);
                conns.spawn(task.run(stream, rx));
            }
            Err(e) => {
                let msg = format!("accept() failed: {e}");
                engine.emit(
                    Draft::new(EventKind::Error, Call::Accept)
                        .local(run.local)
                        .message(&msg),
                );
                // Out of file descriptors and the like: back off instead of spinning.
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        }
    }
    drop(listener);
    conns.close();
    conns.wait().await;
    engine.finish(&run, "listening socket closed");
}

fn connect_error(addr: SocketAddr, e: &std::io::Error) -> ApiError {
    use std::io::ErrorKind::*;
    ApiError::ConnectFailed(match e.kind() {
        ConnectionRefused => format!(
            "connect() to {addr} was refused: nothing is listening there; start the server first or check the port"
        ),
        NetworkUnreachable | HostUnreachable => {
            format!("connect() to {addr} failed: the network or host is unreachable")
        }
        _ => format!("connect() to {addr} failed: {e}"),
    })
}

/// Connects to the target (each resolved address in turn), then runs the connection.
pub(super) async fn start_client(
    engine: &Arc<Engine>,
    generation: u64,
    cancel: CancellationToken,
) -> Result<Arc<Run>, ApiError> {
    if !engine.env.take_conn_place() {
        return Err(ApiError::LimitReached(engine.env.conn_budget_message()));
    }
    let connected = connect(engine, &cancel).await;
    let (stream, peer) = match connected {
        Ok(c) => c,
        Err(e) => {
            engine.env.give_conn_place();
            return Err(e);
        }
    };
    let _ = stream.set_nodelay(true);
    let local = match stream.local_addr() {
        Ok(l) => l,
        Err(e) => {
            engine.env.give_conn_place();
            return Err(ApiError::Internal(format!("local_addr: {e}")));
        }
    };
    let run = Arc::new(Run::new(generation, cancel, local, Some(peer)));
    let (conn, rx) = engine.add_conn(&run, peer, local);
    let msg = format!("connected from ephemeral port {}", local.port());
    engine.emit(
        Draft::new(EventKind::Connected, Call::Connect)
            .conn(conn.num)
            .local(local)
            .peer(peer)
            .message(&msg),
    );
    let task = ConnTask::new(engine.clone(), run.clone(), conn, None, false);
    let engine = engine.clone();
    let run2 = run.clone();
    run.tracker.spawn(async move {
        let reason = task.run(stream, rx).await;
        engine.finish(&run2, &reason);
    });
    Ok(run)
}

/// Binds (when the spec says where) and connects to each resolved target in turn.
async fn connect(
    engine: &Arc<Engine>,
    cancel: &CancellationToken,
) -> Result<(TcpStream, SocketAddr), ApiError> {
    let timeout = engine.env.config.limits.connect_timeout;
    let binds = engine.bind_plan();
    let targets: Vec<SocketAddr> = engine
        .target_addrs
        .iter()
        .copied()
        .filter(|t| binds.first().is_none_or(|b| b.is_ipv4() == t.is_ipv4()))
        .collect();
    if targets.is_empty() {
        return Err(ApiError::InvalidAddress(
            "bind and target must be the same IP version (both IPv4 or both IPv6)".into(),
        ));
    }
    let mut last_err = None;
    let mut connected = None;
    for target in targets {
        let sock = new_socket(&target).map_err(|e| connect_error(target, &e))?;
        if !binds.is_empty() {
            let mut bound = Err(None);
            for b in &binds {
                match sock.bind(*b) {
                    Ok(()) => {
                        bound = Ok(());
                        break;
                    }
                    Err(e) => bound = Err(Some(bind_error(*b, &e))),
                }
            }
            bound.map_err(|e| engine.no_bind(e))?;
        }
        let attempt = tokio::select! {
            _ = cancel.cancelled() => return Err(ApiError::NotRunning("socketlab is shutting down".into())),
            r = tokio::time::timeout(timeout, sock.connect(target)) => r,
        };
        match attempt {
            Ok(Ok(stream)) => {
                connected = Some((stream, target));
                break;
            }
            Ok(Err(e)) => last_err = Some(connect_error(target, &e)),
            Err(_) => {
                last_err = Some(ApiError::ConnectFailed(format!(
                    "connect() to {target} timed out after {:.1} s: no answer; is the address right?",
                    timeout.as_secs_f64()
                )))
            }
        }
    }
    connected.ok_or_else(|| {
        last_err.unwrap_or_else(|| ApiError::ConnectFailed("no address to connect to".into()))
    })
}

/// One connection's task: reads, reacts, and writes what the API or the room asks.
struct ConnTask {
    engine: Arc<Engine>,
    run: Arc<Run>,
    conn: Arc<Conn>,
    room: Option<Arc<Room>>,
    server: bool,
}

impl ConnTask {
    fn new(
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
enum WriteError {
    /// The engine or connection was closed while it waited.
    Closed(Cow<'static, str>),
    /// The socket call failed.
    Failed(Cow<'static, str>),
}

/// Whether the connection goes on after a step.
enum Flow {
    Go,
    Close(Cow<'static, str>),
}

fn describe_io(call: &str, e: &std::io::Error) -> Cow<'static, str> {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionReset => "connection reset by peer".into(),
        BrokenPipe => format!("{call} failed: broken pipe (the peer has closed)").into(),
        ConnectionAborted => "connection aborted".into(),
        _ => format!("{call} failed: {e}").into(),
    }
}

impl ConnTask {
    fn draft(&self, kind: EventKind, call: Call) -> Draft<'_> {
        Draft::new(kind, call).conn(self.conn.num)
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
    async fn write(&self, wr: &mut OwnedWriteHalf, data: &[u8]) -> Result<(), WriteError> {
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
    fn record_send(&self, data: &[u8], written: Result<(), WriteError>) -> Flow {
        match written {
            Ok(()) => {
                self.engine.stats.sent(data.len());
                self.conn
                    .bytes_out
                    .fetch_add(data.len() as u64, std::sync::atomic::Ordering::Relaxed);
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

    /// Writes all of `data` and records it.
    async fn send(&self, wr: &mut OwnedWriteHalf, data: &[u8]) -> Flow {
        let written = self.write(wr, data).await;
        self.record_send(data, written)
    }

    fn cancel_reason(&self) -> Cow<'static, str> {
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
        let ConnCmd::Send {
            data,
            shutdown_write,
            reply,
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
        let spec = &self.engine.spec;
        let greeting = spec.options.greeting.as_deref().unwrap_or("");
        let response = spec
            .behavior
            .respond(&spec.compiled_rules, data, greeting, self.conn.peer);
        let say = |msgs: &[&[u8]]| {
            if let Some(room) = &self.room {
                for m in msgs {
                    self.report_dropped(room.say(self.conn.num, m));
                }
            }
        };
        let Some(reply) = response.reply.filter(|r| !r.is_empty()) else {
            received();
            say(&response.broadcast);
            return Flow::Go;
        };
        // Answer first, then record both calls (in the order they happened): watching the
        // traffic must not sit between a request and its reply.
        let written = self.write(wr, &reply).await;
        received();
        let flow = self.record_send(&reply, written);
        say(&response.broadcast);
        flow
    }

    /// Runs the connection to its end and returns why it ended.
    async fn run(self, stream: TcpStream, mut rx: mpsc::Receiver<ConnCmd>) -> String {
        let (mut rd, mut wr) = stream.into_split();
        let mut buf = vec![0u8; self.engine.spec.options.recv_size];
        if let Some(room) = &self.room {
            self.report_dropped(room.join(
                self.conn.num,
                self.conn.id.clone(),
                self.conn.peer,
                self.conn.tx.clone(),
            ));
        }
        let greeting = self.engine.spec.options.greeting.as_deref().unwrap_or("");
        let mut flow = Flow::Go;
        if self.server
            && let Some(hello) = self.engine.spec.behavior.on_accept(greeting)
        {
            flow = self.send(&mut wr, &hello).await;
            if let Flow::Go = flow {
                flow = Flow::Close(
                    format!(
                        "closed by the server after sending ({} behavior)",
                        self.engine.spec.behavior.name()
                    )
                    .into(),
                );
            }
        }
        // One close future for the whole loop, not a new registration per recv().
        let mut closed = std::pin::pin!(self.conn.close.cancelled());
        let reason = loop {
            if let Flow::Close(reason) = flow {
                break reason;
            }
            flow = tokio::select! {
                biased;
                _ = &mut closed => Flow::Close(self.cancel_reason()),
                Some(cmd) = rx.recv() => self.on_command(&mut wr, cmd).await,
                r = rd.read(&mut buf) => match r {
                    Ok(0) => Flow::Close("peer closed the connection (recv() returned 0 bytes)".into()),
                    Ok(n) => {
                        let f = self.on_data(&mut wr, &buf[..n]).await;
                        // Over the workspace's byte budget: read again only when it allows,
                        // so TCP's flow control slows this sender, and nobody else.
                        match (f, self.engine.env.pace(n)) {
                            (Flow::Go, Some(wait)) => tokio::select! {
                                biased;
                                _ = &mut closed => Flow::Close(self.cancel_reason()),
                                _ = tokio::time::sleep(wait) => Flow::Go,
                            },
                            (f, _) => f,
                        }
                    }
                    Err(e) => Flow::Close(describe_io("recv()", &e)),
                },
            };
        };
        if let Some(room) = &self.room {
            self.report_dropped(room.leave(self.conn.num));
        }
        drop(rd);
        drop(wr);
        self.engine.remove_conn(&self.run, &self.conn);
        self.engine
            .emit(self.draft(EventKind::Closed, Call::Close).message(&reason));
        reason.into_owned()
    }
}
