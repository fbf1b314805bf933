//! Opening the configured store: the embedded SQLite file, or ClickHouse when `--store` (or
//! `SHRIKE_STORE`, `store.path`) is a `clickhouse://` address.

use anyhow::Context;
use shrike_clickhouse::ChStore;
use shrike_server::ServeSettings;
use shrike_store::{CycleStore, DashboardStore, SqliteStore, VerdictStore};

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

/// The server's settings for the configured store (each pooled connection opens it anew).
pub fn serve_settings(settings: &Settings) -> ServeSettings {
    match &settings.clickhouse {
        None => ServeSettings::new(settings.store_path.clone()),
        Some(url) => {
            let url = url.clone();
            ServeSettings::with_store(
                url.to_string(),
                std::sync::Arc::new(move || {
                    ChStore::open(url.clone())
                        .map(|s| Box::new(s) as Box<dyn DashboardStore>)
                        .map_err(|e| e.into_store_error(&url))
                }),
            )
        }
    }
}
