//! UDP engines: one datagram socket, `recvfrom()` and `sendto()`, no connections. A server
//! answers each datagram with its behavior; a client sends to its target by default.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::udp_send::{Via, record_sendto, sendto};
use super::{Engine, Kind, Run, Starting, UdpCmd, bind_error, pool};
use crate::addr::loopback_like;
use crate::error::ApiError;
use crate::event::{Call, Draft, EventKind, NewSocket};

/// Enough for any datagram, so a `recv_size` smaller than a datagram can be shown for what
/// it is: the rest of the datagram discarded, as the OS does.
pub(super) const DATAGRAM_MAX: usize = 65_536;
/// Datagrams read in a row with `try_recv_from` before the loop looks at stop and commands
/// again.
const STREAK: u32 = 64;

/// Binds the socket, then runs the datagram loop in the background.
pub(super) async fn start(engine: &Arc<Engine>, starting: Starting) -> Result<Arc<Run>, ApiError> {
    let mut plan = engine.bind_plan();
    // A client with no bind, aimed off this host: connected to its target, so it receives
    // from nothing else.
    let mut connect_to = None;
    if plan.is_empty() {
        let target = engine
            .target_addrs
            .first()
            .copied()
            .ok_or_else(|| ApiError::internal("udp client without target".into()))?;
        let route = if target.ip().is_loopback() {
            None
        } else {
            connect_to = Some(target);
            route_source(target).await
        };
        plan.push(client_bind(target, route, &engine.env.config.policy)?);
    }
    let mut last_err = None;
    let mut sock = None;
    for addr in plan {
        match UdpSocket::bind(addr).await {
            Ok(s) => {
                sock = Some(s);
                break;
            }
            Err(e) => last_err = Some(bind_error(addr, &e)),
        }
    }
    let Some(sock) = sock else {
        return Err(engine.no_bind(last_err));
    };
    if let Some(t) = connect_to {
        sock.connect(t)
            .await
            .map_err(|e| ApiError::connect_failed(format!("connect() to {t}: {e}")))?;
    }
    let local = sock
        .local_addr()
        .map_err(|e| ApiError::internal(format!("local_addr: {e}")))?;
    let peer = (engine.kind == Kind::UdpClient)
        .then(|| engine.target_addrs.first().copied())
        .flatten();
    let (tx, rx) = mpsc::channel(64);
    let mut run = starting.run(local, peer);
    run.udp = Some(tx);
    let run = Arc::new(run);
    engine.emit(NewSocket::new(local, false).draft());
    engine.emit(Draft::new(EventKind::Bound, Call::Bind).local(local));
    run.tracker.spawn(datagram_loop(
        engine.clone(),
        run.clone(),
        Arc::new(sock),
        rx,
    ));
    Ok(run)
}

/// Where a socket to `target` would leave from, by the host's routes: an unbound socket
/// connected to it (a UDP connect sends nothing) says. `None` if there is no route.
pub(super) async fn route_source(target: SocketAddr) -> Option<IpAddr> {
    let any: SocketAddr = if target.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let probe = UdpSocket::bind(any).await.ok()?;
    probe.connect(target).await.ok()?;
    probe.local_addr().ok().map(|a| a.ip())
}

/// Where a UDP socket with no `bind` of its own binds, to reach `target`: loopback for a
/// loopback target; else the address the route to it leaves from (`route`), which
/// `--allow-bind` must allow. Never every interface (`0.0.0.0`, `::`): such a socket would
/// answer the whole network, outside the student's block and the address policy.
pub(super) fn client_bind(
    target: SocketAddr,
    route: Option<IpAddr>,
    policy: &crate::config::Policy,
) -> Result<SocketAddr, ApiError> {
    if target.ip().is_loopback() {
        return Ok(SocketAddr::new(loopback_like(&target), 0));
    }
    let Some(src) = route.filter(|ip| !ip.is_unspecified()) else {
        return Err(ApiError::connect_failed(format!(
            "no route to {target} from this host"
        )));
    };
    let bind = SocketAddr::new(src, 0);
    policy.check("bind", bind).map_err(|e| {
        ApiError::forbidden(format!(
            "{e} (a client with no bind would send from {src}, the address the route to {target} leaves from; give bind, or start socketlab with --allow-bind {src})"
        ))
    })?;
    Ok(bind)
}

async fn datagram_loop(
    engine: Arc<Engine>,
    run: Arc<Run>,
    sock: Arc<UdpSocket>,
    mut rx: mpsc::Receiver<UdpCmd>,
) {
    let local = run.local;
    let spec = run.spec.clone();
    let recv_size = spec.options.recv_size;
    let greeting = spec.options.greeting.clone().unwrap_or_default();
    let limit = engine
        .env
        .config
        .limits
        .max_message
        .min(crate::config::MAX_UDP_PAYLOAD);
    let policy = &engine.env.config.policy;
    let mut buf = vec![0u8; DATAGRAM_MAX];
    // One stop future for the whole loop, not a new registration per datagram.
    let mut stopped = std::pin::pin!(run.cancel.cancelled());
    // Datagrams read in a row without going back through the select: while the socket has
    // more queued, each is one recvfrom() and no future, as a one-task echo reads them.
    let mut streak = 0u32;
    loop {
        let ready = if streak > 0 && streak < STREAK {
            match sock.try_recv_from(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
                r => Some(r),
            }
        } else {
            None
        };
        let r = match ready {
            Some(r) => r,
            None => {
                streak = 0;
                tokio::select! {
                    biased;
                    _ = &mut stopped => break,
                    Some(cmd) = rx.recv() => {
                        let r = sendto(&engine, &run, &sock, local, &cmd.data, cmd.to, Via::default()).await;
                        let _ = cmd.reply.send(r);
                        continue;
                    }
                    r = sock.recv_from(&mut buf) => r,
                }
            }
        };
        streak += 1;
        match r {
            Ok((n, from)) => {
                let got = n.min(recv_size);
                let data = &buf[..got];
                engine.stats.received(got);
                let note = (got < n).then(|| format!(
                        "datagram of {n} bytes; recvfrom({recv_size}) kept the first {got}, the rest is discarded"
                    ));
                let at = Draft::new(EventKind::Error, Call::SendTo)
                    .local(local)
                    .peer(from);
                let response = if spec.compiled_rules.has_regex() {
                    tokio::select! {
                        biased;
                        _ = &mut stopped => break,
                        r = pool::respond(&engine, &spec, data, from, limit, at) => r,
                    }
                } else {
                    spec.behavior
                        .respond(&spec.compiled_rules, data, &greeting, from, limit)
                };
                // A source outside --allow-target (perhaps spoofed) gets no more than it
                // sent: socketlab must never be an amplifier aimed at someone else.
                let outsider = !policy.target_allowed(from.ip());
                let (reply, refused) = match response.reply.as_deref() {
                    Some(r) if outsider && r.len() > n => (None, Some(r.len())),
                    // An empty datagram's echo is an empty datagram (RFC 862); an empty
                    // reply to anything else is no reply.
                    r => (r.filter(|r| !r.is_empty() || n == 0), None),
                };
                // Unimpaired, answer first, then record both calls: watching must not delay
                // the reply. Impaired, the reply's fate has its own events, after the recv.
                let straight = !run.is_impaired();
                let answered = match reply {
                    Some(r) if straight => Some(match sock.try_send_to(r, from) {
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            sock.send_to(r, from).await
                        }
                        sent => sent,
                    }),
                    _ => None,
                };
                let mut d = Draft::new(EventKind::Received, Call::RecvFrom)
                    .local(local)
                    .peer(from)
                    .data(data);
                if let Some(note) = &note {
                    d = d.message(note);
                }
                engine.emit(d);
                match (reply, answered) {
                    (Some(r), Some(result)) => {
                        let _ = record_sendto(&engine, local, r, from, result);
                    }
                    (Some(r), None) => {
                        let leg = Via {
                            once: outsider,
                            ..Via::default()
                        };
                        let _ = sendto(&engine, &run, &sock, local, r, from, leg).await;
                    }
                    _ => {}
                }
                pool::report(&engine, &response, limit, at);
                if let Some(len) = refused {
                    let msg = format!(
                        "not answered: the reply would be {len} bytes to a datagram of {n} from {from}, which is outside --allow-target; socketlab answers such addresses with no more than they sent, so no one can aim it at someone else"
                    );
                    engine.emit(at.message(&msg));
                }
                // Over the workspace's byte budget: the next recvfrom() waits, and the
                // socket's own buffer takes (or, when full, drops) what arrives meanwhile.
                if let Some(wait) = engine.env.pace(n) {
                    tokio::select! {
                        biased;
                        _ = &mut stopped => break,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
            Err(e) => {
                // E.g. an ICMP port-unreachable reported on the socket: show it, go on.
                let msg = format!("recvfrom() failed: {e}");
                engine.emit(
                    Draft::new(EventKind::Error, Call::RecvFrom)
                        .local(local)
                        .message(&msg),
                );
                streak = 0;
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tokio::time::sleep(Duration::from_millis(10)) => {}
                }
            }
        }
    }
    drop(sock);
    run.settle(&engine).await;
    engine.end_run(&run, "socket closed");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Policy;

    #[test]
    fn a_client_with_no_bind_never_binds_every_interface() {
        // Addresses from the documentation ranges: nothing here is ever sent to.
        let policy = Policy::default();
        let lo: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        assert_eq!(
            client_bind(lo, None, &policy).unwrap(),
            "127.0.0.1:0".parse().unwrap()
        );
        let lo6: SocketAddr = "[::1]:5000".parse().unwrap();
        assert_eq!(
            client_bind(lo6, None, &policy).unwrap(),
            "[::1]:0".parse().unwrap()
        );
        let far: SocketAddr = "192.0.2.7:5000".parse().unwrap();
        let route = Some("198.51.100.2".parse().unwrap());
        // The route's address is outside the default --allow-bind (loopback): refused.
        let e = client_bind(far, route, &policy).unwrap_err();
        assert!(
            e.kind() == crate::error::ErrorKind::Forbidden
                && e.message().contains("--allow-bind 198.51.100.2"),
            "{e:?}"
        );
        // Allowed, it binds that address alone, never 0.0.0.0.
        let wide = Policy {
            allow_bind: vec!["198.51.100.0/24".parse().unwrap()],
            ..Policy::default()
        };
        assert_eq!(
            client_bind(far, route, &wide).unwrap(),
            "198.51.100.2:0".parse().unwrap()
        );
        // No route, or one that says every interface: no bind at all.
        assert!(client_bind(far, None, &wide).is_err());
        assert!(client_bind(far, Some("0.0.0.0".parse().unwrap()), &wide).is_err());
    }
}
