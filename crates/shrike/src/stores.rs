//! Opening the configured store: the embedded SQLite file, or ClickHouse when `--store` (or
//! `SHRIKE_STORE`, `store.path`) is a `clickhouse://` address.

use anyhow::Context;
use shrike_clickhouse::ChStore;
use shrike_store::{CycleStore, SqliteStore, VerdictStore};

use crate::config::Settings;

fn clickhouse(url: &shrike_clickhouse::ChUrl) -> anyhow::Result<ChStore> {
    ChStore::open(url.clone()).with_context(|| format!("opening {url}"))
}

/// The store a detection cycle reads and writes.
pub fn cycle_store(settings: &Settings) -> anyhow::Result<Box<dyn CycleStore>> {
    Ok(match &settings.clickhouse {
        Some(url) => Box::new(clickhouse(url)?),
        None => Box::new(SqliteStore::open(&settings.store_path)?),
    })
}

/// The store exports, campaigns and feedback read and write.
pub fn verdict_store(settings: &Settings) -> anyhow::Result<Box<dyn VerdictStore>> {
    Ok(match &settings.clickhouse {
        Some(url) => Box::new(clickhouse(url)?),
        None => Box::new(SqliteStore::open(&settings.store_path)?),
    })
}
