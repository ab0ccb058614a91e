//! Decoding the `data` of a send: text, hex (`48 65 6c`, `0x48`, `48656c`) or base64.

use base64::Engine as _;

use crate::error::ApiError;

/// Decodes `data` in `encoding` (`text` when `None`).
pub fn decode(encoding: Option<&str>, data: &str) -> Result<Vec<u8>, ApiError> {
    match encoding.unwrap_or("text") {
        "text" => Ok(data.as_bytes().to_vec()),
        "hex" => decode_hex(data),
        "base64" => decode_base64(data),
        other => Err(ApiError::invalid_spec(format!(
            "field encoding: unknown encoding \"{other}\"; use text, hex or base64"
        ))
        .at("encoding")),
    }
}

/// Hex digits in pairs; whitespace, `:`, `,` and `-` separate, `0x` prefixes are allowed.
pub fn decode_hex(s: &str) -> Result<Vec<u8>, ApiError> {
    let mut digits = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() || matches!(c, b':' | b',' | b'-') {
            i += 1;
            continue;
        }
        if c == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X')) {
            i += 2;
            continue;
        }
        let Some(v) = (c as char).to_digit(16) else {
            let shown: String = s[i..].chars().next().map(String::from).unwrap_or_default();
            return Err(ApiError::invalid_data(format!(
                "hex data has \"{shown}\" at position {i}, which is not a hex digit; write bytes like 48 65 6c 6c 6f"
            )));
        };
        digits.push(v as u8);
        i += 1;
    }
    if digits.len() % 2 == 1 {
        return Err(ApiError::invalid_data(format!(
            "hex data has {} digits, an odd number; each byte needs two digits, like 0a rather than a",
            digits.len()
        )));
    }
    Ok(digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect())
}

/// Standard base64, with or without padding; whitespace is ignored.
pub fn decode_base64(s: &str) -> Result<Vec<u8>, ApiError> {
    let clean: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let engines = [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
    ];
    let mut last = None;
    for e in engines {
        match e.decode(&clean) {
            Ok(v) => return Ok(v),
            Err(err) => last = Some(err),
        }
    }
    Err(ApiError::invalid_data(format!(
        "data is not valid base64 ({}); encode it with e.g. `base64` or btoa(), like aGVsbG8=",
        last.map(|e| e.to_string()).unwrap_or_default()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_forms() {
        assert_eq!(decode_hex("48 65 6c").unwrap(), b"Hel");
        assert_eq!(decode_hex("0x48 0x65").unwrap(), b"He");
        assert_eq!(decode_hex("48656C6c").unwrap(), b"Hell");
        assert_eq!(
            decode_hex("de:ad,be-ef\n").unwrap(),
            vec![0xde, 0xad, 0xbe, 0xef]
        );
        assert_eq!(decode_hex("").unwrap(), b"");
        assert!(decode_hex("486").unwrap_err().to_string().contains("odd"));
        assert!(decode_hex("zz").unwrap_err().to_string().contains("\"z\""));
        assert!(decode_hex("4é").unwrap_err().to_string().contains("\"é\""));
    }

    #[test]
    fn base64_forms() {
        assert_eq!(decode_base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVsbG8").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVs\nbG8=").unwrap(), b"hello");
        assert!(matches!(
            decode_base64("!!!"),
            Err(e) if e.kind() == crate::error::ErrorKind::InvalidData
        ));
        assert!(matches!(
            decode(Some("rot13"), "x"),
            Err(e) if e.kind() == crate::error::ErrorKind::InvalidSpec
        ));
        assert_eq!(decode(None, "hé").unwrap(), "hé".as_bytes());
    }
}
