//! Run-time settings: where the dashboard listens, the limits from API.md, and the address
//! policy engines must stay inside.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Limits from API.md's Limits table; each is a command-line flag.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Engines that may exist at once (`409 limit_reached` past it).
    pub max_engines: usize,
    /// Open connections per server engine, unless its `max_clients` is lower.
    pub max_connections: usize,
    /// Bytes in one TCP send (`413 too_large` past it).
    pub max_message: usize,
    /// WebSocket viewers at once (`409 limit_reached` past it).
    pub max_viewers: usize,
    /// Events kept in the history ring for replay.
    pub history: usize,
    /// Bytes of data carried in one event; the rest is cut and `truncated` set.
    pub preview: usize,
    /// How long a client's `connect()` may take.
    pub connect_timeout: Duration,
    /// Events a live viewer may fall behind before it is told it lagged.
    pub viewer_buffer: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_engines: 64,
            max_connections: 1024,
            max_message: 1024 * 1024,
            max_viewers: 64,
            history: 10_000,
            preview: 4096,
            connect_timeout: Duration::from_secs(5),
            viewer_buffer: 4096,
        }
    }
}

/// The largest payload of one UDP datagram over IPv4 (65535 - 8 - 20).
pub const MAX_UDP_PAYLOAD: usize = 65_507;

/// Where engines may bind and send. The default is loopback only: socketlab is a teaching
/// tool, and a page in a browser must not be able to turn it into a scanner of the LAN.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Ports below 1024 that are allowed anyway (`--allow-port`).
    pub allowed_ports: Vec<u16>,
    /// The dashboard's own port, refused for engines so a user cannot shadow or loop it.
    pub dashboard_port: Option<u16>,
}

impl Policy {
    /// Whether `ip` may be bound to or targeted. Only loopback, so far.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => v4.is_loopback(),
            IpAddr::V6(v6) => {
                v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        }
    }

    /// Checks one resolved address; `what` is "bind" or "target" for the message.
    pub fn check(&self, what: &str, addr: SocketAddr) -> Result<(), String> {
        if !self.allows_ip(addr.ip()) {
            return Err(format!(
                "{what}: address {addr} is not allowed: socketlab only uses loopback addresses \
                 (127.0.0.0/8 and ::1), try 127.0.0.1:{}",
                addr.port()
            ));
        }
        let port = addr.port();
        if port != 0 && port < 1024 && !self.allowed_ports.contains(&port) {
            return Err(format!(
                "{what}: port {port} is a privileged (well-known) port and is refused by default; \
                 use a port of 1024 or more (e.g. 12345), or 0 to let the OS pick (--allow-port {port} allows it)"
            ));
        }
        if Some(port) == self.dashboard_port && !self.allowed_ports.contains(&port) {
            return Err(format!(
                "{what}: port {port} is the dashboard's own port; pick another port, or 0 to let the OS pick"
            ));
        }
        Ok(())
    }
}

/// Everything the server needs to run.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Limits from API.md.
    pub limits: Limits,
    /// The address policy for engines.
    pub policy: Policy,
}
