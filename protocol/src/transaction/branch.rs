//! RFC 3261 branch parameters from caller-provided randomness (STYLE.md habit 1: no hidden
//! randomness in the core).
//!
//! A branch must be unique across space and time for all requests a UA or proxy sends
//! (RFC 3261 §8.1.1.7) and start with the magic cookie `z9hG4bK`. [`BranchGenerator`] mixes a
//! seed, which the runtime draws from its random source once at start-up, with a counter; the
//! mix is a bijection for a given seed, so branches never repeat until the counter wraps at
//! 2^64, and two boxes with different seeds do not collide in practice.
//!
//! ```
//! use carillon_protocol::transaction::BranchGenerator;
//! let mut g = BranchGenerator::new(0x5eed);
//! let a = g.next_branch();
//! let b = g.next_branch();
//! assert!(a.as_str().starts_with("z9hG4bK"));
//! assert_ne!(a, b);
//! ```

/// The RFC 3261 magic cookie (§8.1.1.7).
pub const MAGIC_COOKIE: &[u8; 7] = b"z9hG4bK";

/// A generated branch: the cookie and 16 lowercase hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Branch([u8; Branch::LEN]);

impl Branch {
    /// Length of a generated branch in bytes.
    pub const LEN: usize = 7 + 16;

    /// The branch from a seed and a counter (see the module docs).
    pub fn new(seed: u64, counter: u64) -> Branch {
        let mut out = [0u8; Branch::LEN];
        let (cookie, hex) = out.split_at_mut(MAGIC_COOKIE.len());
        cookie.copy_from_slice(MAGIC_COOKIE);
        let v = mix(seed.wrapping_add(counter.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        for (i, d) in hex.iter_mut().enumerate() {
            let nibble = (v >> (60 - 4 * i)) & 0xf;
            *d = b"0123456789abcdef".get(nibble as usize).copied().unwrap_or(b'0');
        }
        Branch(out)
    }

    /// The branch as bytes, for a Via written with [`crate::write::Writer`].
    pub const fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The branch as text (always ASCII).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or("z9hG4bK")
    }
}

/// The splitmix64 finaliser: a bijection on u64 that spreads every input bit over the output.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hands out branches: a seed from the runtime plus a counter.
#[derive(Clone, Debug)]
pub struct BranchGenerator {
    seed: u64,
    counter: u64,
}

impl BranchGenerator {
    /// Starts with `seed`, which the runtime draws from a random source (for a box, once per
    /// boot: a reboot must not repeat the branches of the previous run).
    pub const fn new(seed: u64) -> BranchGenerator {
        BranchGenerator { seed, counter: 0 }
    }

    /// The next branch.
    pub fn next_branch(&mut self) -> Branch {
        let b = Branch::new(self.seed, self.counter);
        self.counter = self.counter.wrapping_add(1);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_and_well_formed() {
        let mut g = BranchGenerator::new(42);
        let mut seen = [[0u8; Branch::LEN]; 256];
        for slot in seen.iter_mut() {
            let b = g.next_branch();
            assert!(b.as_bytes().starts_with(MAGIC_COOKIE));
            assert!(b.as_bytes()[7..].iter().all(|c| c.is_ascii_hexdigit()));
            *slot = b.0;
        }
        seen.sort_unstable();
        assert!(seen.windows(2).all(|w| w[0] != w[1]));
        assert_ne!(Branch::new(1, 0), Branch::new(2, 0));
    }
}
