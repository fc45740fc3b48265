//! A [`ConfigStore`] that streams, in memory, for the microcontroller profile's tests.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use carillon_firmware::config_store::ConfigStore;

/// A store that streams, in memory: the image in force and the one being written, and how
/// many commits; writes fail on demand.
#[derive(Default)]
pub struct StreamStore {
    pub stored: Vec<u8>,
    pub staged: Option<Vec<u8>>,
    pub commits: u32,
    pub fail_writes: bool,
}

#[derive(Debug)]
pub struct Failed;

impl ConfigStore for StreamStore {
    type Error = Failed;
    fn save(&mut self, _image: &[u8]) -> Result<(), Failed> {
        panic!("a streaming store is never given a whole image")
    }
    fn load(&mut self, _buf: &mut [u8]) -> Result<usize, Failed> {
        panic!("a streaming store is read in pieces")
    }
    fn streams(&self) -> bool {
        true
    }
    fn begin_image(&mut self) -> Result<(), Failed> {
        self.staged = Some(Vec::new());
        Ok(())
    }
    fn write_image(&mut self, bytes: &[u8]) -> Result<(), Failed> {
        if self.fail_writes {
            return Err(Failed);
        }
        self.staged.as_mut().ok_or(Failed)?.extend_from_slice(bytes);
        Ok(())
    }
    fn commit_image(&mut self) -> Result<(), Failed> {
        self.stored = self.staged.take().ok_or(Failed)?;
        self.commits += 1;
        Ok(())
    }
    fn read_image(&mut self, offset: usize, buf: &mut [u8]) -> Result<usize, Failed> {
        let src = self.stored.get(offset..).unwrap_or(&[]);
        let n = src.len().min(buf.len());
        buf[..n].copy_from_slice(&src[..n]);
        Ok(n)
    }
}
