//! `shrike eval`: detection quality on labelled data, per scorer (forest, flow, trees) and
//! for the ensemble: ROC-AUC, PR-AUC (average precision), and precision and recall at the
//! operating point.
//!
//! - `sim`: simulated traffic through the whole product (ingest, then two cycles: the
//!   first one's verdicts are the labels the second one's trees learn from), scored against
//!   the simulator's ground truth, with a row per bot family.
//! - `web-bots`: the real web-bot-detection logs (Iliou et al.), humans vs moderate bots,
//!   sessions joined through each line's PHP session id; the dataset's train/test split.
//! - `csic`: CSIC 2010, normal vs attack requests (one session per request); the forest and
//!   the flow learn the normal training file, the trees a seeded half of the test files, and
//!   every scorer is measured on the other half.
//!
//! Offline datasets carry no TLS, TCP or ASN data, so the models run on the application
//! feature set outside the cycle (no human baseline by ASN can be formed): the same model
//! code, columns, parameters and combination rule as the cycle.
//!
//! The operating point: the ensemble's alerts (the cycle's threat verdicts for `sim`; a
//! combined score at or above 0.5 offline, since the trees' probability decides the fixed
//! mix only when it is high); each single scorer is measured at the same number of alerts
//! (its top-k), so that the rows compare like with like.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use shrike_detect::prep::{self, BrowserId, Column};
use shrike_detect::supervised::{out_of_fold, LogReg};
use shrike_detect::{DetectConfig, FeatureSetName, Session, ThreatLevel};
use shrike_flow::FlowParams;
use shrike_forest::{dataset::roc_auc, ForestParams, IsolationForest};
use shrike_gbdt::GbdtParams;
use shrike_store::SqliteStore;

use crate::config::Config;
use crate::simulate::SimulateArgs;
use crate::CommonOpts;

mod data;
mod ja4;
use data::{csic, web_bots};

/// `shrike eval` datasets.
#[derive(Subcommand)]
pub enum EvalCommand {
    /// Simulated traffic through ingest and two detection cycles.
    Sim(EvalSimArgs),
    /// The web-bot-detection logs (humans vs moderate bots, session level).
    WebBots(EvalDataArgs),
    /// CSIC 2010 (normal vs attack requests).
    Csic(EvalDataArgs),
    /// JA4 read from captures against a reference tool's output for the same captures.
    Ja4(ja4::EvalJa4Args),
}

/// Arguments of `shrike eval sim`.
#[derive(Args, Clone)]
pub struct EvalSimArgs {
    #[command(flatten)]
    pub sim: SimulateArgs,
    /// Append the results as Markdown to this file.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Run without `asn_reputation.csv` (a new user's first run on their own logs): the
    /// simulated dictionaries are written, then that file is removed before the ingest.
    #[arg(long)]
    pub without_asn_reputation: bool,
}

/// Arguments of `shrike eval web-bots` and `shrike eval csic`.
#[derive(Args, Clone)]
pub struct EvalDataArgs {
    /// The dataset's directory [default: ../shared/data/<dataset> or $SHRIKE_SHARED_DATA].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Working directory (the temporary store).
    #[arg(long, default_value = "shrike-data/eval")]
    pub out: PathBuf,
    /// Append the results as Markdown to this file.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

/// One scorer's figures.
#[derive(Debug, Clone)]
pub struct Row {
    /// Scorer (or `family` rows for the simulator).
    pub scorer: String,
    /// Positives, negatives.
    pub pos: usize,
    /// Negatives.
    pub neg: usize,
    /// ROC-AUC.
    pub roc_auc: Option<f64>,
    /// Average precision.
    pub pr_auc: Option<f64>,
    /// Precision at the operating point.
    pub precision: f64,
    /// Recall at the operating point.
    pub recall: f64,
}

/// Average precision (area under the precision-recall curve, step-wise, ties grouped).
pub fn pr_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let pos = labels.iter().filter(|l| **l).count();
    if pos == 0 || pos == labels.len() {
        return None;
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
    let (mut tp, mut seen, mut ap, mut last_recall) = (0usize, 0usize, 0.0, 0.0);
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        for k in i..=j {
            seen += 1;
            tp += labels[idx[k]] as usize;
        }
        let recall = tp as f64 / pos as f64;
        ap += (recall - last_recall) * tp as f64 / seen as f64;
        last_recall = recall;
        i = j + 1;
    }
    Some(ap)
}

/// Precision and recall of the `k` highest scores.
fn at_top(scores: &[f64], labels: &[bool], k: usize) -> (f64, f64) {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b)));
    let tp = idx.iter().take(k).filter(|i| labels[**i]).count();
    let pos = labels.iter().filter(|l| **l).count();
    (
        if k > 0 { tp as f64 / k as f64 } else { 0.0 },
        if pos > 0 { tp as f64 / pos as f64 } else { 0.0 },
    )
}

fn row(scorer: &str, scores: &[f64], labels: &[bool], alerts: usize) -> Row {
    let (precision, recall) = at_top(scores, labels, alerts);
    let pos = labels.iter().filter(|l| **l).count();
    Row {
        scorer: scorer.into(),
        pos,
        neg: labels.len() - pos,
        roc_auc: roc_auc(scores, labels),
        pr_auc: pr_auc(scores, labels),
        precision,
        recall,
    }
}

fn print_rows(
    title: &str,
    note: &str,
    rows: &[Row],
    markdown: Option<&Path>,
) -> anyhow::Result<()> {
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    println!("\n{title}");
    println!(
        "{:<28} {:>6} {:>6} {:>8} {:>8} {:>9} {:>7}",
        "scorer", "pos", "neg", "ROC-AUC", "PR-AUC", "precision", "recall"
    );
    for r in rows {
        println!(
            "{:<28} {:>6} {:>6} {:>8} {:>8} {:>9.3} {:>7.3}",
            r.scorer,
            r.pos,
            r.neg,
            f(r.roc_auc),
            f(r.pr_auc),
            r.precision,
            r.recall
        );
    }
    println!("{note}");
    if let Some(path) = markdown {
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        writeln!(out, "\n### {title}\n\n{note}\n")?;
        writeln!(
            out,
            "| scorer | pos | neg | ROC-AUC | PR-AUC | precision | recall |"
        )?;
        writeln!(out, "|---|---:|---:|---:|---:|---:|---:|")?;
        for r in rows {
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {:.3} | {:.3} |",
                r.scorer,
                r.pos,
                r.neg,
                f(r.roc_auc),
                f(r.pr_auc),
                r.precision,
                r.recall
            )?;
        }
    }
    Ok(())
}

/// `shrike eval`.
pub fn run(config: Config, cmd: EvalCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        EvalCommand::Sim(a) => sim(config, a),
        EvalCommand::WebBots(a) => web_bots(config, a),
        EvalCommand::Csic(a) => csic(config, a),
        EvalCommand::Ja4(a) => ja4::run(a),
    }
}

fn sim(config: Config, a: EvalSimArgs) -> anyhow::Result<ExitCode> {
    let cfg = config.detect()?;
    let sim_cfg = a.sim.config()?;
    println!(
        "simulating {} hours on {} sites (seed {})",
        sim_cfg.hours, sim_cfg.hosts, sim_cfg.seed
    );
    shrike_sim::simulate(&sim_cfg, &a.sim.out)?;
    if a.without_asn_reputation {
        let file = a
            .sim
            .out
            .join("dict")
            .join(shrike_dict::DictionaryFile::AsnReputation.file_name());
        std::fs::remove_file(&file).with_context(|| {
            format!("--without-asn-reputation: cannot remove {}", file.display())
        })?;
        println!("without {}: every ASN label is unknown", file.display());
    }
    let (mut store, settings, mut watch) = ingest_fresh(
        config,
        CommonOpts {
            store: Some(a.sim.out.join("eval.db")),
            dict_dir: Some(a.sim.out.join("dict")),
            horizon_hours: Some(sim_cfg.hours.max(1)),
        },
        a.sim.out.join("traffic.jsonl"),
    )?;
    let models = a.sim.out.join("eval-models");
    let _ = std::fs::remove_dir_all(&models);
    let registry = shrike_detect::Registry::open(&models)?;
    let (mut first, mut last) = (None, None);
    for n in 1..=2 {
        let Some(r) = crate::detect::runner(&cfg, &registry, &settings).run(
            &mut store,
            None,
            watch.as_mut(),
        )?
        else {
            anyhow::bail!("the simulation produced no sessions");
        };
        let trees: Vec<String> = r
            .output
            .decisions
            .iter()
            .filter(|d| {
                use shrike_detect::DecisionKind as K;
                matches!(
                    d.kind,
                    K::TreesLoaded | K::TreesTrained | K::TreesSkipped | K::LabelIssuesRemoved
                )
            })
            .map(|d| {
                let set = d.model.map_or("", |m| m.as_str());
                format!("{} {set} {}", d.kind.as_str(), d.payload)
            })
            .collect();
        let m = &r.output.metrics;
        let known = m
            .levels
            .get(shrike_detect::ThreatLevel::KnownBot.as_str())
            .copied()
            .unwrap_or(0);
        println!(
            "cycle {n}: {} sessions, {} of the {} not known bots scored; {}",
            r.sessions.len(),
            m.scored,
            m.sessions - known,
            trees.join("; ")
        );
        first.get_or_insert_with(|| r.output.verdicts.clone());
        last = Some(r);
    }
    let first = first.expect("two cycles ran");
    let shrike_detect::CycleRun {
        sessions,
        output: out,
        ..
    } = last.expect("two cycles ran");
    let labels = crate::demo::read_labels(&a.sim.out.join("session_labels.csv"))?;
    let mut keep = Vec::new();
    for (i, (s, v)) in sessions.iter().zip(&out.verdicts).enumerate() {
        if let (Some(_), Some((class, family))) = (v.model, labels.get(s.key())) {
            keep.push((i, class == "bad_bot", family.clone()));
        }
    }
    let y: Vec<bool> = keep.iter().map(|k| k.1).collect();
    let pick = |f: &dyn Fn(&shrike_detect::Verdict) -> f64| -> Vec<f64> {
        keep.iter().map(|k| f(&out.verdicts[k.0])).collect()
    };
    let flagged = |v: &shrike_detect::Verdict| v.is_anomaly || v.level == ThreatLevel::AnubisDeny;
    let alerts = keep.iter().filter(|k| flagged(&out.verdicts[k.0])).count();
    let ens = pick(&|v| v.anomaly_score);
    let (tp, fp) = keep.iter().fold((0, 0), |(tp, fp), k| {
        if flagged(&out.verdicts[k.0]) {
            if k.1 {
                (tp + 1, fp)
            } else {
                (tp, fp + 1)
            }
        } else {
            (tp, fp)
        }
    });
    let pos = y.iter().filter(|v| **v).count();
    let mut ens_row = row("ensemble (cycle verdicts)", &ens, &y, alerts);
    ens_row.precision = tp as f64 / (tp + fp).max(1) as f64;
    ens_row.recall = tp as f64 / pos.max(1) as f64;
    // The same sessions in the first cycle, before any trees: the verdict's score, and the
    // unsupervised scorers' combination alone (the verdict's score out of its half).
    let first_score: Vec<f64> = keep.iter().map(|k| first[k.0].anomaly_score).collect();
    let first_scorers: Vec<f64> = keep
        .iter()
        .map(|k| {
            let v = &first[k.0];
            2.0 * v.anomaly_score - if flagged(v) { 1.0 } else { 0.0 }
        })
        .collect();
    let with_flow = keep.iter().any(|k| out.verdicts[k.0].flow_score.is_some());
    let mut rows = vec![row("forest", &pick(&|v| v.forest_score), &y, alerts)];
    if with_flow {
        rows.push(row(
            "flow",
            &pick(&|v| v.flow_score.unwrap_or(0.0)),
            &y,
            alerts,
        ));
    }
    rows.extend([
        row("trees", &pick(&|v| v.trees_prob.unwrap_or(0.0)), &y, alerts),
        ens_row,
        row("ensemble, first cycle (no trees)", &first_score, &y, alerts),
        row(
            if with_flow {
                "scorers alone, first cycle (forest and flow)"
            } else {
                "scorers alone, first cycle (forest)"
            },
            &first_scorers,
            &y,
            alerts,
        ),
    ]);
    // Per bot family: that family's sessions against every negative.
    let families: BTreeMap<&str, ()> = keep
        .iter()
        .filter(|k| k.1)
        .map(|k| (k.2.as_str(), ()))
        .collect();
    for family in families.keys() {
        let sub: Vec<usize> = (0..keep.len())
            .filter(|i| !keep[*i].1 || keep[*i].2 == *family)
            .collect();
        let fy: Vec<bool> = sub.iter().map(|i| keep[*i].1).collect();
        let fs: Vec<f64> = sub.iter().map(|i| ens[*i]).collect();
        let caught = sub
            .iter()
            .filter(|i| keep[**i].1 && flagged(&out.verdicts[keep[**i].0]))
            .count();
        let n = fy.iter().filter(|v| **v).count();
        let mut r = row(&format!("ensemble: {family}"), &fs, &fy, 0);
        r.recall = caught as f64 / n.max(1) as f64;
        r.precision = f64::NAN;
        rows.push(r);
    }
    // Every family's verdicts: what share is flagged, made LEGITIMATE_BROWSER, named by a
    // cross-layer finding (the layers that disagree lead its reason), or named as a
    // browser's stack driven like a script (the behaviour leads its reason).
    let mut by_family: BTreeMap<(&str, &str), [usize; 5]> = BTreeMap::new();
    for (i, s) in sessions.iter().enumerate() {
        let Some((class, family)) = labels.get(s.key()) else {
            continue;
        };
        let v = &out.verdicts[i];
        let c = by_family
            .entry((class.as_str(), family.as_str()))
            .or_default();
        c[0] += 1;
        c[1] += usize::from(flagged(v));
        c[2] += usize::from(v.level == ThreatLevel::LegitimateBrowser);
        c[3] += usize::from(v.reason.starts_with("[Impersonation]"));
        c[4] += usize::from(v.reason.starts_with("[Behaviour]"));
    }
    println!("\nclass       family                     sessions  flagged  legitimate_browser  impersonation_named  behaviour_named");
    for ((class, family), [n, f, l, named, behaviour]) in &by_family {
        let pct = |k: &usize| 100.0 * *k as f64 / (*n).max(1) as f64;
        println!(
            "{class:<11} {family:<26} {n:>8} {:>7.1}% {:>18.1}% {:>19.1}% {:>15.1}%",
            pct(f),
            pct(l),
            pct(named),
            pct(behaviour)
        );
    }
    let ensemble = out
        .metrics
        .ensemble
        .iter()
        .map(|(k, e)| {
            format!(
                "{k}: {} (forest {:.2}, flow {:.2}, trees {:.2}, {} labels)",
                e.mode, e.forest, e.flow, e.trees, e.labels
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    print_rows(
        &format!(
            "Simulator ({} h, {} sites, seed {}): scored sessions of the second cycle, bad bots vs humans and good bots",
            sim_cfg.hours, sim_cfg.hosts, sim_cfg.seed
        ),
        &format!(
            "Combination: {ensemble}. Operating point: the cycle's threat verdicts ({alerts} alerts); single scorers at the same number of alerts. Family rows: that family against every negative; recall = share of the family flagged (precision not defined per family: NaN)."
        ),
        &rows,
        a.markdown.as_deref(),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// A labelled session for offline evaluation: its features, its label, its group (the
/// unit the label belongs to: a PHP session, a request) and its split.
struct Item {
    session: Session,
    bot: bool,
    group: String,
    train: bool,
}

/// Writes records as shrike JSON Lines, ingests them into a fresh store, and returns the
/// stored sessions.
fn sessions_of(
    records: &[serde_json::Value],
    out: &Path,
    config: Config,
) -> anyhow::Result<Vec<Session>> {
    std::fs::create_dir_all(out)?;
    let jsonl = out.join("records.jsonl");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&jsonl)?);
        for r in records {
            serde_json::to_writer(&mut w, r)?;
            w.write_all(b"\n")?;
        }
    }
    let (store, _, _) = ingest_fresh(
        config,
        CommonOpts {
            store: Some(out.join("eval.db")),
            dict_dir: None,
            horizon_hours: Some(720),
        },
        jsonl,
    )?;
    Ok(store
        .sessions()?
        .into_iter()
        .map(shrike_detect::Session::new)
        .collect())
}

/// Ingests a JSON Lines file into a fresh store (the one `common` names, emptied first)
/// and returns the store, its settings and the dictionaries in service.
fn ingest_fresh(
    config: Config,
    common: CommonOpts,
    jsonl: PathBuf,
) -> anyhow::Result<(
    SqliteStore,
    crate::config::Settings,
    Option<shrike_dict::DictionaryWatch>,
)> {
    if let Some(p) = &common.store {
        crate::demo::remove_store(p);
    }
    let settings = config.resolve(&crate::config::Overrides::common(&common))?;
    let watch = crate::detect::watch_dictionaries(&settings)?;
    let dict = watch
        .as_ref()
        .map(shrike_dict::DictionaryWatch::current)
        .unwrap_or_default();
    let mut store = SqliteStore::open(&settings.store_path)?;
    crate::ingest::ingest_simulated(&mut store, &settings, &dict, jsonl)?;
    Ok((store, settings, watch))
}

/// Trains every scorer on `train` and scores `test`: per test item, [forest, flow, trees,
/// ensemble], plus a description of the ensemble used.
fn fit_and_score(
    cfg: &DetectConfig,
    train: &[&Item],
    test: &[&Item],
) -> anyhow::Result<(Vec<[f64; 4]>, String)> {
    let browsers = |v: &[&Item]| -> Vec<BrowserId> {
        v.iter()
            .map(|i| prep::identify_browser(&i.session))
            .collect()
    };
    let (btr, bte) = (browsers(train), browsers(test));
    let matrix = |v: &[&Item], b: &[BrowserId], cols: &[Column]| {
        let s: Vec<&Session> = v.iter().map(|i| &i.session).collect();
        let b: Vec<&BrowserId> = b.iter().collect();
        prep::matrix(&s, &b, cols)
    };
    // Columns that vary in the training rows.
    let all = shrike_detect::prep::columns(FeatureSetName::Application);
    let x = matrix(train, &btr, &all);
    let cols: Vec<Column> = all
        .iter()
        .zip(prep::columns_of(&x, all.len()))
        .filter(|(_, c)| c.windows(2).any(|w| w[0] != w[1]))
        .map(|(c, _)| *c)
        .collect();
    let k = cols.len();
    let xtr = matrix(train, &btr, &cols);
    let xte = matrix(test, &bte, &cols);
    let ytr: Vec<bool> = train.iter().map(|i| i.bot).collect();
    // Unsupervised scorers learn the training humans.
    let humans: Vec<f64> = xtr
        .chunks_exact(k)
        .zip(&ytr)
        .filter(|(_, b)| !**b)
        .flat_map(|(r, _)| r.iter().copied())
        .collect();
    let forest = IsolationForest::fit(
        &humans,
        k,
        &ForestParams {
            trees: cfg.trees,
            ndim: cfg.ndim,
            sample_size: cfg.sample_size,
            max_depth: None,
            seed: cfg.seed,
            threads: 0,
        },
    )?;
    let f32s = |x: &[f64]| -> Vec<f32> { x.iter().map(|v| *v as f32).collect() };
    // The flow is always trained and measured (a reference row); it votes only when
    // `flow_weight` puts it in the ensemble, as in the cycle.
    let with_flow = cfg.flow_weight > 0.0;
    let flow = FlowParams {
        epochs: cfg.flow_epochs,
        seed: cfg.seed,
        ..FlowParams::default()
    }
    .fit(&f32s(&humans), k)?;
    let norm = |train: &[f64]| {
        let lo = train.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = train.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        move |v: f64| {
            if hi > lo {
                ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
            } else {
                0.0
            }
        }
    };
    let forest_tr = forest.score(&xtr)?;
    let flow_tr: Vec<f64> = flow
        .score(&f32s(&xtr), 0)?
        .into_iter()
        .map(f64::from)
        .collect();
    let (fnorm, flnorm) = (norm(&forest_tr), norm(&flow_tr));
    // Trees, with the cycle's class weighting; out-of-fold probabilities for the
    // meta-learner.
    let y32: Vec<f32> = ytr.iter().map(|b| f32::from(u8::from(*b))).collect();
    let pos = ytr.iter().filter(|b| **b).count();
    let params = GbdtParams {
        scale_pos_weight: ((ytr.len() - pos) / pos.max(1)).max(1) as f64,
        ..GbdtParams::default()
    };
    let gbdt = params.fit(&f32s(&xtr), k, &y32)?;
    let meta = if ytr.len() >= cfg.meta_min_labels {
        let quick = GbdtParams {
            n_trees: 80,
            max_depth: 4,
            learning_rate: 0.15,
            ..GbdtParams::default()
        };
        let oof = out_of_fold(&f32s(&xtr), k, &y32, 3, &quick, cfg.seed)?;
        // The flow is an input only when it is in the ensemble (flow_weight > 0).
        let mx: Vec<f64> = (0..ytr.len())
            .flat_map(|i| {
                let mut r = vec![fnorm(forest_tr[i])];
                if with_flow {
                    r.push(flnorm(flow_tr[i]));
                }
                r.push(oof[i]);
                r
            })
            .collect();
        Some(LogReg::fit(&mx, 2 + usize::from(with_flow), &ytr, 1e-3))
    } else {
        None
    };
    let forest_te: Vec<f64> = forest.score(&xte)?.into_iter().map(&fnorm).collect();
    let flow_te: Vec<f64> = flow
        .score(&f32s(&xte), 0)?
        .into_iter()
        .map(|v| flnorm(f64::from(v)))
        .collect();
    let trees_te = gbdt.probabilities(&f32s(&xte), 2);
    let (a, b) = (cfg.flow_weight, cfg.trees_weight);
    let ens_te: Vec<f64> = (0..test.len())
        .map(|i| match &meta {
            Some(m) if with_flow => m.predict(&[forest_te[i], flow_te[i], trees_te[i]]),
            Some(m) => m.predict(&[forest_te[i], trees_te[i]]),
            None => (1.0 - b) * ((1.0 - a) * forest_te[i] + a * flow_te[i]) + b * trees_te[i],
        })
        .collect();
    let scores = (0..test.len())
        .map(|i| [forest_te[i], flow_te[i], trees_te[i], ens_te[i]])
        .collect();
    let what = format!(
        "{k} application features vary; ensemble {}",
        match &meta {
            Some(m) if with_flow => format!(
                "meta-learner (forest {:.2}, flow {:.2}, trees {:.2}, bias {:.2})",
                m.weights[0], m.weights[1], m.weights[2], m.bias
            ),
            Some(m) => format!(
                "meta-learner (forest {:.2}, trees {:.2}, bias {:.2}; the flow not in it)",
                m.weights[0], m.weights[1], m.bias
            ),
            None => format!(
                "fixed weights below {} labels (forest {:.2}, flow {:.2}, trees {:.2})",
                cfg.meta_min_labels,
                (1.0 - a) * (1.0 - b),
                a * (1.0 - b),
                b
            ),
        }
    );
    Ok((scores, what))
}

/// Measures every scorer per group (a group's score is its most anomalous session's):
/// trained on the `train` items and measured on the others, or, with `folds`, by
/// cross-validation over groups (stratified by label, seeded), the held-out scores pooled.
fn offline(
    cfg: &DetectConfig,
    items: &[Item],
    folds: Option<usize>,
) -> anyhow::Result<(Vec<Row>, String)> {
    let mut scored: Vec<(&Item, [f64; 4])> = Vec::new();
    let mut what = String::new();
    let mut fold_of: HashMap<&str, usize> = HashMap::new();
    if let Some(k) = folds {
        let mut groups: BTreeMap<&str, bool> = BTreeMap::new();
        for it in items {
            groups.insert(it.group.as_str(), it.bot);
        }
        let mut rng = shrike_types::Rng::seed_from_u64(cfg.seed);
        for class in [false, true] {
            let mut g: Vec<&str> = groups
                .iter()
                .filter(|(_, b)| **b == class)
                .map(|(g, _)| *g)
                .collect();
            for i in (1..g.len()).rev() {
                g.swap(i, rng.below(i as u64 + 1) as usize);
            }
            for (n, id) in g.into_iter().enumerate() {
                fold_of.insert(id, n % k);
            }
        }
    }
    let rounds = folds.unwrap_or(1);
    for f in 0..rounds {
        let (train, test): (Vec<&Item>, Vec<&Item>) = items.iter().partition(|i| match folds {
            Some(_) => fold_of[i.group.as_str()] != f,
            None => i.train,
        });
        let (scores, w) = fit_and_score(cfg, &train, &test)?;
        if f == 0 {
            what = format!(
                "{} training sessions ({} bot) per round, {w}",
                train.len(),
                train.iter().filter(|i| i.bot).count()
            );
        }
        scored.extend(test.into_iter().zip(scores));
    }
    let mut groups: BTreeMap<&str, (bool, [f64; 4])> = BTreeMap::new();
    for (it, s) in &scored {
        let e = groups
            .entry(it.group.as_str())
            .or_insert((it.bot, [f64::NEG_INFINITY; 4]));
        for (slot, v) in e.1.iter_mut().zip(s) {
            *slot = slot.max(*v);
        }
    }
    let y: Vec<bool> = groups.values().map(|g| g.0).collect();
    let col = |j: usize| -> Vec<f64> { groups.values().map(|g| g.1[j]).collect() };
    let ens = col(3);
    let alerts = ens.iter().filter(|v| **v >= 0.5).count();
    let rows = vec![
        row("forest", &col(0), &y, alerts),
        row(
            if cfg.flow_weight > 0.0 {
                "flow"
            } else {
                "flow (reference, not in the ensemble)"
            },
            &col(1),
            &y,
            alerts,
        ),
        row("trees", &col(2), &y, alerts),
        row("ensemble", &ens, &y, alerts),
    ];
    let what = format!(
        "{}; {} test sessions in {} groups{}; operating point: ensemble ≥ 0.5 ({alerts} alerts), single scorers at the same number of alerts",
        what,
        scored.len(),
        groups.len(),
        folds.map_or(String::new(), |k| format!(" ({k}-fold cross-validation by group, held-out scores pooled)"))
    );
    Ok((rows, what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_precision_of_known_rankings() {
        assert_eq!(pr_auc(&[0.9, 0.8, 0.1], &[true, true, false]), Some(1.0));
        // Ranking: neg, pos, pos → precision at the two hits 1/2 and 2/3.
        let ap = pr_auc(&[0.9, 0.8, 0.7], &[false, true, true]).unwrap();
        assert!((ap - (0.5 * 0.5 + 0.5 * 2.0 / 3.0)).abs() < 1e-12);
        assert_eq!(pr_auc(&[0.1, 0.2], &[false, false]), None);
    }
}
