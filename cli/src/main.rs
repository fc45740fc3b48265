//! The `carillon` command.
//!
//! `carillon sip-check FILE...` checks SIP messages the way the box checks one that arrives from
//! a phone: framed as one UDP datagram, validated as a proxy validates it. One line per file:
//! `<file>\tvalid\t<what it is>` or `<file>\tinvalid\t<reason and the status to answer>`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod sipcheck;

#[derive(Parser)]
#[command(name = "carillon", version, about = "Carillon: a cloud PBX for schools, with a box that survives the loss of the internet")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check SIP messages (one per file, raw bytes) as the box checks one from a phone.
    SipCheck {
        /// Files holding one SIP message each.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run the cloud and one box on this machine, ready for a softphone (not built yet).
    Lab,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Lab => {
            // Said plainly instead of pretending: the lab needs the box's gateway core and the
            // cloud's SIP server, which are still being built (issues 3-5).
            eprintln!(
                "carillon lab is not available yet: it needs the box's gateway core and the cloud's SIP \
                 server (issues 3 to 5).\nToday you can run the cloud's admin API: cargo run -p carillon-cloud -- --help"
            );
            ExitCode::from(2)
        }
        Command::SipCheck { files } => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            let mut all_read = true;
            for f in &files {
                let line = match std::fs::read(f) {
                    Ok(bytes) => sipcheck::verdict(&bytes).line(&f.display().to_string()),
                    Err(e) => {
                        all_read = false;
                        eprintln!("carillon: cannot read {}: {e}", f.display());
                        continue;
                    }
                };
                if writeln!(out, "{line}").is_err() {
                    return ExitCode::from(2);
                }
            }
            if all_read {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}
