//! Where the gateway's configuration persists: shared by every capacity profile (see the
//! [crate docs](crate#capacity-profiles)), so a board's store serves either.

/// Where the applied configuration survives a reboot: a file on Linux (write a temporary file,
/// fsync, rename: the old image stays whole until the new one is), an A/B pair of flash sectors
/// on a board.
pub trait ConfigStore {
    /// What can go wrong in the device.
    type Error: core::fmt::Debug;

    /// Replaces the stored image with `image`, atomically: after a power cut either the old or
    /// the new image is read back, never a mix (a mix would fail the CRC and lose both).
    fn save(&mut self, image: &[u8]) -> Result<(), Self::Error>;

    /// Copies the stored image into `buf` and returns its length; `Ok(0)` when nothing was ever
    /// saved. An image longer than `buf` is an error of the store.
    fn load(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error>;
}
