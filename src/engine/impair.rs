//! UDP broken on purpose: `options.impair` loses, duplicates, reorders and delays the
//! datagrams an engine sends, from a seeded generator, so the same seed gives the same
//! pattern and a class sees UDP's "unreliable, not ordered" on loopback, where nothing is
//! ever lost.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// Longest delay or jitter, in milliseconds.
pub const MAX_DELAY_MS: u64 = 10_000;

/// What `options.impair` asks for; every field optional, zero meaning off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Impair {
    /// Share of datagrams lost (0..1).
    pub loss: f64,
    /// Share of datagrams sent twice (0..1).
    pub duplicate: f64,
    /// Share of datagrams held back and sent after the next one (0..1).
    pub reorder: f64,
    /// Delay added to each datagram, in milliseconds (0..10000).
    #[serde(deserialize_with = "crate::json::whole")]
    pub delay_ms: u64,
    /// Up to this much more or less delay, at random (0..10000).
    #[serde(deserialize_with = "crate::json::whole")]
    pub jitter_ms: u64,
    /// The generator's seed: the same seed, the same pattern.
    #[serde(deserialize_with = "crate::json::whole")]
    pub seed: u64,
}

impl Impair {
    /// Checks the ranges; the error names the field and says what fits.
    pub fn check(&self) -> Result<(), ApiError> {
        for (name, v) in [
            ("loss", self.loss),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(ApiError::bad_field(
                    format!("options.impair.{name}"),
                    format!("{v} is out of range 0-1 (a share: 0.1 loses one datagram in ten)"),
                ));
            }
        }
        for (name, v) in [("delay_ms", self.delay_ms), ("jitter_ms", self.jitter_ms)] {
            if v > MAX_DELAY_MS {
                return Err(ApiError::bad_field(
                    format!("options.impair.{name}"),
                    format!("{v} is out of range 0-{MAX_DELAY_MS} milliseconds"),
                ));
            }
        }
        Ok(())
    }

    /// Whether it changes anything.
    pub fn is_off(&self) -> bool {
        self.loss == 0.0
            && self.duplicate == 0.0
            && self.reorder == 0.0
            && self.delay_ms == 0
            && self.jitter_ms == 0
    }
}

/// SplitMix64: tiny, fast, and the same sequence for the same seed on every machine.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What happens to one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Lost: never sent.
    Dropped,
    /// Held back, to be sent after the next datagram.
    Held,
    /// Sent `copies` times (1, or 2 when duplicated) after `delay`.
    Sent {
        /// 1, or 2 for a duplicate.
        copies: u8,
        /// Added delay (zero when none is asked for).
        delay: Duration,
    },
}

/// The impairment of one engine: its settings and its generator.
#[derive(Debug, Clone)]
pub struct Impairer {
    cfg: Impair,
    rng: Rng,
    holding: bool,
}

impl Impairer {
    /// Starts a generator for `cfg` from its seed.
    pub fn new(cfg: Impair) -> Self {
        Self {
            cfg,
            rng: Rng(cfg.seed),
            holding: false,
        }
    }

    /// The settings.
    pub fn settings(&self) -> Impair {
        self.cfg
    }

    /// Decides the next datagram's fate. A held datagram goes out after the next one that is
    /// sent (the caller keeps it); only one is held at a time.
    pub fn decide(&mut self) -> Fate {
        // Every draw is made for every datagram, so one setting never shifts another's pattern.
        let (l, d, r, j) = (
            self.rng.unit(),
            self.rng.unit(),
            self.rng.unit(),
            self.rng.unit(),
        );
        if l < self.cfg.loss {
            return Fate::Dropped;
        }
        if !self.holding && r < self.cfg.reorder {
            self.holding = true;
            return Fate::Held;
        }
        self.holding = false;
        let jitter = self.cfg.jitter_ms as f64;
        let ms = (self.cfg.delay_ms as f64 + (j * 2.0 - 1.0) * jitter).max(0.0);
        Fate::Sent {
            copies: if d < self.cfg.duplicate { 2 } else { 1 },
            delay: Duration::from_micros((ms * 1000.0) as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cfg: Impair, n: usize) -> Vec<Fate> {
        let mut i = Impairer::new(cfg);
        (0..n).map(|_| i.decide()).collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_pattern_and_another_seed_another() {
        let cfg = Impair {
            loss: 0.2,
            duplicate: 0.1,
            reorder: 0.1,
            jitter_ms: 5,
            seed: 7,
            ..Impair::default()
        };
        assert_eq!(run(cfg, 1000), run(cfg, 1000));
        assert_ne!(run(cfg, 1000), run(Impair { seed: 8, ..cfg }, 1000));
    }

    #[test]
    fn off_sends_every_datagram_once_at_once() {
        assert!(run(Impair::default(), 100).iter().all(|f| *f
            == Fate::Sent {
                copies: 1,
                delay: Duration::ZERO
            }));
    }

    #[test]
    fn ranges_are_checked_by_name() {
        let e = Impair {
            loss: 1.5,
            ..Impair::default()
        }
        .check()
        .unwrap_err();
        assert_eq!(e.field(), Some("options.impair.loss"), "{e}");
        let e = Impair {
            jitter_ms: 10_001,
            ..Impair::default()
        }
        .check()
        .unwrap_err();
        assert_eq!(e.field(), Some("options.impair.jitter_ms"), "{e}");
    }
}
