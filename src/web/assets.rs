//! The page's CSS, JavaScript and images, embedded in the binary (a lab server gets the
//! binary, not the checkout), with an `ETag` from each file's SHA-256 so a browser revalidates
//! and gets `304` when nothing changed.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

use crate::error::ApiError;

/// Everything under `static/`, in the executable in every build profile (`debug-embed`), so
/// what the tests serve is what a copied binary serves.
#[derive(Embed)]
#[folder = "static/"]
struct Static;

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// `GET /static/{*path}`
pub async fn serve(Path(path): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let Some(file) = Static::get(&path) else {
        return Err(ApiError::not_found(format!(
            "no file /static/{}",
            path.chars().take(80).collect::<String>()
        )));
    };
    let hash = file.metadata.sha256_hash();
    let etag = format!("\"{}\"", crate::secret::to_hex(&hash[..16]));
    let matches = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == etag
        });
    // The page's modules change with the binary, not with time: revalidate every load (a
    // cheap 304) rather than risk a page mixing an old script with a new server.
    let cache = (header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let tag = (
        header::ETAG,
        HeaderValue::from_str(&etag).map_err(|e| ApiError::internal(e.to_string()))?,
    );
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, [tag, cache]).into_response());
    }
    let ctype = (
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&path)),
    );
    Ok(([ctype, tag, cache], file.data.into_owned()).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_assets_are_embedded_with_their_types() {
        for (path, ty) in [
            ("app.css", "text/css; charset=utf-8"),
            ("js/app.js", "text/javascript; charset=utf-8"),
        ] {
            assert!(Static::get(path).is_some(), "{path} is embedded");
            assert_eq!(content_type(path), ty);
        }
        assert!(Static::get("../Cargo.toml").is_none());
    }
}
