//! Secrets and their digests: hex, the OS's random source, SHA-256 of a credential, and a
//! comparison whose time does not depend on where two values differ. A leaf: it knows nothing
//! of workspaces or HTTP, so every layer may use it.

use sha2::Digest as _;

/// 32 bytes of SHA-256, as credentials are kept and looked up.
pub type Digest = [u8; 32];

/// SHA-256 of a credential.
pub fn digest(s: &str) -> Digest {
    sha2::Sha256::digest(s.as_bytes()).into()
}

/// Lower-case hex.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A digest written by [`to_hex`]; `None` for anything else.
pub fn from_hex(s: &str) -> Option<Digest> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// `bytes` random bytes from the OS, as hex; the error says the random source failed.
pub fn random_hex(bytes: usize) -> Result<String, String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| format!("the OS random source failed: {e}"))?;
    Ok(to_hex(&buf))
}

/// Compares in time that depends only on the lengths, so a token cannot be guessed byte by
/// byte from response times.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= std::hint::black_box(x ^ y);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_the_malformed() {
        let d = digest("secret");
        assert_eq!(from_hex(&to_hex(&d)), Some(d));
        assert_eq!(from_hex("ab"), None);
        assert_eq!(from_hex(&"zz".repeat(32)), None);
        assert_eq!(to_hex(&[0, 255, 16]), "00ff10");
    }

    #[test]
    fn ct_eq_is_equality() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
    }

    #[test]
    fn random_hex_is_random_and_sized() {
        let a = random_hex(16).unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, random_hex(16).unwrap());
    }
}
