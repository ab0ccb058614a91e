//! A hasher for tables keyed by small numbers and looked up on every record.

use std::collections::HashMap;

/// The hasher of the ring's tables, looked up once per record: a multiply instead of
/// SipHash. Its keys are numbers socketlab gave out (connection keys) or bounded by the
/// workspace's engine limit (engine ids), so no one can make them collide at length.
#[derive(Debug, Default, Clone, Copy)]
pub struct NumHasher(u64);

impl std::hash::Hasher for NumHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        // FxHash's step: rotate, mix in, multiply by a large odd constant.
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// A hash map with [`NumHasher`].
pub type NumMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<NumHasher>>;
