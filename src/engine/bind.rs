//! Where an engine binds on each start, and what a failed `bind()` tells the student.

use std::net::SocketAddr;

use super::Engine;
use crate::error::{ApiError, ErrorKind};

/// Describes a failed `bind()` so a student knows what to do.
pub(super) fn bind_error(addr: SocketAddr, e: &std::io::Error) -> ApiError {
    use std::io::ErrorKind::*;
    match e.kind() {
        AddrInUse => ApiError::address_in_use(format!(
            "{addr} is already in use (another program or engine is bound there); pick another \
             port, or use port 0 to let the OS choose a free one"
        )),
        AddrNotAvailable => ApiError::invalid_address(format!(
            "cannot bind {addr}: this machine has no such address; use 127.0.0.1 or [::1]"
        )),
        PermissionDenied => ApiError::forbidden(format!(
            "binding {addr} needs privileges socketlab does not have; use a port of 1024 or more"
        )),
        _ => ApiError::invalid_address(format!("cannot bind {addr}: {e}")),
    }
}

impl Engine {
    /// Where to bind on this start: the port bound last time first, when the spec said port
    /// 0, so restarting a server keeps the address its clients know; then the spec's address,
    /// or, in a workspace with a port block, each port of the block in turn for port 0.
    pub(super) fn bind_plan(&self) -> Vec<SocketAddr> {
        let mut plan = Vec::new();
        let spec_addr = self.bind_addrs.first().copied();
        if let (Some(spec), Some(last)) = (spec_addr, self.last_local())
            && spec.port() == 0
            && spec.ip() == last.ip()
            // Only where the policy allows now: a restart with other --ports, or a file
            // edited by hand, must not bring a server back outside its block.
            && self.env.config.policy.check("bind", last).is_ok()
        {
            plan.push(last);
        }
        match (spec_addr, self.env.config.policy.port_block) {
            (Some(spec), Some((lo, hi))) if spec.port() == 0 => {
                plan.extend((lo..=hi).map(|p| SocketAddr::new(spec.ip(), p)));
            }
            _ => plan.extend(spec_addr),
        }
        plan
    }

    /// The error for a start that could bind none of its plan: the last error, or, when port
    /// 0 was to pick inside a port block, that the block is full.
    pub(super) fn no_bind(&self, last: Option<ApiError>) -> ApiError {
        let picked = self.bind_addrs.first().is_some_and(|a| a.port() == 0);
        match (self.env.config.policy.port_block, last) {
            (Some((lo, hi)), Some(e)) if picked && e.kind() == ErrorKind::AddressInUse => {
                ApiError::address_in_use(format!(
                    "every port of your workspace's ports {lo}-{hi} is in use; stop or delete an \
                     engine you no longer need, then try again"
                ))
            }
            (_, Some(e)) => e,
            (_, None) => {
                ApiError::invalid_address("no address to bind; give bind as host:port".into())
            }
        }
    }

    /// Whether this engine's addresses were resolved (false for one marked failed on load).
    pub(super) fn addresses_known(&self) -> bool {
        !(self.kind.is_server() && self.bind_addrs.is_empty()
            || !self.kind.is_server() && self.target_addrs.is_empty())
    }
}
