//! The SMSC LAN9118 Ethernet controller as an [`embassy_net_driver::Driver`].
//!
//! The chip has FIFOs, not DMA rings: a received frame is a status word in the RX status FIFO
//! and its bytes (plus the 4-byte FCS) in the RX data FIFO; a frame is sent by writing two
//! command words and its bytes into the TX data FIFO. All accesses are 32-bit.
//!
//! Reception is interrupt-driven: the chip raises `RSFL` (RX status FIFO level, set above 0
//! entries) on its IRQ line (number 13 on the MPS2 AN385/AN386 images); the handler acknowledges
//! it and wakes the stack, which then drains every frame waiting. The waker is registered
//! before the FIFO is looked at, so a frame arriving in between still wakes the stack.
//! Transmission needs no interrupt: the TX FIFO holds a whole frame, and when it has no room
//! (never in QEMU, which sends at once) the stack is asked to come back.

use core::ptr::{read_volatile, write_volatile};
use core::task::Context;

use embassy_net_driver::{Capabilities, HardwareAddress, LinkState};
use embassy_sync::waitqueue::AtomicWaker;

/// The controller's base address on the MPS2 AN385/AN386 images.
pub const BASE: usize = 0x4020_0000;
/// Its interrupt number on those images.
pub const IRQ: u16 = 13;

// Register offsets (LAN9118 data sheet, "System Control and Status Registers").
const RX_DATA_FIFO: usize = 0x00;
const TX_DATA_FIFO: usize = 0x20;
const RX_STATUS_FIFO: usize = 0x40;
const ID_REV: usize = 0x50;
const IRQ_CFG: usize = 0x54;
const INT_STS: usize = 0x58;
const INT_EN: usize = 0x5C;
const BYTE_TEST: usize = 0x64;
const TX_CFG: usize = 0x70;
const HW_CFG: usize = 0x74;
const RX_FIFO_INF: usize = 0x7C;
const TX_FIFO_INF: usize = 0x80;
const MAC_CSR_CMD: usize = 0xA4;
const MAC_CSR_DATA: usize = 0xA8;

// MAC CSRs, reached through MAC_CSR_CMD/DATA.
const MAC_CR: u32 = 1;
const MAC_ADDRH: u32 = 2;
const MAC_ADDRL: u32 = 3;
const MAC_MII_ACC: u32 = 6;
const MAC_MII_DATA: u32 = 7;

const MAC_CR_FDPX: u32 = 1 << 20;
const MAC_CR_TXEN: u32 = 1 << 3;
const MAC_CR_RXEN: u32 = 1 << 2;
const CSR_BUSY: u32 = 1 << 31;
const CSR_READ: u32 = 1 << 30;
const MII_BUSY: u32 = 1 << 0;
const PHY_ADDR: u32 = 1;
const PHY_BASIC_STATUS: u32 = 1;
const PHY_LINK_UP: u32 = 1 << 2;

const BYTE_TEST_VALUE: u32 = 0x8765_4321;
const HW_CFG_SRST: u32 = 1 << 0;
/// IRQ enabled, active high, push-pull (the NVIC line is level-high).
const IRQ_CFG_VALUE: u32 = (1 << 8) | (1 << 4) | 1;
/// RX status FIFO level interrupt.
const INT_RSFL: u32 = 1 << 3;
/// TX on, TX status FIFO may overrun (the driver does not read TX statuses).
const TX_CFG_VALUE: u32 = (1 << 1) | (1 << 2);
/// RX status: error summary.
const RX_STS_ES: u32 = 1 << 15;
/// TX command A: first and last segment (a frame in one buffer).
const TX_CMD_A_FIRST_LAST: u32 = (1 << 13) | (1 << 12);

/// Largest Ethernet frame without FCS.
pub const MTU: usize = 1514;
/// Receive buffer: the largest frame plus its FCS, in whole words.
const RX_BUF: usize = 1536;

static RX_WAKER: AtomicWaker = AtomicWaker::new();

/// Why the controller could not be brought up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitError {
    /// Nothing answers like a LAN9118 at the address (`BYTE_TEST` read back `found`).
    NotFound {
        /// What `BYTE_TEST` read.
        found: u32,
    },
    /// The soft reset did not complete.
    ResetTimeout,
}

/// The driver. One per chip; it owns the chip's registers.
pub struct Lan9118 {
    regs: Regs,
    mac: [u8; 6],
    rx: [u8; RX_BUF],
    tx: [u8; RX_BUF],
}

/// The chip's register block.
#[derive(Clone, Copy)]
struct Regs {
    base: usize,
}

impl Lan9118 {
    /// Resets the chip at `base`, reads its MAC address (QEMU's `-nic ...,mac=`), enables the
    /// MAC's receiver and transmitter and the receive interrupt. The caller unmasks [`IRQ`] in
    /// the NVIC and calls [`on_interrupt`] from its handler.
    ///
    /// # Safety
    /// `base` must be the address of a LAN9118 that nothing else drives.
    pub unsafe fn new(base: usize) -> Result<Self, InitError> {
        let regs = Regs { base };
        let found = regs.read(BYTE_TEST);
        if found != BYTE_TEST_VALUE {
            return Err(InitError::NotFound { found });
        }
        regs.write(HW_CFG, HW_CFG_SRST);
        if !regs.wait(|r| r.read(HW_CFG) & HW_CFG_SRST == 0) {
            return Err(InitError::ResetTimeout);
        }
        let lo = regs.mac_read(MAC_ADDRL).to_le_bytes();
        let hi = regs.mac_read(MAC_ADDRH).to_le_bytes();
        let mac = [lo[0], lo[1], lo[2], lo[3], hi[0], hi[1]];
        // Unicast to our address and broadcast (DHCP, ARP); not promiscuous.
        regs.mac_write(MAC_CR, MAC_CR_FDPX | MAC_CR_TXEN | MAC_CR_RXEN);
        regs.write(TX_CFG, TX_CFG_VALUE);
        regs.write(INT_STS, u32::MAX);
        regs.write(INT_EN, INT_RSFL);
        regs.write(IRQ_CFG, IRQ_CFG_VALUE);
        Ok(Lan9118 { regs, mac, rx: [0; RX_BUF], tx: [0; RX_BUF] })
    }

    /// The chip's identification (`ID_REV`), for the boot log.
    pub fn id_rev(&self) -> u32 {
        self.regs.read(ID_REV)
    }

    /// The MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }
}

impl Regs {
    fn read(&self, off: usize) -> u32 {
        // SAFETY: `base` is the chip's (the constructor's contract); `off` is a register offset.
        unsafe { read_volatile((self.base + off) as *const u32) }
    }

    fn write(&self, off: usize, v: u32) {
        // SAFETY: as in `read`.
        unsafe { write_volatile((self.base + off) as *mut u32, v) }
    }

    /// Polls `done` a bounded number of times (the chip answers in microseconds).
    fn wait(&self, done: impl Fn(&Self) -> bool) -> bool {
        (0..100_000).any(|_| done(self))
    }

    fn mac_read(&self, reg: u32) -> u32 {
        self.write(MAC_CSR_CMD, CSR_BUSY | CSR_READ | reg);
        self.wait(|d| d.read(MAC_CSR_CMD) & CSR_BUSY == 0);
        self.read(MAC_CSR_DATA)
    }

    fn mac_write(&self, reg: u32, v: u32) {
        self.write(MAC_CSR_DATA, v);
        self.write(MAC_CSR_CMD, CSR_BUSY | reg);
        self.wait(|d| d.read(MAC_CSR_CMD) & CSR_BUSY == 0);
    }

    fn phy_read(&self, reg: u32) -> u32 {
        self.mac_write(MAC_MII_ACC, (PHY_ADDR << 11) | (reg << 6) | MII_BUSY);
        self.wait(|d| d.mac_read(MAC_MII_ACC) & MII_BUSY == 0);
        self.mac_read(MAC_MII_DATA) & 0xFFFF
    }

    /// Frames waiting in the RX status FIFO.
    fn rx_pending(&self) -> u32 {
        (self.read(RX_FIFO_INF) >> 16) & 0xFF
    }

    /// Pops the next frame into `rx`; its length without FCS, or `None` for a frame in error
    /// or too long (dropped).
    fn pop_frame(&self, rx: &mut [u8; RX_BUF]) -> Option<usize> {
        let status = self.read(RX_STATUS_FIFO);
        let len = ((status >> 16) & 0x3FFF) as usize;
        let words = len.div_ceil(4);
        let fits = (4..=RX_BUF).contains(&len) && status & RX_STS_ES == 0;
        for i in 0..words {
            let w = self.read(RX_DATA_FIFO).to_le_bytes();
            if let Some(dst) = rx.get_mut(i * 4..i * 4 + 4) {
                dst.copy_from_slice(&w);
            }
        }
        fits.then_some(len - 4)
    }

    /// Writes one frame, `frame`, into the TX FIFO.
    fn push_frame(&self, frame: &[u8]) {
        let len = frame.len();
        let len32 = len as u32;
        self.write(TX_DATA_FIFO, TX_CMD_A_FIRST_LAST | len32);
        // Command B: the frame's length, and a tag (its length too) for the TX status.
        self.write(TX_DATA_FIFO, (len32 << 16) | len32);
        for chunk in frame.chunks(4) {
            let mut w = [0u8; 4];
            w.get_mut(..chunk.len()).unwrap_or(&mut []).copy_from_slice(chunk);
            self.write(TX_DATA_FIFO, u32::from_le_bytes(w));
        }
    }

    /// Room in the TX data FIFO, in bytes.
    fn tx_free(&self) -> usize {
        (self.read(TX_FIFO_INF) & 0xFFFF) as usize
    }
}

/// Acknowledges the chip's interrupt and wakes the network stack. Call it from the handler of
/// [`IRQ`].
pub fn on_interrupt(base: usize) {
    // SAFETY: INT_STS is write-one-to-clear and only acknowledged here; reading and writing it
    // does not disturb the thread-mode driver's FIFO accesses.
    unsafe {
        let sts = read_volatile((base + INT_STS) as *const u32);
        write_volatile((base + INT_STS) as *mut u32, sts);
    }
    RX_WAKER.wake();
}

/// A received frame, lent from the driver's buffer.
pub struct RxToken<'a> {
    buf: &'a mut [u8],
}

/// Room to send one frame.
pub struct TxToken<'a> {
    regs: Regs,
    buf: &'a mut [u8; RX_BUF],
}

impl embassy_net_driver::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, f: F) -> R {
        f(self.buf)
    }
}

impl embassy_net_driver::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let frame = self.buf.get_mut(..len.min(MTU)).unwrap_or(&mut []);
        let r = f(frame);
        self.regs.push_frame(frame);
        r
    }
}

impl embassy_net_driver::Driver for Lan9118 {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, cx: &mut Context) -> Option<(RxToken<'_>, TxToken<'_>)> {
        RX_WAKER.register(cx.waker());
        let Lan9118 { regs, rx, tx, .. } = self;
        while regs.rx_pending() > 0 {
            if let Some(len) = regs.pop_frame(rx) {
                return Some((RxToken { buf: rx.get_mut(..len).unwrap_or(&mut []) }, TxToken { regs: *regs, buf: tx }));
            }
        }
        None
    }

    fn transmit(&mut self, cx: &mut Context) -> Option<TxToken<'_>> {
        if self.regs.tx_free() >= MTU + 8 {
            Some(TxToken { regs: self.regs, buf: &mut self.tx })
        } else {
            // The FIFO drains onto the wire within a frame time: come back at once.
            cx.waker().wake_by_ref();
            None
        }
    }

    fn link_state(&mut self, _cx: &mut Context) -> LinkState {
        if self.regs.phy_read(PHY_BASIC_STATUS) & PHY_LINK_UP != 0 {
            LinkState::Up
        } else {
            LinkState::Down
        }
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.max_transmission_unit = MTU;
        caps.max_burst_size = Some(1);
        caps
    }

    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ethernet(self.mac)
    }
}
