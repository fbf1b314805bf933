//! Hot reload: a dictionary directory watched between uses.
//!
//! A long-running process (`shrike detect --every`, `shrike serve`) calls
//! [`DictionaryWatch::refresh`] before each unit of work. It compares every dictionary
//! file's size and modification time with what it last loaded and, when one changed,
//! loads the whole directory again. A directory that fails to load (a syntax error in an
//! edited file) keeps the previous dictionaries in service and reports the error; the
//! next refresh tries again. A file that changes while it is being read is loaded at the
//! next refresh, not half-read. Editors and deploy tools that write a new file and rename
//! it over the old one are the safe way to update a dictionary.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::fcrdns::Verifier;
use crate::{DictError, Dictionaries, DictionaryFile, POLICY_FILE, UA_BOTS_FILE};

/// Every file a directory load reads.
fn watched() -> impl Iterator<Item = &'static str> {
    DictionaryFile::ALL
        .iter()
        .map(|k| k.file_name())
        .chain([POLICY_FILE, UA_BOTS_FILE])
}

/// Size and modification time of each dictionary file (`None`: absent).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp(Vec<Option<(u64, SystemTime)>>);

impl Stamp {
    fn of(dir: &Path) -> Stamp {
        Stamp(
            watched()
                .map(|f| {
                    let m = std::fs::metadata(dir.join(f)).ok()?;
                    Some((m.len(), m.modified().ok()?))
                })
                .collect(),
        )
    }

    fn changed_files(&self, other: &Stamp) -> Vec<&'static str> {
        watched()
            .zip(self.0.iter().zip(&other.0))
            .filter(|(_, (a, b))| a != b)
            .map(|(f, _)| f)
            .collect()
    }
}

/// What a refresh did.
#[derive(Debug)]
pub enum Reload {
    /// No file changed since the last load.
    Unchanged,
    /// These files changed and the directory was loaded again.
    Reloaded {
        /// File names that changed (added, edited or removed).
        changed: Vec<&'static str>,
    },
    /// A file changed but the directory no longer loads; the previous dictionaries stay.
    Failed(DictError),
}

/// A dictionary directory and the dictionaries last loaded from it.
#[derive(Debug)]
pub struct DictionaryWatch {
    dir: PathBuf,
    current: Arc<Dictionaries>,
    stamp: Stamp,
    verifier: Option<Arc<Verifier>>,
}

impl DictionaryWatch {
    /// Loads `dir` a first time; an error here is the caller's to report (nothing to fall
    /// back on yet).
    pub fn open(dir: &Path) -> Result<Self, DictError> {
        let stamp = Stamp::of(dir);
        let current = Arc::new(Dictionaries::load_dir(dir)?);
        Ok(DictionaryWatch {
            dir: dir.to_path_buf(),
            current,
            stamp,
            verifier: None,
        })
    }

    /// Verifies claimed crawlers with `v` (its cache lives as long as the watch).
    pub fn with_verifier(mut self, v: Verifier) -> Self {
        self.verifier = Some(Arc::new(v));
        self
    }

    /// The crawler verifier, when enabled.
    pub fn verifier(&self) -> Option<Arc<Verifier>> {
        self.verifier.clone()
    }

    /// The dictionaries in service.
    pub fn current(&self) -> Arc<Dictionaries> {
        Arc::clone(&self.current)
    }

    /// The watched directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Loads the directory again if a file changed since the last load.
    pub fn refresh(&mut self) -> Reload {
        let before = Stamp::of(&self.dir);
        if before == self.stamp {
            return Reload::Unchanged;
        }
        let loaded = Dictionaries::load_dir(&self.dir);
        if Stamp::of(&self.dir) != before {
            // Written to while we read it: take it at the next refresh, whole.
            return Reload::Unchanged;
        }
        let changed = self.stamp.changed_files(&before);
        // The failed content is not retried until it changes again.
        self.stamp = before;
        match loaded {
            Ok(d) => {
                self.current = Arc::new(d);
                Reload::Reloaded { changed }
            }
            Err(e) => Reload::Failed(e),
        }
    }
}
