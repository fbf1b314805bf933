//! What an analyst does: `/api/feedback` (bot/human labels, written to the feedback table)
//! and `/api/exports` (the block lists of `shrike export`, previewed or downloaded).

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use shrike_export::{plan, render, Filters, Format, Plan, RenderOptions};
use shrike_store::{DashboardStore, Feedback, FeedbackLabel, FeedbackSession};
use shrike_types::{ThreatLevel, Timestamp, HOUR_MS};

use crate::error::{ApiError, ApiResult};
use crate::params::Query;
use crate::state::AppState;

/// Entries of each list an export preview shows (the totals say how many there are).
const PREVIEW_ENTRIES: usize = 300;
/// Bytes of the file an export preview shows (cut at a line end); `download=true` gives it
/// whole.
const PREVIEW_BYTES: usize = 128 * 1024;

/// A label as the API shows it.
pub fn feedback_json(f: &Feedback) -> Value {
    json!({
        "id": f.id, "created_at": f.created_at.to_string(), "analyst": f.analyst,
        "label": f.label.as_str(), "note": f.note, "src_ip": f.src_ip,
        "session": f.session.as_ref().map(|k| json!({
            "window_start": k.window_start.to_string(), "window_start_ms": k.window_start.millis(),
            "ja4": k.ja4, "host": k.host,
        })),
    })
}

/// Body of `POST /api/feedback`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewFeedback {
    /// `bot` or `human`.
    pub label: String,
    /// The address.
    pub src_ip: String,
    /// With `ja4` and `host`: one session (window start in epoch milliseconds).
    pub window_start_ms: Option<i64>,
    /// The session's JA4.
    pub ja4: Option<String>,
    /// The session's host.
    pub host: Option<String>,
    /// Why (at most 1,000 characters).
    #[serde(default)]
    pub note: String,
    /// Who (at most 64 characters; "dashboard" when absent).
    pub analyst: Option<String>,
}

/// `POST /api/feedback`: stores a label; 201 with its id.
pub async fn add_feedback(
    State(state): State<AppState>,
    body: Result<Json<NewFeedback>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let Json(b) = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(state.settings().max_body_bytes)
        } else {
            ApiError::BadRequest(format!("body: {}", e.body_text()))
        }
    })?;
    let label = FeedbackLabel::parse(&b.label)
        .ok_or_else(|| ApiError::BadRequest("field label: allowed bot, human".into()))?;
    let ip: std::net::IpAddr = b.src_ip.parse().map_err(|_| {
        ApiError::BadRequest("field src_ip: expected an IPv4 or IPv6 address".into())
    })?;
    if b.note.chars().count() > 1000 {
        return Err(ApiError::BadRequest(
            "field note: at most 1000 characters".into(),
        ));
    }
    let analyst = b.analyst.unwrap_or_else(|| "dashboard".into());
    if analyst.is_empty() || analyst.chars().count() > 64 {
        return Err(ApiError::BadRequest(
            "field analyst: 1 to 64 characters".into(),
        ));
    }
    let session = match (b.window_start_ms, b.ja4, b.host) {
        (Some(w), Some(ja4), Some(host)) if ja4.len() <= 256 && host.len() <= 256 => {
            Some(FeedbackSession {
                window_start: Timestamp::from_millis(w),
                ja4,
                host,
            })
        }
        (None, None, None) => None,
        _ => {
            return Err(ApiError::BadRequest(
                "fields window_start_ms, ja4 and host: give all three (one session, each text at most 256 bytes) or none (the whole address)".into(),
            ))
        }
    };
    let f = Feedback {
        id: 0,
        created_at: state.clock().now(),
        analyst,
        label,
        note: b.note,
        src_ip: ip.to_string(),
        session,
    };
    let (id, stored) = state
        .with_store(move |s| {
            let id = s.add_feedback(&f)?;
            Ok((id, Feedback { id, ..f }))
        })
        .await?;
    state.refresh_generation().await?;
    tracing::info!(id, label = stored.label.as_str(), analyst = %stored.analyst, "feedback stored");
    Ok((StatusCode::CREATED, Json(feedback_json(&stored))).into_response())
}

/// `GET /api/feedback?ip=&offset=&limit=`.
pub async fn list_feedback(State(state): State<AppState>, q: Query) -> ApiResult<Json<Value>> {
    let ip = q.text("ip")?;
    let offset = q.int("offset", 0, 0, 10_000_000)? as usize;
    let limit = q.int("limit", 50, 1, 500)? as usize;
    state
        .with_store(move |s| {
            let rows = s.feedback(ip.as_deref(), offset, limit)?;
            Ok(Json(json!({
                "offset": offset, "limit": limit,
                "rows": rows.iter().map(feedback_json).collect::<Vec<_>>(),
            })))
        })
        .await
}

/// `DELETE /api/feedback/{id}`.
pub async fn remove_feedback(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let removed = state
        .with_store(move |s| Ok(s.remove_feedback(id)?))
        .await?;
    if !removed {
        return Err(ApiError::NotFound(format!("no feedback {id}")));
    }
    state.refresh_generation().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/exports?format=&min_level=&min_score=&campaign=&fleet=&max_age_hours=&download=`:
/// what the export would block and hold back (shadow view), with the rendered file; with
/// `download=true`, the file itself.
pub async fn exports(State(state): State<AppState>, q: Query) -> ApiResult<Response> {
    let names: Vec<&'static str> = Format::ALL.iter().map(|(_, n)| *n).collect();
    let format_name = q.choice("format", "json", &names)?;
    let format = Format::parse(format_name).ok_or_else(|| ApiError::Internal("format".into()))?;
    let graded: Vec<&str> = ThreatLevel::GRADED.iter().map(|l| l.as_str()).collect();
    let min_level: ThreatLevel = q
        .choice("min_level", ThreatLevel::Medium.as_str(), &graded)?
        .parse()
        .map_err(|e: shrike_types::UnknownLevel| ApiError::BadRequest(e.to_string()))?;
    let min_score = q.float("min_score", 0.0, 0.0, 1.0)?;
    let campaign = q.opt_int("campaign", 0, i64::MAX)?;
    let fleet = q.opt_int("fleet", 0, i64::MAX)?;
    let max_age = q.opt_int("max_age_hours", 1, 24 * 365)?;
    let download = q.boolean("download")?;
    let build = move |s: &mut dyn DashboardStore| -> ApiResult<(i64, Plan, String)> {
        let Some((cycle, clock)) = s.latest_cycle()? else {
            return Err(ApiError::NotFound("no detection cycle yet".into()));
        };
        let sessions = s.cycle_scores(cycle)?;
        let filters = Filters {
            min_level,
            min_score,
            campaign,
            fleet,
            since: max_age.map(|h| Timestamp::from_millis(clock.millis() - h * HOUR_MS)),
            ..Filters::default()
        };
        let p = plan(&sessions, &filters).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let text = render(
            &p,
            format,
            &RenderOptions {
                cycle_clock: clock,
                cycle,
                set_name: "shrike".into(),
                duration: "24h".into(),
                ja4_header: "X-JA4".into(),
            },
        );
        Ok((cycle, p, text))
    };
    if download {
        // The whole file, built for the asker (it can be tens of megabytes: not cached).
        let (cycle, _, text) = state.with_store(build).await?;
        let name = format!(
            "attachment; filename=\"shrike-cycle{cycle}.{}\"",
            match format {
                Format::Json | Format::Crowdsec => "json",
                Format::Csv => "csv",
                Format::Anubis => "yaml",
                _ => "conf",
            }
        );
        return Ok((
            [
                (
                    header::CONTENT_TYPE,
                    "text/plain; charset=utf-8".to_string(),
                ),
                (header::CONTENT_DISPOSITION, name),
            ],
            text,
        )
            .into_response());
    }
    // The preview is cached like the other reads: the plan depends only on the stored
    // cycle (its clock is data time) and the parameters. It is bounded: the first entries
    // of each list and the file's first lines, with the totals.
    let key = format!(
        "exports:{format_name}:{}:{min_score:?}:{campaign:?}:{fleet:?}:{max_age:?}",
        min_level.as_str()
    );
    let body = state
        .cached(key, move |s| {
            let (cycle, p, text) = build(s)?;
            let cut = if text.len() <= PREVIEW_BYTES {
                text.len()
            } else {
                // After a line end: always a character boundary.
                text.as_bytes()[..PREVIEW_BYTES]
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map_or(0, |i| i + 1)
            };
            Ok(json!({
                "cycle": cycle,
                "format": format_name,
                "candidates": p.candidates,
                "addresses": first(&p.addresses),
                "addresses_total": p.addresses.len(),
                "ja4s": first(&p.ja4s),
                "ja4s_total": p.ja4s.len(),
                "held_back": first(&p.held_back),
                "held_back_total": p.held_back.len(),
                "text": &text[..cut],
                "text_bytes": text.len(),
                "text_truncated": cut < text.len(),
            }))
        })
        .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The first entries of a list, for a preview.
fn first<T: serde::Serialize>(v: &[T]) -> Value {
    json!(v.iter().take(PREVIEW_ENTRIES).collect::<Vec<_>>())
}
