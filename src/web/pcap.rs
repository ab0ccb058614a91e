//! `GET /api/engines/{id}/capture.pcap` (and `?conn=c2`): an engine's recorded exchange as a
//! pcap file; `GET /api/events/{seq}/layers`: one data event as the layers would carry it.
//! Both come from one reconstruction ([`crate::capture::pcap`]), so they always agree.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::bad_query;
use super::caller::Scope;
use super::params::Id;
use crate::capture::Filter;
use crate::capture::pcap::{self, Ev};
use crate::error::ApiError;
use crate::ids::{ConnId, EngineId};
use crate::workspace::Workspace;

/// Records scanned per hold of the ring's lock, so a long export never holds it for long.
const SCAN_STEP: u64 = 4096;

/// Every kept event `filter` wants, oldest first, read from the records a page per lock
/// (no JSON in between), yielding between pages. It runs on the async workers on purpose:
/// the ring's lock is one the workspace's collector takes, and a low-priority thread must
/// never hold it.
async fn gather(ws: &Workspace, filter: Filter) -> Vec<Ev> {
    let end = ws.capture().lock().next_seq();
    let end = filter.until.map_or(end, |u| u.saturating_add(1).min(end));
    let mut out = Vec::new();
    let mut seq = 0;
    while seq < end {
        seq = gather_page(ws, filter, seq, end, &mut out);
        tokio::task::yield_now().await;
    }
    out
}

/// One page of [`gather`], from `seq` (or the oldest kept) under one hold of the lock;
/// returns where the next page starts.
fn gather_page(ws: &Workspace, filter: Filter, seq: u64, end: u64, out: &mut Vec<Ev>) -> u64 {
    let ring = ws.capture().lock();
    let seq = seq.max(ring.first_seq());
    let stop = seq.saturating_add(SCAN_STEP).min(end);
    for s in seq..stop {
        if let Some(v) = ring.view(s)
            && filter.wants(&v)
        {
            let conn = ring.conn_addrs(&v);
            out.push(Ev::from_view(s, &v, conn));
        }
    }
    stop
}

/// The pcap of what `filter` wants: gathered here, built on the low-priority pool (see
/// `engine::pool`), one at a time per workspace: a long history is seconds of work, and a
/// looping caller must not make it many at once, nor take the CPU from the class.
async fn build_pcap(ws: &Arc<Workspace>, filter: Filter) -> Result<Vec<u8>, ApiError> {
    let _turn = ws
        .export_turn()
        .acquire()
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let events = gather(ws, filter).await;
    crate::engine::pool::run(move || {
        crate::capture::pcap_file::write_pcap(&pcap::reconstruct(&events))
    })
    .await
    .ok_or_else(|| ApiError::internal("building the pcap failed".into()))
}

/// `?conn=c2` for one connection's packets.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PcapQuery {
    conn: Option<ConnId>,
}

/// `GET /api/engines/{id}/capture.pcap`
#[utoipa::path(get, path = "/engines/{id}/capture.pcap", tag = "Events", params(("id" = String, Path, description = "an engine id, e.g. e1"), ("workspace" = Option<String>, Query, description = "the instructor: a student workspace to read, read-only"), ("conn" = Option<String>, Query, description = "one connection's")), responses((status = 200, description = "a classic pcap file", body = Vec<u8>, content_type = "application/vnd.tcpdump.pcap"), (status = 404, description = "no such engine here", body = crate::error::ErrorBody), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn capture(
    Scope(ws): Scope,
    Id(id): Id<EngineId>,
    q: Result<Query<PcapQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    let engine = ws.engine(id)?;
    let filter = Filter {
        engine: Some(engine.id),
        conn: q.conn,
        until: None,
    };
    let file = build_pcap(&ws, filter).await?;
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
#[utoipa::path(get, path = "/events/{seq}/layers", tag = "Events", params(("seq" = String, Path, description = "an event's seq"), ("workspace" = Option<String>, Query, description = "the instructor: a student workspace to read, read-only")), responses((status = 200, description = "{app, transport, ip, note}", body = serde_json::Value), (status = 404, description = "no such event kept", body = crate::error::ErrorBody), (status = "default", description = "an error, in the API's shape: 400 invalid_spec and the like, 401 no credential, 403 not allowed, 413 too large, 429 too many requests, 507 not saved", body = crate::error::ErrorBody)))]
pub async fn layers(Scope(ws): Scope, Path(seq): Path<String>) -> Result<Json<Value>, ApiError> {
    let seq: u64 = seq.parse().map_err(|_| {
        ApiError::invalid_spec(format!(
            "\"{}\" is not an event's seq; use the number the event carries, e.g. /api/events/42/layers",
            seq.chars().take(40).collect::<String>()
        ))
    })?;
    let gone = || {
        ApiError::not_found(format!(
            "no event {seq} is kept (it may have left the history); GET /api/events lists those kept"
        ))
    };
    // One record and its connection's addresses: what it costs does not grow with the
    // history (its stream position says where it sits in the connection).
    let ev = {
        let ring = ws.capture().lock();
        let v = ring.view(seq).ok_or_else(gone)?;
        Ev::from_view(seq, &v, ring.conn_addrs(&v))
    };
    if !ev.is_data() {
        // The event is there, its layers are not: there are none to find.
        return Err(ApiError::not_found(format!(
            "event {seq} is a {}, which has no layers; only data events (send()/recv(), sendto()/recvfrom()) travel in packets",
            ev.describe()
        )));
    }
    let frames = pcap::frames_of(&ev);
    let frame = frames.first().ok_or_else(gone)?;
    Ok(Json(crate::capture::render::layers(frame, &ev)))
}
