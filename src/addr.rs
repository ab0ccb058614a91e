//! Parsing and resolving the `host:port` strings users type, with errors that say how to
//! write them instead.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::config::Policy;
use crate::error::ApiError;

/// A `host:port` split into its parts; `host` is unbracketed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// An IP literal or a name.
    pub host: String,
    /// 0-65535.
    pub port: u16,
}

/// Splits `host:port`, `[v6]:port` or `name:port`. `field` names the spec field for messages.
pub fn parse_host_port(field: &str, s: &str) -> Result<HostPort, ApiError> {
    let bad = |why: String| ApiError::invalid_address(format!("{field} \"{s}\": {why}")).at(field);
    let s_trim = s.trim();
    if s_trim.is_empty() {
        return Err(bad("empty; write host:port, e.g. 127.0.0.1:12345".into()));
    }
    let (host, port) = if let Some(rest) = s_trim.strip_prefix('[') {
        let Some((h, after)) = rest.split_once(']') else {
            return Err(bad(
                "missing ']' after the IPv6 address; write e.g. [::1]:12345".into(),
            ));
        };
        let Some(port) = after.strip_prefix(':') else {
            return Err(bad(if field == "bind" {
                format!("missing port; write e.g. [{h}]:12345, or port 0 for any free port")
            } else {
                format!("missing port; write e.g. [{h}]:12345")
            }));
        };
        if h.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad(format!("\"{h}\" is not an IPv6 address")));
        }
        (h, port)
    } else {
        let Some((h, port)) = s_trim.rsplit_once(':') else {
            return Err(bad(if field == "bind" {
                format!("missing port; write e.g. {s_trim}:12345, or {s_trim}:0 for any free port")
            } else {
                format!("missing port; write e.g. {s_trim}:12345 (the port the server listens on)")
            }));
        };
        if h.contains(':') {
            return Err(bad(
                "write IPv6 addresses in brackets, e.g. [::1]:12345".into()
            ));
        }
        (h, port)
    };
    if host.is_empty() {
        return Err(bad(format!(
            "missing host; write e.g. 127.0.0.1:{port} (socketlab binds loopback addresses)"
        )));
    }
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(format!(
            "port \"{port}\" is not a number; ports are 0-65535"
        )));
    }
    let port: u16 = match port.trim_start_matches('0') {
        "" => 0,
        digits if digits.len() <= 5 => digits
            .parse()
            .map_err(|_| bad(format!("port {port} is out of range 0-65535")))?,
        _ => return Err(bad(format!("port {port} is out of range 0-65535"))),
    };
    if host.parse::<IpAddr>().is_err() {
        check_host_name(host).map_err(bad)?;
    }
    Ok(HostPort {
        host: host.to_string(),
        port,
    })
}

/// Refuses names that are not plain DNS names, and numeric forms the resolver would read in
/// surprising ways (octal `0177.0.0.1`, a bare `2130706433`, `10.0.2.555`).
fn check_host_name(host: &str) -> Result<(), String> {
    let numeric_like = host.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        || host.split('.').all(|l| {
            l.starts_with("0x") || l.starts_with("0X") || l.bytes().all(|b| b.is_ascii_digit())
        });
    if numeric_like {
        return Err(format!(
            "\"{host}\" is not a valid IPv4 address; write four decimal numbers 0-255 without \
             leading zeros, e.g. 127.0.0.1"
        ));
    }
    let ok = host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if !ok {
        return Err(format!(
            "\"{host}\" is neither an IP address nor a host name; try 127.0.0.1, [::1] or localhost"
        ));
    }
    Ok(())
}

/// Resolves a parsed address once and checks every result against the policy; the checked
/// addresses are the ones to use (no second lookup between check and use).
pub async fn resolve(
    field: &str,
    hp: &HostPort,
    policy: &Policy,
) -> Result<Vec<SocketAddr>, ApiError> {
    let addrs: Vec<SocketAddr> = if let Ok(ip) = hp.host.parse::<IpAddr>() {
        vec![SocketAddr::new(ip, hp.port)]
    } else {
        let lookup = tokio::net::lookup_host((hp.host.as_str(), hp.port));
        match tokio::time::timeout(Duration::from_secs(3), lookup).await {
            Ok(Ok(it)) => {
                let mut v: Vec<SocketAddr> = it.collect();
                // IPv4 first: what users of the lecture's examples expect `localhost` to be.
                v.sort_by_key(|a| !a.is_ipv4());
                v.dedup();
                v
            }
            Ok(Err(e)) => {
                return Err(ApiError::invalid_address(format!(
                    "{field}: cannot resolve \"{}\" ({e}); try 127.0.0.1 or localhost",
                    hp.host
                ))
                .at(field));
            }
            Err(_) => {
                return Err(ApiError::invalid_address(format!(
                    "{field}: resolving \"{}\" timed out; use an IP address such as 127.0.0.1",
                    hp.host
                ))
                .at(field));
            }
        }
    };
    if addrs.is_empty() {
        return Err(ApiError::invalid_address(format!(
            "{field}: \"{}\" resolves to no address; try 127.0.0.1",
            hp.host
        ))
        .at(field));
    }
    for a in &addrs {
        policy
            .check(field, *a)
            .map_err(|m| ApiError::forbidden(m).at(field))?;
    }
    Ok(addrs)
}

/// The loopback address of the same IP version as `target`, for a client that gave no bind.
pub fn loopback_like(target: &SocketAddr) -> IpAddr {
    match target {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        SocketAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> (String, u16) {
        let hp = parse_host_port("bind", s).unwrap();
        (hp.host, hp.port)
    }

    fn err(s: &str) -> String {
        match parse_host_port("bind", s) {
            Err(e) if e.kind() == crate::error::ErrorKind::InvalidAddress => {
                e.message().to_string()
            }
            other => panic!("{s}: expected invalid_address, got {other:?}"),
        }
    }

    #[test]
    fn accepts_the_usual_forms() {
        assert_eq!(ok("127.0.0.1:12345"), ("127.0.0.1".into(), 12345));
        assert_eq!(ok("[::1]:0"), ("::1".into(), 0));
        assert_eq!(ok("localhost:8080"), ("localhost".into(), 8080));
        assert_eq!(ok("127.0.0.1:065535"), ("127.0.0.1".into(), 65535));
        assert_eq!(ok(" 127.0.0.1:00 "), ("127.0.0.1".into(), 0));
    }

    #[test]
    fn says_what_is_wrong() {
        assert!(err("127.0.0.1:65536").contains("out of range 0-65535"));
        assert!(err("127.0.0.1:99999999999999").contains("out of range"));
        assert!(err("127.0.0.1").contains("missing port"));
        assert!(err("::1:80").contains("brackets"));
        assert!(err("[::1]").contains("missing port"));
        assert!(err("[nope]:1").contains("not an IPv6"));
        assert!(err(":80").contains("missing host"));
        assert!(err("127.0.0.1:http").contains("not a number"));
        assert!(err("127.0.0.1:-1").contains("not a number"));
        assert!(err("").contains("empty"));
        assert!(err("0177.0.0.1:80").contains("not a valid IPv4"));
        assert!(err("2130706433:80").contains("not a valid IPv4"));
        assert!(err("10.0.2.555:80").contains("not a valid IPv4"));
        assert!(err("0x7f.1:80").contains("not a valid IPv4"));
        assert!(err("bad host!:80").contains("neither an IP"));
    }
}
