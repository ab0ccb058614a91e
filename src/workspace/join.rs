//! The class code students join with, and the limit on wrong guesses of it.
//!
//! The code is short enough to read off a projector and type (`k7mp-2xqa`: 8 characters from
//! 31 that cannot be mistaken for one another, about 40 bits). What keeps it from being
//! guessed is the rate limit: after 10 wrong codes in a minute from one client address, that
//! address gets `429` for every attempt, right or wrong (otherwise a right answer would still
//! stand out). Right codes never count, so a whole class joining from one NAT address is
//! never slowed.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::error::ApiError;

/// Letters and digits without look-alikes (no 0/o, 1/l/i).
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// The window wrong attempts are counted over.
const WINDOW: Duration = Duration::from_secs(60);

/// Client addresses tracked at most; past it the oldest are forgotten first, so a flood of
/// source addresses cannot grow memory without bound.
const MAX_TRACKED: usize = 10_000;

/// A new class code, `xxxx-xxxx`.
pub fn new_code() -> Result<String, ApiError> {
    let mut raw = [0u8; 8];
    getrandom::fill(&mut raw)
        .map_err(|e| ApiError::internal(format!("the OS random source failed: {e}")))?;
    let chars: String = raw
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    Ok(format!("{}-{}", &chars[..4], &chars[4..]))
}

/// A code as typed, made comparable: lower case, without dashes or spaces.
pub fn normalize(code: &str) -> String {
    code.chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The address an attempt is counted against: an IPv6 client by its /64, which one machine
/// usually has whole.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let seg = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(
                    seg[0], seg[1], seg[2], seg[3], 0, 0, 0, 0,
                ))
            }
        },
        v4 => v4,
    }
}

/// Wrong join attempts per client address over the last minute.
#[derive(Debug)]
pub struct Attempts {
    per_minute: u32,
    seen: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl Attempts {
    /// At most `per_minute` wrong attempts a minute per address.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute: per_minute.max(1),
            seen: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, VecDeque<Instant>>> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `429` if `ip` made its allowance of wrong attempts within the last minute.
    pub fn check(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.check_at(ip, Instant::now())
    }

    fn check_at(&self, ip: IpAddr, now: Instant) -> Result<(), ApiError> {
        let mut seen = self.lock();
        let Some(times) = seen.get_mut(&bucket(ip)) else {
            return Ok(());
        };
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            times.pop_front();
        }
        if times.len() < self.per_minute as usize {
            return Ok(());
        }
        let wait = times
            .front()
            .map_or(WINDOW, |t| WINDOW.saturating_sub(now.duration_since(*t)));
        Err(ApiError::too_many_requests(
            format!(
                "too many wrong join codes from your address ({} in a minute); wait {} s, then \
                 check the code (or the whole join link) your instructor gave",
                self.per_minute,
                wait.as_secs().max(1)
            ),
            wait.as_secs().max(1),
        ))
    }

    /// Counts a wrong attempt from `ip`.
    pub fn wrong(&self, ip: IpAddr) {
        self.wrong_at(ip, Instant::now());
    }

    fn wrong_at(&self, ip: IpAddr, now: Instant) {
        let mut seen = self.lock();
        if seen.len() >= MAX_TRACKED && !seen.contains_key(&bucket(ip)) {
            seen.retain(|_, t| t.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
            if seen.len() >= MAX_TRACKED {
                // Still full of live entries: forget the one that has been quiet longest.
                if let Some(oldest) = seen
                    .iter()
                    .min_by_key(|(_, t)| t.back().copied())
                    .map(|(k, _)| *k)
                {
                    seen.remove(&oldest);
                }
            }
        }
        let times = seen.entry(bucket(ip)).or_default();
        times.push_back(now);
        while times.len() > self.per_minute as usize {
            times.pop_front();
        }
    }

    /// Forgets addresses with no wrong attempt in the last minute.
    pub fn prune(&self) {
        let now = Instant::now();
        self.lock()
            .retain(|_, t| t.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_readable_and_compare_loosely() {
        let c = new_code().unwrap();
        assert_eq!(c.len(), 9);
        assert!(
            c.chars()
                .all(|ch| ch == '-' || ALPHABET.contains(&(ch as u8))),
            "{c}"
        );
        assert_ne!(c, new_code().unwrap());
        assert_eq!(normalize(" K7MP-2xqa "), "k7mp2xqa");
    }

    #[test]
    fn ten_wrong_a_minute_then_429_until_the_window_passes() {
        let a = Attempts::new(10);
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        let other: IpAddr = "127.0.0.10".parse().unwrap();
        let t0 = Instant::now();
        for i in 0..10 {
            assert!(a.check_at(ip, t0).is_ok(), "attempt {i}");
            a.wrong_at(ip, t0);
        }
        let e = a.check_at(ip, t0 + Duration::from_secs(30)).unwrap_err();
        assert!(
            e.kind() == crate::error::ErrorKind::TooManyRequests && e.retry_after() == Some(30),
            "{e:?}"
        );
        assert!(
            a.check_at(other, t0).is_ok(),
            "another address is not affected"
        );
        assert!(a.check_at(ip, t0 + WINDOW).is_ok());
    }

    #[test]
    fn an_ipv6_client_counts_by_its_64() {
        let a = Attempts::new(2);
        let t0 = Instant::now();
        a.wrong_at("2001:db8::1".parse().unwrap(), t0);
        a.wrong_at("2001:db8::2".parse().unwrap(), t0);
        assert!(a.check_at("2001:db8::ffff".parse().unwrap(), t0).is_err());
        assert!(a.check_at("2001:db8:0:1::1".parse().unwrap(), t0).is_ok());
    }

    #[test]
    fn tracked_addresses_are_bounded() {
        let a = Attempts::new(10);
        let t0 = Instant::now();
        for i in 0..(MAX_TRACKED as u32 + 500) {
            a.wrong_at(IpAddr::V4(std::net::Ipv4Addr::from(0x7f00_0000 + i)), t0);
        }
        assert!(a.lock().len() <= MAX_TRACKED);
    }
}
