//! The order of a configuration transfer, checked without storing the configuration.

use super::message::{
    ConfigBegin, ConfigEnd, ConfigExtensions, ConfigRejectReason, ConfigRingGroups, MAX_SITE_EXTENSIONS,
    MAX_SITE_RING_GROUPS,
};

/// Checks that a configuration arrives as [`ConfigBegin`] describes it: every chunk of the same
/// version, extensions then ring groups, each in index order without gaps or overlap, and
/// nothing missing at [`ConfigEnd`].
///
/// The box stores the items itself (in a staging table) as the calls here accept them. Any
/// `Err` discards the transfer in progress; the box answers
/// [`ConfigRejected`](super::ConfigRejected) with the reason and keeps the configuration it had.
#[derive(Debug, Clone, Default)]
pub struct ConfigTransfer {
    progress: Option<Progress>,
}

#[derive(Debug, Clone, Copy)]
struct Progress {
    version: u32,
    extensions: (u16, u16),
    ring_groups: (u16, u16),
}

impl ConfigTransfer {
    /// No transfer in progress.
    pub const fn new() -> Self {
        Self { progress: None }
    }

    /// The version being received, if a transfer is in progress.
    pub fn in_progress(&self) -> Option<u32> {
        self.progress.map(|p| p.version)
    }

    /// Forgets a transfer in progress (e.g. when the connection closes).
    pub fn abort(&mut self) {
        self.progress = None;
    }

    /// Starts a transfer; one in progress is discarded. `current` is the version the box runs.
    pub fn begin(&mut self, msg: &ConfigBegin, current: Option<u32>) -> Result<(), ConfigRejectReason> {
        self.progress = None;
        if current.is_some_and(|c| msg.version <= c) {
            return Err(ConfigRejectReason::Stale);
        }
        if msg.extension_count > MAX_SITE_EXTENSIONS {
            return Err(ConfigRejectReason::TooManyExtensions);
        }
        if msg.ring_group_count > MAX_SITE_RING_GROUPS {
            return Err(ConfigRejectReason::TooManyRingGroups);
        }
        self.progress = Some(Progress {
            version: msg.version,
            extensions: (0, msg.extension_count),
            ring_groups: (0, msg.ring_group_count),
        });
        Ok(())
    }

    /// Accepts the next chunk of extensions.
    pub fn extensions(&mut self, msg: &ConfigExtensions) -> Result<(), ConfigRejectReason> {
        let mut p = self.expect(msg.version)?;
        let accepted = advance(&mut p.extensions, msg.first_index, msg.extensions.len());
        self.settle(p, accepted)
    }

    /// Accepts the next chunk of ring groups (after every extension).
    pub fn ring_groups(&mut self, msg: &ConfigRingGroups) -> Result<(), ConfigRejectReason> {
        let mut p = self.expect(msg.version)?;
        let accepted =
            p.extensions.0 == p.extensions.1 && advance(&mut p.ring_groups, msg.first_index, msg.ring_groups.len());
        self.settle(p, accepted)
    }

    /// Closes the transfer: on `Ok` the box applies the staged configuration of this version.
    pub fn end(&mut self, msg: &ConfigEnd) -> Result<u32, ConfigRejectReason> {
        let p = self.expect(msg.version)?;
        self.progress = None;
        if p.extensions.0 == p.extensions.1 && p.ring_groups.0 == p.ring_groups.1 {
            Ok(p.version)
        } else {
            Err(ConfigRejectReason::Incomplete)
        }
    }

    fn expect(&mut self, version: u32) -> Result<Progress, ConfigRejectReason> {
        match self.progress {
            Some(p) if p.version == version => Ok(p),
            _ => {
                self.progress = None;
                Err(ConfigRejectReason::OutOfOrder)
            }
        }
    }

    fn settle(&mut self, p: Progress, accepted: bool) -> Result<(), ConfigRejectReason> {
        if accepted {
            self.progress = Some(p);
            Ok(())
        } else {
            self.progress = None;
            Err(ConfigRejectReason::OutOfOrder)
        }
    }
}

/// Moves `(seen, expected)` past a chunk that must start at `seen`, be non-empty and end within
/// `expected`.
fn advance(counts: &mut (u16, u16), first: u16, len: usize) -> bool {
    let (seen, expected) = *counts;
    let Ok(len) = u16::try_from(len) else { return false };
    match first.checked_add(len) {
        Some(end) if first == seen && len > 0 && end <= expected => {
            counts.0 = end;
            true
        }
        _ => false,
    }
}
