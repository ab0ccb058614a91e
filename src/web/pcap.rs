//! `GET /api/engines/{id}/capture.pcap` (and `?conn=c2`): an engine's recorded exchange as a
//! pcap file; `GET /api/events/{seq}/layers`: one data event as the layers would carry it.
//! Both come from one reconstruction ([`crate::capture::pcap`]), so they always agree.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::api::{EXPORT_STEP, conn_number};
use super::bad_query;
use super::guard::Scope;
use crate::capture::Filter;
use crate::capture::pcap::{self, Ev};
use crate::error::ApiError;
use crate::workspace::Workspace;

/// Every kept event `filter` wants, oldest first, read a page per lock.
fn gather(ws: &Workspace, filter: Filter) -> Vec<Ev> {
    let end = ws.capture().lock().next_seq().saturating_sub(1);
    let mut out = Vec::new();
    let mut since = 0;
    while since < end {
        let (records, next) = ws.capture().lock().history(
            Filter {
                until: Some(end),
                ..filter
            },
            since,
            EXPORT_STEP,
        );
        out.extend(
            records
                .iter()
                .filter_map(|r| serde_json::from_str(r.as_str()).ok()),
        );
        if records.is_empty() || next <= since {
            break;
        }
        since = next;
    }
    out
}

/// `?conn=c2` for one connection's packets.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PcapQuery {
    conn: Option<String>,
}

/// `GET /api/engines/{id}/capture.pcap`
pub async fn capture(
    Scope(ws): Scope,
    Path(id): Path<String>,
    q: Result<Query<PcapQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    let engine = ws.engine(&id)?;
    let conn = q.conn.as_deref().map(conn_number).transpose()?;
    let events = gather(
        &ws,
        Filter {
            engine: Some(engine.num),
            conn,
            until: None,
        },
    );
    let file = pcap::write_pcap(&pcap::reconstruct(&events));
    let name = match &q.conn {
        Some(c) => format!("socketlab-{id}-{c}.pcap"),
        None => format!("socketlab-{id}.pcap"),
    };
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.tcpdump.pcap".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        file,
    )
        .into_response())
}

/// `GET /api/events/{seq}/layers`
pub async fn layers(Scope(ws): Scope, Path(seq): Path<String>) -> Result<Json<Value>, ApiError> {
    let seq: u64 = seq.parse().map_err(|_| {
        ApiError::InvalidSpec(format!(
            "\"{}\" is not an event's seq; use the number the event carries, e.g. /api/events/42/layers",
            seq.chars().take(40).collect::<String>()
        ))
    })?;
    let gone = || {
        ApiError::NotFound(format!(
            "no event {seq} is kept (it may have left the history); GET /api/events lists those kept"
        ))
    };
    let (records, _) = ws
        .capture()
        .lock()
        .history(Filter::default(), seq.saturating_sub(1), 1);
    let record = records.first().ok_or_else(gone)?;
    let event: Value =
        serde_json::from_str(record.as_str()).map_err(|e| ApiError::Internal(e.to_string()))?;
    if event["seq"].as_u64() != Some(seq) {
        return Err(gone());
    }
    if !matches!(event["kind"].as_str(), Some("sent" | "received")) {
        return Err(ApiError::InvalidSpec(format!(
            "event {seq} is a {} ({}); only data events (send()/recv(), sendto()/recvfrom()) travel in packets",
            event["kind"].as_str().unwrap_or("?"),
            event["call"].as_str().unwrap_or("?")
        )));
    }
    let engine = event["engine"]
        .as_str()
        .and_then(|e| e.strip_prefix('e'))
        .and_then(|n| n.parse().ok());
    let conn = event["conn"].as_str().map(conn_number).transpose()?;
    let events = gather(
        &ws,
        Filter {
            engine,
            conn,
            until: Some(seq),
        },
    );
    let frames = pcap::reconstruct(&events);
    let frame = frames
        .iter()
        .rev()
        .find(|f| f.event == seq)
        .ok_or_else(gone)?;
    Ok(Json(pcap::layers(frame, &event)))
}
