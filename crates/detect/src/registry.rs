//! The model registry: versioned models in a directory, one `current` pointer per feature
//! set switched atomically.
//!
//! Layout, per feature set `<set>`:
//! - `<set>-<version>.eif`: the forest ([`IsolationForest::to_bytes`]);
//! - `<set>-<version>.flow`: the normalizing flow trained with it ([`Flow::to_bytes`]),
//!   when there is one;
//! - `<set>-<version>.json`: its [`ModelMeta`];
//! - `<set>.current`: the current version's id, replaced by write + fsync + rename;
//! - `trees-<set>-<version>.gbdt`: the boosted trees, and `trees-<set>.json` their
//!   [`TreesMeta`], which names the version: written after the trees, by write + fsync +
//!   rename, it is the switch, so a crash between the two writes leaves the previous pair
//!   in service (one current model per set, retrained on its own interval, as the
//!   predecessor kept it). A registry written before versioned trees has
//!   `trees-<set>.gbdt`, still read.
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

    /// The metadata file of a set's trees (the switch).
    fn trees_meta_file(&self, set: FeatureSetName) -> PathBuf {
        self.dir.join(format!("trees-{}.json", set.as_str()))
    }

    /// The trees file of one version (`None` for an id that is no plain version).
    fn trees_file(&self, set: FeatureSetName, version: &str) -> Option<PathBuf> {
        let v = version.trim_start_matches("trees-");
        (!v.is_empty() && !v.contains(['/', '\\', '.']))
            .then(|| self.dir.join(format!("trees-{}-{v}.gbdt", set.as_str())))
    }

    /// The boosted trees of a set: `Ok(None)` when none were saved.
    pub fn trees(&self, set: FeatureSetName) -> Result<Option<TreesModel>, RegistryError> {
        let json = self.trees_meta_file(set);
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
        let versioned =
            self.trees_file(set, &meta.version)
                .ok_or_else(|| RegistryError::Corrupt {
                    path: json.clone(),
                    why: format!("invalid trees version {:?}", meta.version),
                })?;
        // Before versioned trees: one file per set.
        let legacy = self.dir.join(format!("trees-{}.gbdt", set.as_str()));
        let bin = if !versioned.exists() && legacy.exists() {
            legacy
        } else {
            versioned
        };
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

    /// Saves a set's boosted trees: the version's trees file first, then the metadata that
    /// names it and makes it current; then the set's older trees files are removed.
    pub fn save_trees(&self, model: &TreesModel) -> Result<(), RegistryError> {
        let set = model.meta.set;
        let bin =
            self.trees_file(set, &model.meta.version)
                .ok_or_else(|| RegistryError::Corrupt {
                    path: self.trees_meta_file(set),
                    why: format!("invalid trees version {:?}", model.meta.version),
                })?;
        write_atomic(&bin, &model.gbdt.to_bytes())?;
        let meta = serde_json::to_vec_pretty(&model.meta).unwrap_or_default();
        write_atomic(&self.trees_meta_file(set), &meta)?;
        // Best effort: a file left behind is only disk space.
        let prefix = format!("trees-{}", set.as_str());
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                let path = e.path();
                let name = e.file_name().to_string_lossy().into_owned();
                if path != bin && name.starts_with(&prefix) && name.ends_with(".gbdt") {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervised::TreesMeta;

    fn trees(version: &str, n_trees: usize) -> TreesModel {
        let x: Vec<f32> = (0..40).map(|i| i as f32).collect();
        let y: Vec<f32> = (0..40).map(|i| f32::from(u8::from(i >= 20))).collect();
        let gbdt = shrike_gbdt::GbdtParams {
            n_trees,
            threads: 1,
            ..shrike_gbdt::GbdtParams::default()
        }
        .fit(&x, 1, &y)
        .unwrap();
        TreesModel {
            meta: TreesMeta {
                version: version.into(),
                set: FeatureSetName::Complete,
                trained_at: String::new(),
                trained_at_ms: 0,
                features: vec!["hits".into()],
                labels: 40,
                analyst_labels: 0,
                removed: [0, 0],
                positives: 20,
                negatives: 20,
                scale_pos_weight: 1.0,
                oof_auc: None,
                train_ms: 0,
                meta: None,
            },
            gbdt,
        }
    }

    #[test]
    fn trees_switch_with_their_metadata_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let r = Registry::open(dir.path()).unwrap();
        let set = FeatureSetName::Complete;
        assert!(r.trees(set).unwrap().is_none());
        let first = trees("trees-20240501T000000-1", 3);
        r.save_trees(&first).unwrap();
        // A crash after the next version's trees were written, before its metadata: the
        // first pair stays in service, whole.
        let second = trees("trees-20240502T000000-1", 7);
        let bin = r.trees_file(set, &second.meta.version).unwrap();
        write_atomic(&bin, &second.gbdt.to_bytes()).unwrap();
        let loaded = r.trees(set).unwrap().unwrap();
        assert_eq!(loaded.meta.version, first.meta.version);
        assert_eq!(loaded.gbdt.to_bytes(), first.gbdt.to_bytes());
        // The save completed: the second pair, and the first trees file is gone.
        r.save_trees(&second).unwrap();
        let loaded = r.trees(set).unwrap().unwrap();
        assert_eq!(loaded.meta.version, second.meta.version);
        assert_eq!(loaded.gbdt.to_bytes(), second.gbdt.to_bytes());
        assert!(!r.trees_file(set, &first.meta.version).unwrap().exists());
    }
}
