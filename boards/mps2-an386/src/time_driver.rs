//! The embassy-time driver of the board: SysTick at 1 kHz from the 25 MHz CPU clock of the
//! MPS2 FPGA images, counting ticks in a 64-bit counter (no wrap in practice), and embassy's
//! timer queue checked on every tick whose count reached the earliest deadline.
//!
//! A periodic tick is simpler than reprogramming a one-shot (SysTick is 24-bit: 0.67 s at
//! 25 MHz) and costs one short interrupt per millisecond, which QEMU absorbs.

use core::cell::{Cell, RefCell};
use core::task::Waker;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::exception;
use critical_section::Mutex;
use embassy_time_driver::Driver;
use embassy_time_queue_utils::Queue;

/// CPU clock of the MPS2 AN385/AN386 images.
const CPU_HZ: u32 = 25_000_000;
const TICK_HZ: u32 = embassy_time_driver::TICK_HZ as u32;

struct SysTickDriver {
    ticks: Mutex<Cell<u64>>,
    /// The earliest deadline in the queue (`u64::MAX` when none).
    alarm: Mutex<Cell<u64>>,
    queue: Mutex<RefCell<Queue>>,
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    ticks: Mutex::new(Cell::new(0)),
    alarm: Mutex::new(Cell::new(u64::MAX)),
    queue: Mutex::new(RefCell::new(Queue::new())),
});

impl Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.ticks.borrow(cs).get())
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let mut queue = self.queue.borrow_ref_mut(cs);
            if queue.schedule_wake(at, waker) {
                let now = self.ticks.borrow(cs).get();
                self.alarm.borrow(cs).set(queue.next_expiration(now));
            }
        });
    }
}

impl SysTickDriver {
    fn tick(&self) {
        critical_section::with(|cs| {
            let ticks = self.ticks.borrow(cs);
            let now = ticks.get() + 1;
            ticks.set(now);
            let alarm = self.alarm.borrow(cs);
            if now >= alarm.get() {
                alarm.set(self.queue.borrow_ref_mut(cs).next_expiration(now));
            }
        });
    }
}

/// Starts SysTick; embassy-time runs from here on.
pub fn init(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(CPU_HZ / TICK_HZ - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

#[exception]
fn SysTick() {
    DRIVER.tick();
}
