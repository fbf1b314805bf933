//! The model registry: versioned models in a directory, one `current` pointer per feature
//! set switched atomically.
//!
//! Layout, per feature set `<set>`:
//! - `<set>-<version>.eif`: the forest ([`IsolationForest::to_bytes`]);
//! - `<set>-<version>.flow`: the normalizing flow trained with it ([`Flow::to_bytes`]),
//!   when there is one;
//! - `<set>-<version>.json`: its [`ModelMeta`];
//! - `<set>.current`: the current version's id, replaced by write + fsync + rename;
//! - `trees-<set>.gbdt` and `trees-<set>.json`: the boosted trees and their [`TreesMeta`]
//!   (one current model per set, retrained on its own interval, as the predecessor kept it).
//!
//! Versions are `YYYYmmddTHHMMSS-<n>` from the injected clock, so they sort by age.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use shrike_flow::Flow;
use shrike_forest::{ForestParams, IsolationForest};
use shrike_gbdt::Gbdt;
use shrike_types::Timestamp;

use crate::drift::FeatureBaseline;
use crate::prep::FeatureSetName;
use crate::supervised::{TreesMeta, TreesModel};

/// What the flow trained with a model did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowMeta {
    /// Mean negative log-likelihood per training row, after each epoch.
    pub losses: Vec<f64>,
    /// Mean −log p(x) on the validation rows.
    pub val_mean_nll: f64,
    /// Training wall time in milliseconds.
    pub train_ms: u64,
}

/// Metadata saved with each model version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// Version id.
    pub version: String,
    /// Feature set.
    pub set: FeatureSetName,
    /// Training time (clock of the cycle), RFC 3339.
    pub trained_at: String,
    /// Training time in epoch milliseconds.
    pub trained_at_ms: i64,
    /// Input columns, in order.
    pub features: Vec<String>,
    /// Columns pruned for low variance.
    pub pruned: Vec<String>,
    /// Baseline statistics per input column.
    pub baseline: BTreeMap<String, FeatureBaseline>,
    /// Forest parameters.
    pub params: ForestParams,
    /// Human-baseline sessions (train + validation).
    pub baseline_sessions: usize,
    /// Training rows (the earliest 80%).
    pub train_size: usize,
    /// Validation rows (the latest 20%).
    pub val_size: usize,
    /// Mean raw score on validation.
    pub val_mean_score: f64,
    /// Share of validation rows scoring below 0 (raw).
    pub val_anomaly_rate: f64,
    /// Training wall time in milliseconds.
    pub train_ms: u64,
    /// Version this one replaced.
    pub previous: Option<String>,
    /// The configured contamination, recorded for reference.
    pub contamination: f64,
    /// The normalizing flow trained with the forest (absent when disabled or failed).
    #[serde(default)]
    pub flow: Option<FlowMeta>,
}

/// A loaded model.
#[derive(Debug, Clone)]
pub struct Model {
    /// Metadata.
    pub meta: ModelMeta,
    /// The forest.
    pub forest: IsolationForest,
    /// The normalizing flow, on the same columns.
    pub flow: Option<Flow>,
}

impl Model {
    /// The model's input columns, in order (names this shrike does not know are skipped).
    pub fn columns(&self) -> Vec<crate::prep::Column> {
        self.meta
            .features
            .iter()
            .filter_map(|f| crate::prep::Column::from_name(f))
            .collect()
    }
}

/// Why the registry failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// File system.
    #[error("model registry {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A pointer naming a missing version, unreadable metadata or a damaged forest.
    #[error("model registry {path}: {why}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

/// The registry directory.
#[derive(Debug, Clone)]
pub struct Registry {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes a file atomically: temporary file, fsync, rename, fsync of the directory.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(io(path))?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

impl Registry {
    /// A registry in `dir` (created when missing).
    pub fn open(dir: &Path) -> Result<Self, RegistryError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        Ok(Registry {
            dir: dir.to_path_buf(),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn pointer(&self, set: FeatureSetName) -> PathBuf {
        self.dir.join(format!("{}.current", set.as_str()))
    }

    fn files(&self, set: FeatureSetName, version: &str) -> (PathBuf, PathBuf) {
        let stem = format!("{}-{version}", set.as_str());
        (
            self.dir.join(format!("{stem}.eif")),
            self.dir.join(format!("{stem}.json")),
        )
    }

    fn flow_file(&self, set: FeatureSetName, version: &str) -> PathBuf {
        self.dir.join(format!("{}-{version}.flow", set.as_str()))
    }

    fn trees_files(&self, set: FeatureSetName) -> (PathBuf, PathBuf) {
        (
            self.dir.join(format!("trees-{}.gbdt", set.as_str())),
            self.dir.join(format!("trees-{}.json", set.as_str())),
        )
    }

    /// The boosted trees of a set: `Ok(None)` when none were saved.
    pub fn trees(&self, set: FeatureSetName) -> Result<Option<TreesModel>, RegistryError> {
        let (bin, json) = self.trees_files(set);
        let meta_text = match std::fs::read_to_string(&json) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&json)(e)),
        };
        let meta: TreesMeta =
            serde_json::from_str(&meta_text).map_err(|e| RegistryError::Corrupt {
                path: json.clone(),
                why: e.to_string(),
            })?;
        let bytes = std::fs::read(&bin).map_err(io(&bin))?;
        let gbdt = Gbdt::from_bytes(&bytes).map_err(|e| RegistryError::Corrupt {
            path: bin.clone(),
            why: e.to_string(),
        })?;
        if gbdt.dims != meta.features.len() {
            return Err(RegistryError::Corrupt {
                path: bin,
                why: format!(
                    "trees have {} inputs, metadata lists {}",
                    gbdt.dims,
                    meta.features.len()
                ),
            });
        }
        Ok(Some(TreesModel { meta, gbdt }))
    }

    /// Saves a set's boosted trees (model first, then the metadata that makes it current).
    pub fn save_trees(&self, model: &TreesModel) -> Result<(), RegistryError> {
        let (bin, json) = self.trees_files(model.meta.set);
        write_atomic(&bin, &model.gbdt.to_bytes())?;
        let meta = serde_json::to_vec_pretty(&model.meta).unwrap_or_default();
        write_atomic(&json, &meta)
    }

    /// The current version of a set: `Ok(None)` without a pointer, an error when the
    /// pointer or the files it names are damaged.
    pub fn current(&self, set: FeatureSetName) -> Result<Option<Model>, RegistryError> {
        let p = self.pointer(set);
        let version = match std::fs::read_to_string(&p) {
            Ok(v) => v.trim().to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&p)(e)),
        };
        self.load(set, &version).map(Some)
    }

    /// Loads one version.
    pub fn load(&self, set: FeatureSetName, version: &str) -> Result<Model, RegistryError> {
        if version.is_empty() || version.contains(['/', '\\', '.']) {
            return Err(RegistryError::Corrupt {
                path: self.pointer(set),
                why: format!("invalid version id {version:?}"),
            });
        }
        let (eif, json) = self.files(set, version);
        let meta_text = std::fs::read_to_string(&json).map_err(io(&json))?;
        let meta: ModelMeta =
            serde_json::from_str(&meta_text).map_err(|e| RegistryError::Corrupt {
                path: json.clone(),
                why: e.to_string(),
            })?;
        let bytes = std::fs::read(&eif).map_err(io(&eif))?;
        let forest = IsolationForest::from_bytes(&bytes).map_err(|e| RegistryError::Corrupt {
            path: eif.clone(),
            why: e.to_string(),
        })?;
        if forest.n_features() != meta.features.len() {
            return Err(RegistryError::Corrupt {
                path: eif,
                why: format!(
                    "forest has {} inputs, metadata lists {}",
                    forest.n_features(),
                    meta.features.len()
                ),
            });
        }
        let flow = if meta.flow.is_some() {
            let path = self.flow_file(set, version);
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            let flow = Flow::from_bytes(&bytes).map_err(|e| RegistryError::Corrupt {
                path: path.clone(),
                why: e.to_string(),
            })?;
            if flow.dims() != meta.features.len() {
                return Err(RegistryError::Corrupt {
                    path,
                    why: "the flow's inputs differ from the forest's".into(),
                });
            }
            Some(flow)
        } else {
            None
        };
        Ok(Model { meta, forest, flow })
    }

    /// A new version id at `now`, unique in the directory.
    pub fn new_version(&self, set: FeatureSetName, now: Timestamp) -> String {
        let t = now.to_string();
        let stamp: String = t
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == 'T')
            .take(15)
            .collect();
        (0..)
            .map(|n| format!("{stamp}-{n}"))
            .find(|v| !self.files(set, v).1.exists())
            .unwrap_or_default()
    }

    /// Saves a model, points `current` at it, and keeps the newest `keep` versions.
    pub fn save(&self, model: &Model, keep: usize) -> Result<(), RegistryError> {
        let set = model.meta.set;
        let (eif, json) = self.files(set, &model.meta.version);
        write_atomic(&eif, &model.forest.to_bytes())?;
        if let Some(flow) = &model.flow {
            write_atomic(&self.flow_file(set, &model.meta.version), &flow.to_bytes())?;
        }
        let meta = serde_json::to_vec_pretty(&model.meta).unwrap_or_default();
        write_atomic(&json, &meta)?;
        write_atomic(&self.pointer(set), model.meta.version.as_bytes())?;
        self.purge(set, keep)
    }

    /// Versions of a set, oldest first.
    pub fn versions(&self, set: FeatureSetName) -> Result<Vec<String>, RegistryError> {
        let prefix = format!("{}-", set.as_str());
        let mut v: Vec<String> = std::fs::read_dir(&self.dir)
            .map_err(io(&self.dir))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|n| {
                n.strip_prefix(&prefix)
                    .and_then(|r| r.strip_suffix(".json"))
                    .map(str::to_string)
            })
            .collect();
        v.sort();
        Ok(v)
    }

    fn purge(&self, set: FeatureSetName, keep: usize) -> Result<(), RegistryError> {
        let versions = self.versions(set)?;
        let current = std::fs::read_to_string(self.pointer(set)).unwrap_or_default();
        let excess = versions.len().saturating_sub(keep.max(1));
        for v in versions.iter().take(excess) {
            if v == current.trim() {
                continue;
            }
            let (eif, json) = self.files(set, v);
            let _ = std::fs::remove_file(eif);
            let _ = std::fs::remove_file(json);
            let _ = std::fs::remove_file(self.flow_file(set, v));
        }
        Ok(())
    }
}
