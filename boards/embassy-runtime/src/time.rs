//! embassy-time's clock as the core's [`Instant`] (µs since boot) and back: the one conversion
//! file of this runtime (STYLE.md habit 1).

use carillon_protocol::Instant;

/// The core's `now`, read from embassy-time.
pub fn now() -> Instant {
    to_core(embassy_time::Instant::now())
}

/// An embassy-time instant in the core's clock.
pub fn to_core(t: embassy_time::Instant) -> Instant {
    Instant::from_micros(t.as_micros())
}

/// A deadline of the core in embassy-time's clock (rounded up to the next tick, so that a timer
/// never fires before the core's deadline).
pub fn to_embassy(t: Instant) -> embassy_time::Instant {
    let ticks = (u128::from(t.as_micros()) * u128::from(embassy_time::TICK_HZ)).div_ceil(1_000_000);
    embassy_time::Instant::from_ticks(u64::try_from(ticks).unwrap_or(u64::MAX))
}
