//! Display names: what one may be (1 to 60 characters, nothing invisible or
//! direction-changing), and when two are the same (case, spaces and full-width forms
//! ignored), so a class never has two students who look alike in the instructor's list.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Workspace;
use crate::error::ApiError;

/// Checks a display name: 1 to 60 characters, no control characters.
pub fn check_display_name(field: &str, name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::invalid_spec(format!(
            "field {field}: give a display name, e.g. your first name"
        ))
        .at(field));
    }
    if name.chars().count() > MAX_NAME {
        return Err(ApiError::invalid_spec(format!(
            "field {field}: at most {MAX_NAME} characters, please"
        ))
        .at(field));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::invalid_spec(format!(
            "field {field}: control characters are not allowed in a name"
        ))
        .at(field));
    }
    if name.chars().any(invisible) {
        return Err(ApiError::invalid_spec(format!(
            "field {field}: invisible or direction-changing characters are not allowed in a name (they make one name look like another)"
        )).at(field));
    }
    Ok(name.to_string())
}

/// Characters that show nothing or turn text around: with them "ada" and "ada" could be two
/// names, or a name could read backwards in the instructor's list.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}'
        | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}')
}

/// A display name as names are compared: case and spaces ignored, so "Ada", "ada" and
/// " A da" are one name.
fn name_key(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace())
        // Full-width forms (ａｄａ) are the same letters.
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// Longest display name.
pub const MAX_NAME: usize = 60;

/// `409 name_taken` if a workspace of the class has `name` already, with a free one.
pub(super) fn check_name_free(
    map: &BTreeMap<Arc<str>, Arc<Workspace>>,
    name: &str,
) -> Result<(), ApiError> {
    let taken: std::collections::HashSet<String> =
        map.values().map(|w| name_key(&w.name())).collect();
    if !taken.contains(&name_key(name)) {
        return Ok(());
    }
    let suggestion = (2..)
        .map(|n| format!("{name} {n}"))
        .find(|s| !taken.contains(&name_key(s)))
        .unwrap_or_default();
    Err(ApiError::name_taken(
        format!(
            "field name: someone in this class is called {name:?} already; pick another name, e.g. {suggestion:?}"
        ),
        suggestion,
    )
    .at("name"))
}
