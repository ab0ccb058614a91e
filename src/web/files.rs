//! `/api/files`: uploads (the raw body, streamed to disk, the size limit enforced while it
//! streams), the list, downloads (streamed from disk) and removal.

use super::params::Id;
use crate::ids::FileId;
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;

use super::bad_query;
use super::caller::Owner;
use crate::error::ApiError;
use crate::files::{FileMeta, check_file_name};

/// Query of `POST /api/files`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    name: Option<String>,
}

/// `GET /api/files`
#[utoipa::path(get, path = "/files", tag = "Files", params(("workspace" = Option<String>, Query, description = "the instructor: a student workspace to read, read-only")), responses((status = 200, description = "the workspace's files", body = Vec<crate::files::FileMeta>), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn list(Owner(ws): Owner) -> Json<Vec<FileMeta>> {
    Json(ws.files().list())
}

/// `POST /api/files?name=report.pdf`: the body is the file.
#[utoipa::path(post, path = "/files", tag = "Files", params(("name" = Option<String>, Query, description = "the file's name (default upload)")), request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the file's bytes"), responses((status = 201, description = "the file", body = crate::files::FileMeta), (status = 507, description = "quota_exceeded", body = crate::error::ErrorBody), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn upload(
    Owner(ws): Owner,
    q: Result<Query<UploadQuery>, QueryRejection>,
    req: Request,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    let name = check_file_name(q.name.as_deref().unwrap_or("upload"))?;
    let files = ws.files();
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = declared
        && len > files.max()
    {
        return Err(ApiError::too_large(format!(
            "{len} bytes is over the file size limit of {} bytes (--max-file); nothing was kept",
            files.max()
        )));
    }
    files.check_room(declared.unwrap_or(0))?;
    let mut writer = files.create(name, None).await?;
    let mut body = req.into_body().into_data_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::invalid_data(format!(
                "the upload broke off ({e}); nothing was kept, send the file again"
            ))
        })?;
        // Past the limit this is an error at once; dropping the writer deletes the part.
        writer.write(&chunk).await?;
    }
    let meta = writer.finish(files).await?;
    Ok((StatusCode::CREATED, Json(meta)).into_response())
}

/// A `Content-Disposition` for a name that may hold anything: an ASCII fallback and the
/// name itself, percent-encoded (RFC 6266).
fn disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// `GET /api/files/{id}`: the file, as an attachment, streamed from disk.
#[utoipa::path(get, path = "/files/{id}", tag = "Files", params(("id" = String, Path, description = "a file id, e.g. f1"), ("workspace" = Option<String>, Query, description = "the instructor: a student workspace to read, read-only")), responses((status = 200, description = "the file's bytes", body = Vec<u8>, content_type = "application/octet-stream"), (status = 404, description = "no such file here", body = crate::error::ErrorBody), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn download(Owner(ws): Owner, Id(id): Id<FileId>) -> Result<Response, ApiError> {
    let files = ws.files();
    let meta = files.get(id)?;
    let file = tokio::fs::File::open(files.path(&meta))
        .await
        .map_err(|e| ApiError::internal(format!("opening file {}: {e}", meta.id)))?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, meta.bytes.to_string()),
            (header::CONTENT_DISPOSITION, disposition(&meta.name)),
            (
                header::HeaderName::from_static("x-sha256"),
                meta.sha256.clone(),
            ),
        ],
        body,
    )
        .into_response())
}

/// `DELETE /api/files/{id}`
#[utoipa::path(delete, path = "/files/{id}", tag = "Files", params(("id" = String, Path, description = "a file id, e.g. f1")), responses((status = 204, description = "removed"), (status = 404, description = "no such file here", body = crate::error::ErrorBody), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn remove(Owner(ws): Owner, Id(id): Id<FileId>) -> Result<StatusCode, ApiError> {
    ws.files().remove(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::disposition;

    #[test]
    fn any_name_makes_a_safe_disposition() {
        assert_eq!(
            disposition("report.pdf"),
            "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
        );
        let d = disposition("a\"b\\c\r\né.txt");
        assert!(
            d.starts_with("attachment; filename=\"a_b_c___.txt\""),
            "{d}"
        );
        assert!(d.ends_with("a%22b%5Cc%0D%0A%C3%A9.txt"), "{d}");
    }
}
