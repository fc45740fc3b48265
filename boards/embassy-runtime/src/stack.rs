//! The stack's high-water mark, measured at run time: cortex-m-rt's `paint-stack` fills the
//! stack region (`_stack_end` up to `_stack_start`) with [`PAINT`] at reset; the mark is how
//! far down from the top the paint is gone.
//!
//! [`repaint`] paints the region below the current stack pointer again, so that a board can
//! report the one-time cost of booting apart from the cost of running.
#![allow(unsafe_code)]

/// The value cortex-m-rt paints the stack with.
pub const PAINT: u32 = 0xCCCC_CCCC;
/// Room left unpainted below the stack pointer by [`repaint`] (interrupt frames).
const REPAINT_MARGIN: usize = 1024;

extern "C" {
    static _stack_start: u32;
    static _stack_end: u32;
}

/// Bytes of stack used at most so far (since reset or the last [`repaint`]).
pub fn high_water() -> usize {
    // SAFETY: the linker's symbols bound the stack region; reading it word by word is sound
    // (words below the stack pointer are not in use, words above are plain memory).
    unsafe {
        let top = &raw const _stack_start as usize;
        let mut p = &raw const _stack_end;
        while (p as usize) < top && core::ptr::read_volatile(p) == PAINT {
            p = p.add(1);
        }
        top - p as usize
    }
}

/// Paints the stack again from its bottom to just below the current stack pointer, with
/// interrupts off (their frames would go below the stack pointer).
pub fn repaint() {
    critical_section::with(|_| {
        let sp = (cortex_m::register::msp::read() as usize).saturating_sub(REPAINT_MARGIN);
        // SAFETY: the words from `_stack_end` up to below the stack pointer hold no live data
        // (the stack grows down, and interrupts are off, so no handler frame lives there).
        unsafe {
            let mut p = (&raw const _stack_end).cast_mut();
            while (p as usize) < sp {
                core::ptr::write_volatile(p, PAINT);
                p = p.add(1);
            }
        }
    });
}
