//! TCP engines: a server's accept loop and a client's connect; the connection task both
//! share is in [`conn`], file transfers over a connection in [`file`]. Socket I/O only; what
//! to reply comes from `behavior`.

mod bell;
mod conn_task;
mod file;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::behavior::Behavior;
use super::chat::Room;
use super::{Conn, ConnCmd, Engine, Run, Starting, bind_error};
use crate::error::ApiError;
use crate::event::{Call, Draft, EventKind, NewSocket};
use crate::ids::Leg;
use conn_task::ConnTask;

fn new_socket(addr: &SocketAddr) -> std::io::Result<TcpSocket> {
    if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
}

pub(super) fn listen(addr: SocketAddr, backlog: u32) -> Result<TcpListener, ApiError> {
    let sock = new_socket(&addr).map_err(|e| bind_error(addr, &e))?;
    // SO_REUSEADDR lets a stopped server's port be bound again at once even while its old
    // connections sit in TIME_WAIT; it never lets two listeners share a port on Linux.
    sock.set_reuseaddr(true).map_err(|e| bind_error(addr, &e))?;
    sock.bind(addr).map_err(|e| bind_error(addr, &e))?;
    sock.listen(backlog).map_err(|e| bind_error(addr, &e))
}

/// Binds and listens on the first address of the engine's bind plan that works.
/// Reads what a connection's peer sent. In a workspace with a byte rate, once data is there
/// the read first waits until the workspace's budget (whichever of its readers spent it) is
/// back within its burst, then reads and pays: a reader that read first and waited after
/// let every new connection read a `recv_size` unpaid, and opening connection after
/// connection went round the limit. The check, the read and the payment run without a pause
/// between them when data is there, so readers woken together go one at a time. Without a
/// rate, a plain `recv()`. Cancel-safe, as a read is.
pub(in crate::engine) async fn paid_read(
    engine: &Engine,
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    use tokio::io::AsyncReadExt;
    let Some(t) = engine.env.throttle.as_ref() else {
        return rd.read(buf).await;
    };
    rd.readable().await?;
    while let Some(wait) = t.owed() {
        tokio::time::sleep(wait).await;
    }
    let n = rd.read(buf).await?;
    let _ = t.take(n);
    Ok(n)
}

pub(in crate::engine) fn bind_listener(
    engine: &Engine,
    backlog: u32,
) -> Result<(TcpListener, SocketAddr), ApiError> {
    let mut last_err = None;
    for addr in engine.bind_plan() {
        match listen(addr, backlog) {
            Ok(l) => {
                let local = l
                    .local_addr()
                    .map_err(|e| ApiError::internal(format!("local_addr: {e}")))?;
                return Ok((l, local));
            }
            Err(e) => last_err = Some(e),
        }
    }
    Err(engine.no_bind(last_err))
}

/// Binds and listens, then runs the accept loop in the background.
pub(super) async fn start_server(
    engine: &Arc<Engine>,
    starting: Starting,
) -> Result<Arc<Run>, ApiError> {
    let backlog = starting.spec.options.backlog.unwrap_or(5);
    let (listener, local) = bind_listener(engine, backlog)?;
    let run = Arc::new(starting.run(local, None));
    engine.emit(NewSocket::new(local, true).draft());
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
    let room = (run.spec.behavior == Behavior::Chat).then(|| Arc::new(Room::new()));
    let (e, r) = (engine.clone(), run.clone());
    accept_each(&engine, &run, listener, None, move |conn, rx, stream| {
        e.emit(Draft::new(EventKind::Accepted, Call::Accept).conn(conn.id));
        ConnTask::new(e.clone(), r.clone(), conn, room.clone(), true).run(stream, rx)
    })
    .await;
}

/// The accept loop of a server or proxy: each connection let in (within `max_clients` and
/// the workspace's budget) is registered and handed to `admit`, whose task runs until the
/// engine stops; one over the limits is accepted and closed at once with an event saying
/// why. `leg` marks the events of a proxy's client side.
pub(in crate::engine) async fn accept_each<T>(
    engine: &Arc<Engine>,
    run: &Arc<Run>,
    listener: TcpListener,
    leg: Option<Leg>,
    mut admit: impl FnMut(Arc<Conn>, mpsc::Receiver<ConnCmd>, TcpStream) -> T,
) where
    T: std::future::Future + Send + 'static,
    T::Output: Send + 'static,
{
    let marked = |d: Draft<'static>| match leg {
        Some(x) => d.leg(x),
        None => d,
    };
    let conns = TaskTracker::new();
    let limit = engine.env.config.limits.max_connections;
    let max = run.spec.options.max_clients.unwrap_or(limit).min(limit);
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
                let over_engine = run.live().conns.len() >= max;
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
                        marked(Draft::new(EventKind::Refused, Call::Accept))
                            .local(local)
                            .peer(peer)
                            .message(&msg),
                    );
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let (conn, rx) = engine.add_conn(run, peer, local);
                conns.spawn(admit(conn, rx, stream));
            }
            Err(e) => {
                let msg = format!("accept() failed: {e}");
                engine.emit(
                    marked(Draft::new(EventKind::Error, Call::Accept))
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
    engine.end_run(run, "listening socket closed");
}

pub(super) fn connect_error(addr: SocketAddr, e: &std::io::Error) -> ApiError {
    use std::io::ErrorKind::*;
    ApiError::connect_failed(match e.kind() {
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
    starting: Starting,
) -> Result<Arc<Run>, ApiError> {
    if !engine.env.take_conn_place() {
        return Err(ApiError::limit_reached(engine.env.conn_budget_message()));
    }
    let connected = connect(engine, &starting.cancel).await;
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
            return Err(ApiError::internal(format!("local_addr: {e}")));
        }
    };
    let run = Arc::new(starting.run(local, Some(peer)));
    let (conn, rx) = engine.add_conn(&run, peer, local);
    let msg = format!("connected from ephemeral port {}", local.port());
    // The socket is made before connect(); its event waits for the connection number.
    engine.emit(NewSocket::new(local, true).draft().conn(conn.id));
    engine.emit(
        Draft::new(EventKind::Connected, Call::Connect)
            .conn(conn.id)
            .local(local)
            .peer(peer)
            .message(&msg),
    );
    let task = ConnTask::new(engine.clone(), run.clone(), conn, None, false);
    let engine = engine.clone();
    let run2 = run.clone();
    run.tracker.spawn(async move {
        let reason = task.run(stream, rx).await;
        engine.end_run(&run2, &reason);
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
        return Err(ApiError::invalid_address(
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
            _ = cancel.cancelled() => return Err(ApiError::not_running("socketlab is shutting down".into())),
            r = tokio::time::timeout(timeout, sock.connect(target)) => r,
        };
        match attempt {
            Ok(Ok(stream)) => {
                connected = Some((stream, target));
                break;
            }
            Ok(Err(e)) => last_err = Some(connect_error(target, &e)),
            Err(_) => {
                last_err = Some(ApiError::connect_failed(format!(
                    "connect() to {target} timed out after {:.1} s: no answer; is the address right?",
                    timeout.as_secs_f64()
                )))
            }
        }
    }
    connected.ok_or_else(|| {
        last_err.unwrap_or_else(|| ApiError::connect_failed("no address to connect to".into()))
    })
}
