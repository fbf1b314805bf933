//! The server's shared state: the store connections, the response cache, the cluster map
//! job and the request counters, owned by one [`AppState`] that handlers share.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use shrike_store::{DashboardStore, SqliteStore, StoreError};
use shrike_types::Clock;

use crate::error::{ApiError, ApiResult};
use crate::map::MapJob;
use crate::ops::Metrics;

/// What `shrike serve` needs to know.
#[derive(Clone)]
pub struct ServeSettings {
    /// The store, as shown in logs (a SQLite file or a ClickHouse address).
    pub store_label: String,
    /// Opens a connection to the store (called once per pooled connection).
    pub open_store: StoreOpener,
    /// Bearer token (required beyond loopback).
    pub token: Option<String>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How long a computed cluster map stays fresh.
    pub map_ttl: Duration,
    /// Worker threads of the cluster map (0: one per core).
    pub map_threads: usize,
    /// Seed of the cluster map's k-means.
    pub map_seed: u64,
    /// Largest number of (IP, JA4) rows the cluster map reads.
    pub map_max_rows: usize,
    /// Host names the server answers to besides loopback names and address literals
    /// (`serve.public_names`); see [`crate::auth::host_allowed`].
    pub public_names: Vec<String>,
    /// Connections served at once; a new one beyond is closed at once.
    pub max_connections: usize,
    /// Time a client has to send a request's head, the next one's on a kept-alive
    /// connection included: a slow sender cannot hold a slot.
    pub header_read_timeout: Duration,
    /// Longest a connection stays open, busy or idle.
    pub connection_lifetime: Duration,
    /// API keys CrowdSec bouncers present in `X-Api-Key` (none: the bouncer API answers
    /// 403).
    pub bouncer_keys: Vec<String>,
    /// How long a bouncer keeps a decision if shrike stops answering (Go duration).
    pub bouncer_duration: String,
    /// The status of the `shrike run` service this server is part of (`None` for
    /// `shrike serve`).
    pub service: Option<crate::service::ServiceHandle>,
}

/// The token is never printed.
impl std::fmt::Debug for ServeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeSettings")
            .field("store", &self.store_label)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("max_body_bytes", &self.max_body_bytes)
            .field("map_ttl", &self.map_ttl)
            .field("map_threads", &self.map_threads)
            .field("map_seed", &self.map_seed)
            .field("map_max_rows", &self.map_max_rows)
            .field("public_names", &self.public_names)
            .field("max_connections", &self.max_connections)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("connection_lifetime", &self.connection_lifetime)
            .field("bouncer_keys", &self.bouncer_keys.len())
            .field("bouncer_duration", &self.bouncer_duration)
            .field("service", &self.service.is_some())
            .finish()
    }
}

impl ServeSettings {
    /// Defaults for a store: no token, 64 KiB bodies, maps fresh for 30 minutes (the seed's
    /// TTL), seed 42, at most two million map rows, 512 connections, 10 s to send a request
    /// head, connections closed after two minutes.
    pub fn new(store_path: PathBuf) -> Self {
        let label = store_path.display().to_string();
        Self::with_store(
            label,
            Arc::new(move || {
                Ok(Box::new(SqliteStore::open(&store_path)?) as Box<dyn DashboardStore>)
            }),
        )
    }

    /// Defaults for the store that `open_store` opens.
    pub fn with_store(store_label: String, open_store: StoreOpener) -> Self {
        ServeSettings {
            store_label,
            open_store,
            token: None,
            max_body_bytes: 64 * 1024,
            map_ttl: Duration::from_secs(1800),
            map_threads: 0,
            map_seed: 42,
            map_max_rows: 2_000_000,
            public_names: Vec::new(),
            max_connections: 512,
            header_read_timeout: Duration::from_secs(10),
            connection_lifetime: Duration::from_secs(120),
            bouncer_keys: Vec::new(),
            bouncer_duration: "4h".into(),
            service: None,
        }
    }
}

/// Opens a store connection.
pub type StoreOpener = Arc<dyn Fn() -> Result<Box<dyn DashboardStore>, StoreError> + Send + Sync>;

/// Identifies the store's content: changes whenever a cycle or a feedback label is written.
pub type Generation = (i64, i64, i64);

/// Cached JSON responses of the current generation.
#[derive(Default)]
struct ResponseCache {
    generation: Option<Generation>,
    entries: HashMap<String, Bytes>,
}

/// Most responses kept per generation; past it the cache starts afresh.
const CACHE_ENTRIES: usize = 512;

/// Shared state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    settings: ServeSettings,
    clock: Arc<dyn Clock>,
    pool: Mutex<Vec<Box<dyn DashboardStore>>>,
    cache: Mutex<ResponseCache>,
    /// One build at a time per cache key: concurrent misses wait for the first.
    building: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    map: MapJob,
    metrics: Metrics,
    enforce: crate::api::enforce::EnforceCell,
    bouncers: crate::api::bouncer::BouncerCell,
}

impl AppState {
    /// Opens the store (creating and migrating it if needed) and builds the state.
    pub fn new(settings: ServeSettings, clock: Arc<dyn Clock>) -> Result<Self, ApiError> {
        let store = (settings.open_store)()?;
        let generation = store.generation()?;
        let map = MapJob::new(settings.map_ttl);
        Ok(AppState {
            inner: Arc::new(Inner {
                settings,
                clock,
                pool: Mutex::new(vec![store]),
                cache: Mutex::new(ResponseCache {
                    generation: Some(generation),
                    entries: HashMap::new(),
                }),
                building: Mutex::new(HashMap::new()),
                map,
                metrics: Metrics::default(),
                enforce: Default::default(),
                bouncers: Default::default(),
            }),
        })
    }

    /// Settings.
    pub fn settings(&self) -> &ServeSettings {
        &self.inner.settings
    }

    /// The token, if any.
    pub fn token(&self) -> Option<&str> {
        self.inner.settings.token.as_deref()
    }

    /// The injected clock.
    pub fn clock(&self) -> &dyn Clock {
        self.inner.clock.as_ref()
    }

    /// The cluster map job.
    pub fn map(&self) -> &MapJob {
        &self.inner.map
    }

    /// Request counters.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// What each CrowdSec bouncer was last sent.
    pub fn bouncers(&self) -> &crate::api::bouncer::BouncerCell {
        &self.inner.bouncers
    }

    /// The verdict index behind `GET /v1/auth`.
    pub fn enforce(&self) -> &crate::api::enforce::EnforceCell {
        &self.inner.enforce
    }

    /// Runs `f` on a store connection, on a blocking thread (SQLite calls block).
    pub async fn with_store<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn DashboardStore) -> ApiResult<T> + Send + 'static,
    {
        let state = self.clone();
        tokio::task::spawn_blocking(move || state.with_store_blocking(f))
            .await
            .map_err(|e| ApiError::Internal(format!("store task: {e}")))?
    }

    /// Runs `f` on a store connection on the calling thread.
    pub fn with_store_blocking<T>(
        &self,
        f: impl FnOnce(&mut dyn DashboardStore) -> ApiResult<T>,
    ) -> ApiResult<T> {
        let taken = self.inner.pool.lock().map_err(poisoned)?.pop();
        let mut store = match taken {
            Some(s) => s,
            None => (self.inner.settings.open_store)()?,
        };
        let out = f(store.as_mut());
        let mut pool = self.inner.pool.lock().map_err(poisoned)?;
        if pool.len() < 16 {
            pool.push(store);
        }
        out
    }

    /// The store's generation as last read (by the server's one-second watcher, or after
    /// a write through the API).
    pub fn generation(&self) -> ApiResult<Generation> {
        let cache = self.inner.cache.lock().map_err(poisoned)?;
        Ok(cache.generation.unwrap_or_default())
    }

    /// Reads the store's generation and drops cached responses of an older one.
    pub async fn refresh_generation(&self) -> ApiResult<Generation> {
        let generation = self.with_store(|s| Ok(s.generation()?)).await?;
        let mut cache = self.inner.cache.lock().map_err(poisoned)?;
        if cache.generation != Some(generation) {
            cache.generation = Some(generation);
            cache.entries.clear();
        }
        Ok(generation)
    }

    /// The cached response for `key`, or `build`'s, which is then cached for the current
    /// generation (a response built while the generation moved is not kept).
    pub async fn cached<F>(&self, key: String, build: F) -> ApiResult<Bytes>
    where
        F: FnOnce(&mut dyn DashboardStore) -> ApiResult<serde_json::Value> + Send + 'static,
    {
        if let Some(hit) = self.cache_get(&key)? {
            return Ok(hit);
        }
        // Single flight: a hundred concurrent misses build the response once.
        let gate = {
            let mut building = self.inner.building.lock().map_err(poisoned)?;
            if building.len() > CACHE_ENTRIES {
                building.retain(|_, g| Arc::strong_count(g) > 1);
            }
            building.entry(key.clone()).or_default().clone()
        };
        let _turn = gate.lock().await;
        if let Some(hit) = self.cache_get(&key)? {
            return Ok(hit);
        }
        let seen = self.inner.cache.lock().map_err(poisoned)?.generation;
        self.inner.metrics.cache_miss();
        let value = self.with_store(build).await?;
        let bytes =
            Bytes::from(serde_json::to_vec(&value).map_err(|e| ApiError::Internal(e.to_string()))?);
        let mut cache = self.inner.cache.lock().map_err(poisoned)?;
        if cache.generation == seen {
            if cache.entries.len() >= CACHE_ENTRIES {
                cache.entries.clear();
            }
            cache.entries.insert(key, bytes.clone());
        }
        Ok(bytes)
    }
}

impl AppState {
    fn cache_get(&self, key: &str) -> ApiResult<Option<Bytes>> {
        let cache = self.inner.cache.lock().map_err(poisoned)?;
        let hit = cache.entries.get(key).cloned();
        if hit.is_some() {
            self.inner.metrics.cache_hit();
        }
        Ok(hit)
    }
}

pub(crate) fn poisoned<T>(_: std::sync::PoisonError<T>) -> ApiError {
    ApiError::Internal("a lock was poisoned by a panicking request".into())
}
