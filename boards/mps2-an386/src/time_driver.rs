//! The embassy-time driver of the board. The time is read from a hardware counter: the CMSDK
//! APB timer 0 (0x40000000) counting down from `u32::MAX` at the 25 MHz peripheral clock,
//! extended to 64 bits by counting its wraps (one every 171 s; it is read at least every
//! millisecond). SysTick interrupts at 1 kHz check embassy's timer queue against the earliest
//! deadline.
//!
//! Counting the SysTick interrupts themselves would be simpler, but under QEMU a late tick is
//! a lost tick: on a loaded host the box's clock fell 30 % behind the host's, and every SIP
//! timer with it. The counter follows QEMU's virtual clock whatever the interrupts do.

use core::cell::{Cell, RefCell};
use core::ptr::{read_volatile, write_volatile};
use core::task::Waker;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::exception;
use critical_section::Mutex;
use embassy_time_driver::Driver;
use embassy_time_queue_utils::Queue;

/// CPU and peripheral clock of the MPS2 AN385/AN386 images.
const CPU_HZ: u32 = 25_000_000;
const TICK_HZ: u32 = embassy_time_driver::TICK_HZ as u32;
/// CMSDK APB timer 0 and its registers.
const TIMER0: usize = 0x4000_0000;
const TIMER_CTRL: usize = 0x0;
const TIMER_VALUE: usize = 0x4;
const TIMER_RELOAD: usize = 0x8;
const TIMER_ENABLE: u32 = 1;

struct SysTickDriver {
    /// The counter's last reading and the wraps seen: `(wraps, last)`.
    counter: Mutex<Cell<(u32, u32)>>,
    /// The earliest deadline in the queue (`u64::MAX` when none).
    alarm: Mutex<Cell<u64>>,
    queue: Mutex<RefCell<Queue>>,
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    counter: Mutex::new(Cell::new((0, 0))),
    alarm: Mutex::new(Cell::new(u64::MAX)),
    queue: Mutex::new(RefCell::new(Queue::new())),
});

impl Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.ticks(cs))
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let mut queue = self.queue.borrow_ref_mut(cs);
            if queue.schedule_wake(at, waker) {
                let now = self.ticks(cs);
                self.alarm.borrow(cs).set(queue.next_expiration(now));
            }
        });
    }
}

impl SysTickDriver {
    /// Ticks since the counter started: its count, extended by its wraps, in `TICK_HZ` units.
    fn ticks(&self, cs: critical_section::CriticalSection<'_>) -> u64 {
        // SAFETY: VALUE is a read-only view of the timer's count; this driver owns timer 0.
        let value = unsafe { read_volatile((TIMER0 + TIMER_VALUE) as *const u32) };
        let elapsed = u32::MAX - value;
        let cell = self.counter.borrow(cs);
        let (mut wraps, last) = cell.get();
        if elapsed < last {
            wraps += 1;
        }
        cell.set((wraps, elapsed));
        ((u64::from(wraps) << 32) | u64::from(elapsed)) / u64::from(CPU_HZ / TICK_HZ)
    }

    fn tick(&self) {
        critical_section::with(|cs| {
            let now = self.ticks(cs);
            let alarm = self.alarm.borrow(cs);
            if now >= alarm.get() {
                alarm.set(self.queue.borrow_ref_mut(cs).next_expiration(now));
            }
        });
    }
}

/// Starts the counter and SysTick; embassy-time runs from here on.
pub fn init(mut syst: SYST) {
    // SAFETY: timer 0 belongs to this driver; free-running from the top, no interrupt.
    unsafe {
        write_volatile((TIMER0 + TIMER_CTRL) as *mut u32, 0);
        write_volatile((TIMER0 + TIMER_RELOAD) as *mut u32, u32::MAX);
        write_volatile((TIMER0 + TIMER_VALUE) as *mut u32, u32::MAX);
        write_volatile((TIMER0 + TIMER_CTRL) as *mut u32, TIMER_ENABLE);
    }
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
