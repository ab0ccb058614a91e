//! Where engines may bind and send (the address policy, in address blocks), and where users
//! reach the dashboard through a reverse proxy.

use std::net::{IpAddr, SocketAddr};

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
