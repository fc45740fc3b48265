//! The `carillon-box` binary: `carillon-box --config /etc/carillon-box/box.toml`.
//!
//! Exit status: 0 after a clean shutdown (SIGTERM or Ctrl-C), 2 for a bad configuration, 1 for
//! any other failure to run.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// The Carillon box: forwards the school's SIP phones to the cloud and keeps them talking to
/// each other when the internet is down.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The TOML configuration file.
    #[arg(long, short = 'c')]
    config: PathBuf,
}

/// Stack of the runtime's threads: the gateway is a large value (about 650 KiB) that debug
/// builds copy through the stack when it is built.
const STACK: usize = 32 << 20;

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match carillon_box::Config::from_file(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("carillon-box: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(&config.log_level));
    let filter = match filter {
        Ok(f) => f,
        Err(e) => {
            eprintln!("carillon-box: bad configuration: log_level {:?}: {e}", config.log_level);
            return ExitCode::from(2);
        }
    };
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();
    carillon_box::redact::show_personal_data(config.log_personal_data);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(STACK)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("carillon-box: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(async move { tokio::spawn(carillon_box::run(config, shutdown_signal())).await });
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(
            e @ (carillon_box::RunError::Config(_)
            | carillon_box::RunError::NoIdentity
            | carillon_box::RunError::Tls(_)),
        )) => {
            eprintln!("carillon-box: {e}");
            ExitCode::from(2)
        }
        Ok(Err(e)) => {
            eprintln!("carillon-box: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("carillon-box: the run loop failed: {e}");
            ExitCode::from(1)
        }
    }
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupt received"),
    }
}
