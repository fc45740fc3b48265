//! `carillon-cloud`: runs the SIP server (UDP, TCP, TLS), the boxes' control link (when
//! `[box_link]` is configured) and the admin API on the cloud's store.
//!
//! `carillon-cloud --config cloud.toml [--listen ADDR] [--database PATH|URL]`; the operator token
//! comes from the file or `CARILLON_OPERATOR_TOKEN`, the database from `DATABASE_URL` if set.
//! Stops gracefully on Ctrl-C or SIGTERM: no new connections, requests in flight finish (each
//! bounded by the API's request timeout), then the pool closes.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use carillon_cloud::api::{app, AppState};
use carillon_cloud::boxlink::BoxLink;
use carillon_cloud::config::Config;
use carillon_cloud::sip::{SipServer, SystemClock};
use carillon_cloud::{Store, StoreOptions};
use clap::Parser;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "carillon-cloud", about = "Carillon cloud switch: SIP server, admin API and store")]
struct Args {
    /// TOML configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Listen address, overrides the file.
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// SQLite path or database URL, overrides the file.
    #[arg(long)]
    database: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(l) = args.listen {
        config.listen = l;
    }
    if let Some(d) = args.database {
        config.database = d;
    }
    if let Ok(url) = std::env::var("DATABASE_URL") {
        config.database = url;
    }
    if let Ok(t) = std::env::var("CARILLON_OPERATOR_TOKEN") {
        config.operator_token = Some(t);
    }
    let token = config.validate()?.to_owned();
    let opts = StoreOptions {
        realm: config.realm.clone(),
        plan: config.numbering_plan.clone(),
        max_connections: config.max_connections,
        ..StoreOptions::default()
    };
    let store = Store::connect(&config.database_url(), opts).await?;
    tracing::info!(backend = ?store.backend(), "store ready");
    let mut state = AppState::new(store.clone(), &token);
    state.enrollment_ttl_secs = config.enrollment_ttl_secs;
    let sip = SipServer::start(store.clone(), config.sip.clone(), Arc::new(SystemClock)).await?;
    let box_link = match &config.box_link {
        Some(cfg) => Some(BoxLink::start(store.clone(), Some(sip.handle()), cfg.clone(), Arc::new(SystemClock)).await?),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    tracing::info!(addr = %config.listen, "admin API listening");
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown_signal()).await?;
    if let Some(b) = box_link {
        b.shutdown().await;
    }
    sip.leave().await;
    sip.stop().await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
