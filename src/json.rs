//! Reading a request's JSON strictly: malformed JSON, an unknown field, or a value of the
//! wrong type is `400 invalid_spec` naming the field by its path (`options.rules[0].pattern`)
//! in the error's `field`, and the message says what to send instead.

use serde::Deserialize;

use crate::error::ApiError;

/// Reads a JSON body strictly: malformed JSON, an unknown field, or a value of the wrong type
/// is `invalid_spec` with the field's path in the message.
pub fn parse_json<'de, T: Deserialize<'de>>(body: &'de [u8], what: &str) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid_spec(format!(
            "the request body is empty; send {what} as JSON"
        )));
    }
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::invalid_spec(format!(
            "the request body is not a JSON object; send {what}"
        )));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let detail = inner.to_string();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::invalid_spec(format!(
                "malformed JSON ({detail}); send {what} as a JSON object"
            ))
        } else if path == "." {
            ApiError::invalid_spec(format!("{detail}; send {what} as a JSON object"))
        } else {
            ApiError::invalid_spec(format!("field {path}: {detail}")).at(path)
        }
    })
}
/// A whole number written either way JSON allows, `5` or `5.0` (JSON has one number type,
/// and clients generated from a schema write an integer as a float): for
/// `#[serde(deserialize_with = "crate::json::whole")]`.
pub fn whole<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    let n = serde_json::Number::deserialize(d)?;
    let whole = n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
            .map(|f| f as u64)
    });
    whole
        .and_then(|w| T::try_from(w).ok())
        .ok_or_else(|| serde::de::Error::custom(format!("{n} is not a whole number in range")))
}

/// [`whole`] for an optional field (with `#[serde(default)]`).
pub fn whole_opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    match Option::<serde_json::Number>::deserialize(d)? {
        None => Ok(None),
        Some(n) => whole(serde_json::Value::Number(n))
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}
