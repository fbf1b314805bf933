//! `shrike run`: the long-running service. It follows log files (`tail`), stores what they
//! gain, runs a detection cycle on a schedule, rewrites the export files after each cycle,
//! and serves the dashboard and API (with its own health) from the same process.
//!
//! Signals: SIGHUP reloads the configuration file and the dictionaries (a configuration
//! that does not validate is refused and the running one kept); SIGTERM or SIGINT stops
//! after the step in progress (a store round or a cycle), a second one at once (a cycle's
//! outputs and a round's sessions are each one transaction: nothing of an unfinished one
//! is kept).

mod settings;
mod tail;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use clap::Args;
use shrike_detect::{DetectConfig, Registry};
use shrike_dict::{Dictionaries, DictionaryWatch};
use shrike_server::service::{CycleRun, DictionaryFile, ExportFile};
use shrike_server::{AppState, ServiceHandle, ServiceStatus};
use shrike_store::SqliteStore;
use shrike_types::{Clock, SystemClock};

pub use settings::RunConfig;
use settings::{FollowSpec, RunSettings};
use tail::FollowSet;

use crate::config::{Config, Overrides, Settings};
use crate::CommonOpts;

/// Arguments of `shrike run`.
#[derive(Args, Clone, Default)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: CommonOpts,
    /// Follow this file or pattern too (besides `[[run.follow]]`; format detected).
    #[arg(long = "follow")]
    pub follow: Vec<String>,
    /// Interval between detection cycles (`30s`, `10m`, `1h`) [default: run.detect_every, 10m].
    #[arg(long, value_parser = crate::detect::parse_interval)]
    pub detect_every: Option<Duration>,
    /// Model registry directory [default: `models/` beside the store].
    #[arg(long)]
    pub models: Option<PathBuf>,
    #[command(flatten)]
    pub serve: ServeOpts,
}

/// The server part of `shrike run`.
#[derive(Args, Clone, Default)]
pub struct ServeOpts {
    /// Address the dashboard and API listen on [default: serve.listen, 127.0.0.1:8080].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// File holding the API token (one line). Also SHRIKE_API_TOKEN or serve.token.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Do not serve the dashboard and API.
    #[arg(long)]
    pub no_serve: bool,
}

/// Everything the service works with, rebuilt in part by a reload.
struct Service {
    settings: Settings,
    run: RunSettings,
    detect: DetectConfig,
    registry: Registry,
    store: SqliteStore,
    dictionaries: Option<DictionaryWatch>,
    follow: FollowSet,
    status: ServiceHandle,
}

/// The resolved configuration of the service.
fn resolve(
    config: Config,
    args: &RunArgs,
) -> anyhow::Result<(Settings, RunSettings, DetectConfig)> {
    let detect = config.detect()?;
    let mut run = config.run.clone().unwrap_or_default().resolve()?;
    let dict = config.dictionaries.clone().unwrap_or_default();
    if let Some(every) = &dict.update_every {
        let every = crate::detect::parse_interval(every).map_err(|e| {
            anyhow::anyhow!("dictionaries.update_every = {every:?} is invalid: {e}")
        })?;
        let sources = crate::dict_update::sources(dict.source.as_deref())?;
        run.dict_update = Some((every, sources));
    }
    let settings = config.resolve(&Overrides::common(&args.common))?;
    settings.embedded_store("run")?;
    if run.dict_update.is_some() && settings.dict_dir.is_none() {
        anyhow::bail!(
            "dictionaries.update_every needs dictionaries.dir (where the updated dictionaries go)"
        );
    }
    if args.follow.iter().any(|p| p.trim() == "-") {
        anyhow::bail!("--follow -: standard input cannot be followed (a restart could not resume it); pipe into `shrike ingest -` instead, or let the producer write a file");
    }
    run.follow.extend(args.follow.iter().map(|p| FollowSpec {
        path: p.clone(),
        format: None,
    }));
    if let Some(every) = args.detect_every {
        run.detect_every = every;
    }
    if run.follow.is_empty() {
        tracing::warn!(
            "no file to follow: add [[run.follow]] to the configuration or pass --follow"
        );
    }
    Ok((settings, run, detect))
}

fn dictionary_files(watch: Option<&DictionaryWatch>) -> Vec<DictionaryFile> {
    let Some(w) = watch else {
        return Vec::new();
    };
    let mut files: Vec<DictionaryFile> = std::fs::read_dir(w.dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let m = e.metadata().ok().filter(|m| m.is_file())?;
            let modified = m
                .modified()
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?;
            Some(DictionaryFile {
                file: e.file_name().to_string_lossy().into_owned(),
                modified_ms: modified.as_millis() as i64,
            })
        })
        .collect();
    files.sort_by(|a, b| a.file.cmp(&b.file));
    files
}

/// An export file's status before anything was written.
fn export_file(path: &std::path::Path, job: &crate::export::ExportJob) -> ExportFile {
    ExportFile {
        path: path.display().to_string(),
        format: job.format.name().to_string(),
        ..ExportFile::default()
    }
}

impl Service {
    fn open(config: Config, args: &RunArgs, status: ServiceHandle) -> anyhow::Result<Service> {
        let (settings, run, detect) = resolve(config, args)?;
        let models = args
            .models
            .clone()
            .unwrap_or_else(|| settings.store_path.with_file_name("models"));
        let registry = Registry::open(&models)?;
        let store = SqliteStore::open(&settings.store_path)?;
        let dictionaries = crate::detect::watch_dictionaries(&settings)?;
        let follow = FollowSet::open(run.follow.clone(), &store, run.rotate_grace, Instant::now())?;
        let svc = Service {
            settings,
            run,
            detect,
            registry,
            store,
            dictionaries,
            follow,
            status,
        };
        svc.publish(|s| {
            s.started_ms = SystemClock.now().millis();
            s.cycle_every_s = svc.run.detect_every.as_secs();
            s.exports = svc
                .run
                .exports
                .iter()
                .map(|(path, job)| export_file(path, job))
                .collect();
        });
        Ok(svc)
    }

    fn publish(&self, f: impl FnOnce(&mut ServiceStatus)) {
        let mut s = self.status.write().unwrap_or_else(|p| p.into_inner());
        f(&mut s);
        s.files = self.follow.status();
        s.dictionaries = dictionary_files(self.dictionaries.as_ref());
    }

    fn ingest_dictionaries(&mut self) -> Arc<Dictionaries> {
        match &mut self.dictionaries {
            None => Arc::new(Dictionaries::default()),
            Some(w) => {
                if let shrike_dict::Reload::Failed(e) = w.refresh() {
                    tracing::error!(error = %e, "the dictionaries no longer load: the previous ones stay in service");
                }
                w.current()
            }
        }
    }

    /// Stores what the followed files gained; true when more is waiting.
    fn store_round(&mut self) -> bool {
        let dict = self.ingest_dictionaries();
        let now = Instant::now();
        if let Err(e) = self.follow.rescan(&self.store, now) {
            tracing::warn!(error = %crate::render_error(&e), "cannot follow a new file");
        }
        let outcome = self.follow.store_round(
            &mut self.store,
            &self.settings,
            &dict,
            self.run.max_batch_bytes,
            now,
        );
        let more = match outcome {
            Ok(r) => {
                if r.records + r.rejected > 0 {
                    tracing::info!(
                        records = r.records,
                        rejected = r.rejected,
                        bytes = r.bytes,
                        "stored"
                    );
                    let total = (r.records + r.rejected) as f64;
                    if r.rejected as f64 > self.settings.max_reject_ratio * total {
                        tracing::warn!(rejected = r.rejected, of = r.records + r.rejected, limit = self.settings.max_reject_ratio, "more lines refused than ingest.max_reject_ratio allows: see the dead-letter file");
                    }
                }
                r.full
            }
            // Nothing moved: the same bytes are read again next time.
            Err(e) => {
                tracing::error!(error = %crate::render_error(&e), "storing what the files gained failed; it is read again next round");
                false
            }
        };
        self.publish(|_| {});
        more
    }

    /// One detection cycle, then the export files.
    fn cycle(&mut self) {
        let started = Instant::now();
        let outcome =
            self.settings
                .writer_lock("shrike run (detection cycle)")
                .and_then(|lock| {
                    let run = crate::detect::runner(&self.detect, &self.registry, &self.settings)
                        .run(&mut self.store, None, self.dictionaries.as_mut());
                    drop(lock);
                    Ok(run?)
                });
        let (id, text) = match &outcome {
            Ok(Some(run)) => {
                crate::detect::print_summary(&run.output, run.id);
                (Some(run.id), "ok".to_string())
            }
            Ok(None) => (None, "no sessions yet".to_string()),
            Err(e) => {
                let text = crate::render_error(e);
                tracing::error!(error = %text, "detection cycle failed; the next one retries");
                (None, text)
            }
        };
        let run = CycleRun {
            id,
            finished_ms: SystemClock.now().millis(),
            duration_ms: started.elapsed().as_millis() as u64,
            outcome: text,
        };
        self.publish(|s| s.last_cycle = Some(run));
        if id.is_some() {
            self.write_exports();
        }
    }

    fn write_exports(&mut self) {
        let mut results = Vec::new();
        for (path, job) in &self.run.exports {
            let written = job.plan(&self.store).and_then(|plan| match plan {
                None => Ok(None),
                Some((p, cycle, clock)) => {
                    crate::export::write_atomically(path, job.render(&p, cycle, clock))?;
                    Ok(Some(p.addresses.len() + p.ja4s.len()))
                }
            });
            let mut file = export_file(path, job);
            match written {
                Ok(Some(entries)) => {
                    tracing::info!(path = %path.display(), entries, "export written");
                    file.written_ms = Some(SystemClock.now().millis());
                    file.entries = entries;
                }
                Ok(None) => {}
                Err(e) => {
                    let text = crate::render_error(&e);
                    tracing::error!(path = %path.display(), error = %text, "cannot write an export");
                    file.error = Some(text);
                }
            }
            results.push(file);
        }
        self.publish(|s| s.exports = results);
    }

    /// Fetches the dictionaries' sources into the dictionary directory; the next round or
    /// cycle loads what changed.
    fn update_dictionaries(&mut self) {
        let (Some((_, sources)), Some(dir)) = (&self.run.dict_update, &self.settings.dict_dir)
        else {
            return;
        };
        let failed = match crate::dict_update::update(dir, sources, Duration::from_secs(120)) {
            Ok(r) => {
                for (url, why) in &r.failed {
                    tracing::warn!(%url, error = %why, "dictionary source failed: its files stay as they were");
                }
                tracing::info!(
                    fetched = r.imported.len(),
                    failed = r.failed.len(),
                    changed = ?r.changed,
                    "dictionaries updated from their sources"
                );
                r.failed
                    .iter()
                    .map(|(u, why)| format!("{u}: {why}"))
                    .collect()
            }
            Err(e) => {
                let text = crate::render_error(&e);
                tracing::error!(error = %text, "dictionary update failed; the dictionaries in service stay");
                vec![text]
            }
        };
        self.publish(|s| {
            s.dict_update_ms = Some(SystemClock.now().millis());
            s.dict_update_failed = failed;
        });
    }

    /// Applies a new configuration: what is followed, schedules, exports, detection
    /// settings and dictionaries. The store, the listening address and the token stay.
    fn reload(&mut self, path: Option<&std::path::Path>, args: &RunArgs) -> anyhow::Result<()> {
        let config = match path {
            Some(p) => Config::from_file(p)?,
            None => Config::default(),
        };
        let (settings, run, detect) = resolve(config, args)?;
        if settings.store_path != self.settings.store_path {
            tracing::warn!("store.path changed: the store is kept until a restart");
        }
        let dictionaries = crate::detect::watch_dictionaries(&settings)?;
        let follow = if run.follow != self.run.follow || run.rotate_grace != self.run.rotate_grace {
            Some(FollowSet::open(
                run.follow.clone(),
                &self.store,
                run.rotate_grace,
                Instant::now(),
            )?)
        } else {
            None
        };
        let store_path = self.settings.store_path.clone();
        self.settings = Settings {
            store_path,
            ..settings
        };
        self.run = run;
        self.detect = detect;
        self.dictionaries = dictionaries;
        if let Some(f) = follow {
            self.follow = f;
        }
        let every = self.run.detect_every.as_secs();
        self.publish(|s| {
            s.reloads += 1;
            s.reload_error = None;
            s.cycle_every_s = every;
        });
        Ok(())
    }
}

/// Serves the dashboard on its own thread until `stop` is set; returns once it listens.
fn spawn_server(
    listen: SocketAddr,
    serve: shrike_server::ServeSettings,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let state = AppState::new(serve, Arc::new(SystemClock))?;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("shrike-serve".into())
        .spawn(move || {
            let on_ready = ready_tx.clone();
            let ready = move |addr: SocketAddr| {
                println!("dashboard: http://{addr}/  (API: http://{addr}/api/openapi.json)");
                let _ = on_ready.send(Ok(()));
            };
            if let Err(e) = shrike_server::serve_until(listen, state, ready, stop) {
                let _ = ready_tx.send(Err(e));
            }
        })?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => anyhow::bail!("the server stopped before it listened"),
    }
}

/// `shrike run`.
pub fn run(
    mut config: Config,
    config_path: Option<PathBuf>,
    args: RunArgs,
) -> anyhow::Result<ExitCode> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let serve_file = config.serve.take().unwrap_or_default();
    let status: ServiceHandle = Arc::new(RwLock::new(ServiceStatus::default()));
    let mut svc = Service::open(config, &args, Arc::clone(&status))?;
    let stop = Arc::new(AtomicBool::new(false));
    for (signal, code) in [(SIGINT, 130), (SIGTERM, 143)] {
        // The first signal sets the flag; with the flag set, the next one exits at once.
        signal_hook::flag::register_conditional_shutdown(signal, code, Arc::clone(&stop))?;
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let hup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(SIGHUP, Arc::clone(&hup))?;
    let server_stop = Arc::new(AtomicBool::new(false));
    let server = if args.serve.no_serve {
        None
    } else {
        let serve_args = crate::serve::ServeArgs {
            common: args.common.clone(),
            listen: args.serve.listen,
            token_file: args.serve.token_file.clone(),
        };
        let mut base = crate::stores::serve_settings(&svc.settings);
        base.service = Some(Arc::clone(&status));
        let (listen, serve) = crate::serve::settings(serve_file, &serve_args, base)?;
        Some(spawn_server(listen, serve, Arc::clone(&server_stop))?)
    };
    tracing::info!(
        files = svc.run.follow.len(),
        detect_every_s = svc.run.detect_every.as_secs(),
        "service running; SIGHUP reloads the configuration, SIGTERM stops"
    );
    let mut next_store = Instant::now();
    let mut next_cycle = Instant::now() + svc.run.detect_every;
    let mut cycles = 0u64;
    // The first update at start: a fresh install gets its lists at once.
    let mut next_dict_update = svc.run.dict_update.as_ref().map(|_| Instant::now());
    while !stop.load(Ordering::SeqCst) {
        if hup.swap(false, Ordering::SeqCst) {
            match svc.reload(config_path.as_deref(), &args) {
                Ok(()) => {
                    tracing::info!("configuration reloaded");
                    // A shorter interval takes effect now, not after the old one.
                    next_cycle = next_cycle.min(Instant::now() + svc.run.detect_every);
                    // A newly configured update runs now; a kept one keeps its time.
                    next_dict_update = svc
                        .run
                        .dict_update
                        .as_ref()
                        .map(|_| next_dict_update.unwrap_or_else(Instant::now));
                }
                Err(e) => {
                    let text = crate::render_error(&e);
                    tracing::error!(error = %text, "the new configuration is refused; the running one stays");
                    svc.publish(|s| s.reload_error = Some(text));
                }
            }
        }
        let now = Instant::now();
        if now >= next_store {
            let more = svc.store_round();
            next_store = if more {
                Instant::now()
            } else {
                now + svc.run.store_every
            };
        }
        if Instant::now() >= next_cycle && !stop.load(Ordering::SeqCst) {
            let started = Instant::now();
            svc.cycle();
            cycles += 1;
            next_cycle = started + svc.run.detect_every;
        }
        if next_dict_update.is_some_and(|t| Instant::now() >= t) && !stop.load(Ordering::SeqCst) {
            svc.update_dictionaries();
            next_dict_update = svc
                .run
                .dict_update
                .as_ref()
                .map(|(every, _)| Instant::now() + *every);
        }
        let wake = next_dict_update.map_or(next_store.min(next_cycle), |t| {
            t.min(next_store).min(next_cycle)
        });
        while !stop.load(Ordering::SeqCst) && !hup.load(Ordering::SeqCst) {
            let now = Instant::now();
            if now >= wake {
                break;
            }
            std::thread::sleep((wake - now).min(Duration::from_millis(100)));
        }
    }
    tracing::info!(cycles, "stopping: the last step finished");
    server_stop.store(true, Ordering::SeqCst);
    if let Some(h) = server {
        let _ = h.join();
    }
    Ok(ExitCode::SUCCESS)
}
