//! Run-time settings: where the dashboard listens, the limits from API.md, and the address
//! policy engines must stay inside.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
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
    /// Events kept in the capture ring for replay.
    pub history: usize,
    /// Bytes of data carried in one event; the rest is cut and `truncated` set.
    pub preview: usize,
    /// How long a client's `connect()` may take.
    pub connect_timeout: Duration,
    /// Events a live viewer may fall behind before it is told it lagged.
    pub viewer_buffer: usize,
    /// Bytes of records kept in the capture ring; the oldest events go first past it, so a
    /// flood of large binary previews cannot grow memory beyond this.
    pub history_bytes: usize,
    /// How long a viewer's socket may take no bytes before the viewer is closed.
    pub viewer_stall: Duration,
    /// The most bytes one file may have (an upload, or one an engine receives).
    pub max_file: u64,
    /// Files one workspace may keep (`--ws-max-files`).
    pub max_files: usize,
    /// Bytes personal mode's and the instructor's files may take together (`--files-bytes`;
    /// a student's are `ClassConfig::ws_files_bytes`).
    pub files_bytes: u64,
    /// Watch links' WebSocket streams per workspace (`--max-watchers`), counted apart from
    /// the owner's `max_viewers` so watchers never take the owner's place.
    pub max_watchers: usize,
    /// Connections to the dashboard itself at once (`--max-http-connections`), further capped
    /// at start to half the open-file limit.
    pub max_http_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_engines: 64,
            max_connections: 1024,
            max_message: 1024 * 1024,
            max_viewers: 64,
            history: 2_000_000,
            preview: 4096,
            connect_timeout: Duration::from_secs(5),
            viewer_buffer: 2048,
            history_bytes: 160 * 1024 * 1024,
            viewer_stall: Duration::from_secs(60),
            max_file: 64 * 1024 * 1024,
            max_files: 256,
            files_bytes: 4 << 30,
            max_watchers: 64,
            max_http_connections: 1024,
        }
    }
}

/// The largest payload of one UDP datagram over IPv4 (65535 - 8 - 20).
pub const MAX_UDP_PAYLOAD: usize = 65_507;

/// An address block like `127.0.0.0/8` or `::1/128`; a bare address is a block of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is inside the block (an IPv4-mapped IPv6 address counts as its IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }

    /// The loopback blocks, socketlab's default for both binding and targets.
    pub fn loopback() -> Vec<Cidr> {
        vec![
            Cidr {
                net: IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 0)),
                prefix: 8,
            },
            Cidr {
                net: IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
                prefix: 128,
            },
        ]
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let net: IpAddr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| {
                format!("\"{s}\" is not an address block; write e.g. 127.0.0.0/8 or ::1/128")
            })?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("\"{s}\": the prefix length must be 0-{max}"))?,
        };
        Ok(Cidr { net, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

/// Where engines may bind and send. The default is loopback only: socketlab is a teaching
/// tool, and a page in a browser must not be able to turn it into a scanner of the LAN.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Blocks engines may bind in (`--allow-bind`, replacing the loopback default).
    pub allow_bind: Vec<Cidr>,
    /// Blocks engines may connect or send to (`--allow-target`, replacing the default).
    pub allow_target: Vec<Cidr>,
    /// Ports below 1024 (or the dashboard's own) that are allowed anyway (`--allow-port`).
    pub allowed_ports: Vec<u16>,
    /// The dashboard's own port, refused for engines so a user cannot shadow or loop it.
    pub dashboard_port: Option<u16>,
    /// A class workspace's ports (`LO..=HI`): binds must fall inside, and port 0 picks there.
    pub port_block: Option<(u16, u16)>,
    /// A student's (class mode): targets must be a loopback port in the class's `--ports`
    /// range, or inside an `--allow-target` the instructor gave.
    pub class_ports: Option<(u16, u16)>,
    /// Whether `allow_target` came from `--allow-target` (not the loopback default).
    pub targets_given: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            allow_bind: Cidr::loopback(),
            allow_target: Cidr::loopback(),
            allowed_ports: Vec::new(),
            dashboard_port: None,
            port_block: None,
            class_ports: None,
            targets_given: false,
        }
    }
}

impl Policy {
    /// Whether `ip` is inside `--allow-target` (a source socketlab may answer in full).
    pub fn target_allowed(&self, ip: IpAddr) -> bool {
        !ip.is_unspecified() && self.allow_target.iter().any(|c| c.contains(ip))
    }

    /// Checks one resolved address; `what` is the spec field (`bind`, `target`, `to`).
    pub fn check(&self, what: &str, addr: SocketAddr) -> Result<(), String> {
        // A student's engines reach the class's own ports on loopback and what the
        // instructor allowed, nothing else: not a loopback-only service of the host (a
        // database, another class's dashboard), which a proxy in the student's block would
        // otherwise publish.
        if what != "bind"
            && let Some((lo, hi)) = self.class_ports
        {
            let ip = addr.ip().to_canonical();
            let class_port = ip.is_loopback() && (lo..=hi).contains(&addr.port());
            let given = self.targets_given && self.target_allowed(ip);
            if !class_port && !given {
                return Err(format!(
                    "{what}: {addr} is outside this class: in class mode engines connect and \
                     send only to the class's ports {lo}-{hi} on loopback (127.0.0.1 or [::1]); \
                     the instructor can allow more with --allow-target"
                ));
            }
        }
        let (list, flag) = if what == "bind" {
            (&self.allow_bind, "--allow-bind")
        } else {
            (&self.allow_target, "--allow-target")
        };
        // An unspecified bind address (0.0.0.0, ::) means every interface, so it is allowed
        // only when every address is (a 0/0 block).
        let ip = addr.ip();
        let allowed = if ip.is_unspecified() {
            list.iter()
                .any(|c| c.prefix == 0 && c.net.is_ipv4() == ip.is_ipv4())
        } else {
            list.iter().any(|c| c.contains(ip))
        };
        if !allowed {
            let blocks = list
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(format!(
                "{what}: address {addr} is outside the allowed addresses ({blocks}); use e.g. \
                 127.0.0.1:{}, or start socketlab with {flag} to widen the list",
                addr.port()
            ));
        }
        let port = addr.port();
        if what == "bind"
            && let Some((lo, hi)) = self.port_block
            && lo > hi
        {
            return Err(
                "bind: this workspace has no ports (the server's --ports changed since it was \
                 made); ask the instructor to remove it, then join again"
                    .into(),
            );
        }
        if what == "bind"
            && port != 0
            && let Some((lo, hi)) = self.port_block
            && !(lo..=hi).contains(&port)
        {
            return Err(format!(
                "bind: port {port} is outside your workspace's ports {lo}-{hi}; pick one of \
                 those (e.g. 127.0.0.1:{lo}), or 0 to let socketlab pick a free one there"
            ));
        }
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

/// Who may use the dashboard: the Host names it answers to and the access token.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The token every `/api` and `/ws` request must carry; `None` turns the check off.
    pub token: Option<String>,
    /// Extra Host names to answer to (`--allow-host`), besides localhost, 127.0.0.1, [::1]
    /// and the listen host.
    pub allowed_hosts: Vec<String>,
}

/// Class mode (`--class`): one server, a workspace per student, each with these limits.
#[derive(Debug, Clone)]
pub struct ClassConfig {
    /// Engines one student workspace may have (`--ws-max-engines`).
    pub ws_max_engines: usize,
    /// Open connections over all of one workspace's engines (`--ws-max-connections`).
    pub ws_max_connections: usize,
    /// Bytes per second one workspace's engines may receive, together (`--ws-bytes-per-sec`).
    pub ws_bytes_per_sec: u64,
    /// Bytes of event history one student workspace keeps (`--ws-history-bytes`).
    pub ws_history_bytes: usize,
    /// Bytes one student workspace's files may take together (`--ws-files-bytes`).
    pub ws_files_bytes: u64,
    /// Requests a second one student's credentials may make, and as many again for its
    /// watchers (`--ws-requests-per-sec`); a second's worth may come at once.
    pub ws_requests_per_sec: u64,
    /// The ports cut into blocks, one block per workspace (`--ports LO-HI`).
    pub ports: (u16, u16),
    /// Ports in one block (`--ports-per-workspace`).
    pub ports_per_workspace: u16,
    /// A workspace with no request, viewer or traffic for this long has its engines stopped.
    pub idle: Duration,
    /// A student workspace idle for this long is removed.
    pub expire: Duration,
    /// Workspaces that may exist at once, the instructor's included (`--max-workspaces`).
    pub max_workspaces: usize,
    /// Wrong join codes one client address may try per minute before `429`.
    pub join_attempts_per_minute: u32,
}

impl Default for ClassConfig {
    fn default() -> Self {
        Self {
            ws_max_engines: 16,
            ws_max_connections: 256,
            ws_bytes_per_sec: 50_000_000,
            ws_history_bytes: 8 * 1024 * 1024,
            ws_files_bytes: 512 << 20,
            ws_requests_per_sec: 100,
            ports: (20_000, 29_999),
            ports_per_workspace: 100,
            idle: Duration::from_secs(2 * 3600),
            expire: Duration::from_secs(7 * 24 * 3600),
            max_workspaces: 200,
            join_attempts_per_minute: 10,
        }
    }
}

impl ClassConfig {
    /// How many port blocks `ports` holds.
    pub fn blocks(&self) -> usize {
        let span = usize::from(self.ports.1.saturating_sub(self.ports.0)) + 1;
        span / usize::from(self.ports_per_workspace.max(1))
    }

    /// Block `n` as `(LO, HI)`.
    pub fn block(&self, n: usize) -> Option<(u16, u16)> {
        if n >= self.blocks() {
            return None;
        }
        let size = self.ports_per_workspace.max(1);
        let lo = self.ports.0 + (n as u16) * size;
        Some((lo, lo + size - 1))
    }
}

/// `--public-url`: where users reach socketlab through a reverse proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    /// `http` or `https`.
    pub scheme: String,
    /// `host` or `host:port`, lower-cased, as it appears in `Host` and `Origin`.
    pub authority: String,
}

impl PublicUrl {
    /// `https://lab.example.edu`: the one allowed `Origin`, and the base of printed URLs.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }

    /// Whether cookies must carry `Secure`.
    pub fn secure(&self) -> bool {
        self.scheme == "https"
    }

    /// The host name alone, as the Host check compares it.
    pub fn host(&self) -> String {
        let a = &self.authority;
        if a.starts_with('[') {
            a.split_once(']')
                .map_or(a.clone(), |(h, _)| format!("{h}]"))
        } else {
            a.rsplit_once(':').map_or(a.clone(), |(h, _)| h.to_string())
        }
    }
}

impl std::str::FromStr for PublicUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!(
                "--public-url {s:?}: {why}; write it as https://lab.example.edu/ (the root of a host)"
            )
        };
        let (scheme, rest) = s.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(bad("the scheme must be http or https"));
        }
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() {
            return Err(bad("no host"));
        }
        if authority.contains(['/', '?', '#', '@', ' ']) {
            return Err(bad(
                "only a host (and port) is allowed: socketlab serves from the root of its own \
                 host name, so give each class its own name or port",
            ));
        }
        Ok(PublicUrl {
            scheme,
            authority: authority.to_ascii_lowercase(),
        })
    }
}

/// Everything the server needs to run.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Limits from API.md.
    pub limits: Limits,
    /// The address policy for engines.
    pub policy: Policy,
    /// Host check and access token.
    pub access: Access,
    /// Class mode, when on: workspaces for students and an instructor.
    pub class: Option<ClassConfig>,
    /// Where workspaces, their engines' specs and (later) labs and files are kept; `None`
    /// keeps nothing on disk.
    pub data_dir: Option<PathBuf>,
    /// The address users reach socketlab by, behind a reverse proxy.
    pub public_url: Option<PublicUrl>,
    /// Peers whose `X-Forwarded-For` is believed (`--trusted-proxy`; loopback when empty).
    pub trusted_proxies: Vec<Cidr>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_blocks() {
        let c: Cidr = "127.0.0.0/8".parse().unwrap();
        assert!(c.contains("127.1.2.3".parse().unwrap()));
        assert!(c.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!c.contains("128.0.0.1".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let one: Cidr = "::1".parse().unwrap();
        assert_eq!(one.to_string(), "::1/128");
        assert!("127.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nope".parse::<Cidr>().is_err());
    }

    #[test]
    fn policy_defaults_to_loopback_and_names_the_flag() {
        let p = Policy::default();
        assert!(p.check("bind", "127.0.0.1:5000".parse().unwrap()).is_ok());
        assert!(p.check("bind", "[::1]:5000".parse().unwrap()).is_ok());
        assert!(
            p.check("bind", "0.0.0.0:5000".parse().unwrap())
                .unwrap_err()
                .contains("--allow-bind")
        );
        assert!(
            p.check("target", "192.0.2.1:5000".parse().unwrap())
                .unwrap_err()
                .contains("--allow-target")
        );
        assert!(
            p.check("to", "127.0.0.1:80".parse().unwrap())
                .unwrap_err()
                .contains("--allow-port 80")
        );
        let narrow = Policy {
            allow_bind: vec!["127.0.0.2/32".parse().unwrap()],
            ..Policy::default()
        };
        assert!(
            narrow
                .check("bind", "127.0.0.1:5000".parse().unwrap())
                .is_err()
        );
        assert!(
            narrow
                .check("bind", "127.0.0.2:5000".parse().unwrap())
                .is_ok()
        );
    }
}
