//! Logs over semihosting (QEMU prints them on its standard output with
//! `-semihosting-config enable=on,target=native`), each line stamped with the time since boot.

use cortex_m_semihosting::hprintln;
use log::{LevelFilter, Metadata, Record};

struct Semihosting;

static LOGGER: Semihosting = Semihosting;

impl log::Log for Semihosting {
    fn enabled(&self, _: &Metadata) -> bool {
        true
    }

    fn log(&self, record: &Record) {
        let ms = embassy_time::Instant::now().as_millis();
        hprintln!("[{:>5}.{:03}] {:<5} {}", ms / 1000, ms % 1000, record.level(), record.args());
    }

    fn flush(&self) {}
}

/// Installs the logger (info and above).
pub fn init() {
    // Fails only when a logger is already set: then that one logs.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(LevelFilter::Info);
}
