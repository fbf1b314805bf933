//! The labels the supervised scorer learns from: each session's latest level joined with
//! the analysts' labels (on the session, or on its address), which override it. Every
//! store labels through [`join_labels`], so that they label alike.

use shrike_types::{ThreatLevel, UnknownLevel};

use crate::rows::FeedbackLabel;

/// A session with a label for the supervised scorer: the level its latest score gave it
/// and the analyst's label that applies to it, if any.
#[derive(Debug, Clone)]
pub struct LabelRow {
    /// The session.
    pub session: crate::rows::SessionRow,
    /// Threat level of its latest score (None when never scored).
    pub level: Option<ThreatLevel>,
    /// The newest analyst label on this session, or else on its address.
    pub feedback: Option<FeedbackLabel>,
}

/// A session's key as the label join sees it: window start (ms), address, JA4, host.
pub type LabelKey = (i64, String, String, String);

/// The labelled rows among `sessions`: each with its latest level (from `latest`) and the
/// analyst's label on the session or else on its address; kept when it has such a label
/// or its level is one of `levels`. Shared by every store so that they label alike.
pub fn join_labels(
    sessions: Vec<crate::rows::SessionRow>,
    mut latest: std::collections::HashMap<LabelKey, String>,
    by_session: &std::collections::HashMap<LabelKey, FeedbackLabel>,
    by_ip: &std::collections::HashMap<String, FeedbackLabel>,
    levels: &[ThreatLevel],
) -> Result<Vec<LabelRow>, UnknownLevel> {
    let mut out = Vec::new();
    for s in sessions {
        let key: LabelKey = (
            s.key.window_start.millis(),
            s.key.src_ip.to_string(),
            s.key.ja4_str().to_string(),
            s.key.host.clone(),
        );
        let feedback = by_session.get(&key).or_else(|| by_ip.get(&key.1)).copied();
        let level = latest
            .remove(&key)
            .map(|l| l.parse::<ThreatLevel>())
            .transpose()?;
        let labelled = feedback.is_some() || level.is_some_and(|l| levels.contains(&l));
        if labelled {
            out.push(LabelRow {
                session: s,
                level,
                feedback,
            });
        }
    }
    Ok(out)
}
