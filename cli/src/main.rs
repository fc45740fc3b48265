//! The `carillon` command.
//!
//! `carillon sip-check FILE...` checks SIP messages the way the box checks one that arrives from
//! a phone: framed as one UDP datagram, validated as a proxy validates it. One line per file:
//! `<file>\tvalid\t<what it is>` or `<file>\tinvalid\t<reason and the status to answer>`.
//!
//! `carillon lab [--dir DIR] [--lan-port PORT] [--demo]` runs the cloud and one box on this machine
//! with a demo school, and prints how to point a softphone at the box (see [`lab`]); `--demo` also
//! runs a scripted tour with simulated phones (see [`demo`]).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod demo;
mod lab;
mod sipcheck;

#[derive(Parser)]
#[command(
    name = "carillon",
    version,
    about = "Carillon: a cloud PBX for schools, with a box that survives the loss of the internet"
)]
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
    /// Run the cloud and one box on this machine with a demo school, ready for a softphone.
    Lab {
        /// Lab directory: certificate, configurations, database, credentials, logs. Reused
        /// when it exists, so the state survives restarts.
        #[arg(long, default_value = "carillon-lab")]
        dir: PathBuf,
        /// UDP port of the box's LAN listener on 127.0.0.1 (the phones' SIP server).
        #[arg(long, default_value_t = 5060)]
        lan_port: u16,
        /// Let the OS pick the cloud's ports instead of trying 5061 (SIP over TLS), 5070 (box
        /// control link) and 8080 (admin API) first.
        #[arg(long)]
        free_ports: bool,
        /// Also run a scripted tour with simulated phones (202 and 203): registration, a call,
        /// the WAN cut and a call in survival, the WAN restored, the call records and the bill;
        /// then keep running like the plain lab.
        #[arg(long)]
        demo: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Lab { dir, lan_port, free_ports, demo } => lab::main(lab::LabArgs { dir, lan_port, free_ports, demo }),
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
