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

    /// Whether the store takes a new image in pieces ([`Self::begin_image`],
    /// [`Self::write_image`], [`Self::commit_image`]) and gives the stored one back in pieces
    /// ([`Self::read_image`]), so that the gateway keeps no copy of the image in RAM: it
    /// encodes each item of a configuration transfer and writes it as it arrives. `false` by
    /// default: the gateway then puts the image together in its staging buffer and calls
    /// [`Self::save`] (the host profile), which a profile without a staging buffer (the
    /// microcontroller's) cannot: there the store must stream, or every configuration is
    /// refused with `StorageFailed`. A store that says `true` implements all four methods.
    fn streams(&self) -> bool {
        false
    }

    /// Starts a new image beside the stored one, which stays whole and is what
    /// [`Self::read_image`] and [`Self::load`] give until [`Self::commit_image`]. A transfer
    /// started before and never committed is dropped.
    fn begin_image(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    /// Appends `bytes` to the image begun.
    fn write_image(&mut self, bytes: &[u8]) -> Result<(), Self::Error> {
        let _ = bytes;
        Ok(())
    }

    /// Makes the image begun the stored one, atomically (as [`Self::save`]).
    fn commit_image(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    /// Copies bytes of the stored image from `offset` into `buf`; returns how many: fewer
    /// than `buf.len()` only at its end, 0 past its end or when nothing was ever stored.
    fn read_image(&mut self, offset: usize, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let _ = (offset, buf);
        Ok(0)
    }
}
