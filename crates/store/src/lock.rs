//! One writer at a time: `ingest` reads the stored session states, merges its records into
//! them and writes them back, and `detect` reads the sessions and writes a cycle. Two such
//! runs on one store at once would each write back a merge the other never saw. A
//! [`WriterLock`] serialises them: an exclusive advisory lock (`flock`) on `<store>.lock`
//! beside the store file, held for the run and released when dropped or when the process
//! dies (a `kill -9` leaves no stale lock). Readers (the server, exports) take no lock:
//! SQLite's WAL gives them a consistent snapshot.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another writer held the store for the whole wait.
    #[error(
        "store {store} is busy: another shrike writer ({holder}) held it for {waited_s} s; \
         try again when it is done, or wait longer (store.lock_wait_secs)"
    )]
    Busy {
        /// The store file.
        store: PathBuf,
        /// What the lock file says of its holder.
        holder: String,
        /// Seconds waited.
        waited_s: u64,
    },
    /// The lock file could not be opened or locked.
    #[error("store {store}: cannot lock {lock}: {source}")]
    Io {
        /// The store file.
        store: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// An exclusive lock on a store for one writing run; released when dropped.
#[derive(Debug)]
pub struct WriterLock {
    file: File,
}

impl WriterLock {
    /// The lock file of a store: `<store>.lock`.
    pub fn path_of(store: &Path) -> PathBuf {
        let mut name = store.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    }

    /// Takes the lock of `store`, waiting up to `wait` for another writer to release it;
    /// `waiting` is called once, with the holder's description, if the lock is not free at
    /// once. The holder's description (`what`, with the process id) is written into the
    /// lock file for whoever waits next.
    pub fn acquire(
        store: &Path,
        what: &str,
        wait: Duration,
        mut waiting: impl FnMut(&str),
    ) -> Result<WriterLock, LockError> {
        let lock = Self::path_of(store);
        let io = |source| LockError::Io {
            store: store.to_path_buf(),
            lock: lock.clone(),
            source,
        };
        if let Some(dir) = lock.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock)
            .map_err(io)?;
        let started = Instant::now();
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let holder = holder(&mut file);
                    if started.elapsed() >= wait {
                        return Err(LockError::Busy {
                            store: store.to_path_buf(),
                            holder,
                            waited_s: started.elapsed().as_secs(),
                        });
                    }
                    if !told {
                        waiting(&holder);
                        told = true;
                    }
                    std::thread::sleep(Duration::from_millis(50).min(wait));
                }
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
        }
        // Ours now: say who holds it.
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        write!(file, "{what} (pid {})", std::process::id()).map_err(io)?;
        Ok(WriterLock { file })
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

fn holder(file: &mut File) -> String {
    let mut s = String::new();
    let _ = file.seek(SeekFrom::Start(0));
    let _ = file.take(200).read_to_string(&mut s);
    if s.is_empty() {
        "unknown".into()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_waits_then_gives_up_naming_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("s.db");
        let first = WriterLock::acquire(&store, "shrike ingest", Duration::ZERO, |_| {}).unwrap();
        let mut seen = String::new();
        let err = WriterLock::acquire(&store, "shrike detect", Duration::from_millis(120), |h| {
            seen = h.to_string()
        })
        .unwrap_err();
        assert!(seen.starts_with("shrike ingest (pid "), "{seen}");
        let text = err.to_string();
        assert!(
            text.contains("is busy: another shrike writer (shrike ingest (pid"),
            "{text}"
        );
        // Released when dropped: the next writer gets it at once.
        drop(first);
        let again = WriterLock::acquire(&store, "shrike detect", Duration::ZERO, |_| {
            panic!("not free")
        });
        assert!(again.is_ok());
    }
}
