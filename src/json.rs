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
