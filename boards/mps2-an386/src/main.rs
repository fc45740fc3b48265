//! Carillon on QEMU's `mps2-an386` (Cortex-M4, LAN9118 Ethernet): the same gateway core as
//! `carillon-box`, on embassy-net.
//!
//! Boot: SysTick time driver, semihosting logs, the LAN9118, embassy-net with DHCP on the
//! school LAN (a static 10.0.2.15/24 when no DHCP server answers within [`DHCP_WAIT`]), the
//! journal, the configuration and the box's identity in the STORE region (see `memory.x`),
//! then the gateway on UDP port 5060. With an identity (written into STORE by a loader before
//! boot, see `carillon_embassy::identity`) the box connects to the cloud: the uplink to its SIP
//! stream port and the control link to its box link, over TLS with the cloud's certificate
//! pinned (or plain TCP if the identity says so, for tests). Without one it serves
//! the school in survival from the configuration found in STORE.
//!
//! Every [`REPORT_EVERY`] it logs the stack's high-water marks for the size report: the stack
//! is painted at reset (cortex-m-rt's `paint-stack`); the mark reached by the end of boot is
//! kept, the region below the stack pointer painted again, and from then on the mark of
//! running (serving phones) is measured apart from the one-time cost of booting.
#![no_std]
#![no_main]

mod lan9118;
mod logger;
mod time_driver;

use core::cell::RefCell;
use core::net::{Ipv4Addr, SocketAddr};

use carillon_embassy::flash::{FlashJournal, Partition, PartitionError, RamFlash, RamFlashError, SlotConfigStore};
use carillon_embassy::identity::{Identity, MAX_IDENTITY_LEN};
use carillon_embassy::lan::LanBuffers;
use carillon_embassy::links::LinkBuffers;
use carillon_firmware::mcu::gateway::{BootError, Gateway, Settings, Timing};
use carillon_protocol::control::BoxId;
use cortex_m::peripheral::NVIC;
use cortex_m_rt::exception;
use embassy_executor::Spawner;
use embassy_net::{Ipv4Cidr, Runner, StackResources, StaticConfigV4};
use embassy_time::{with_timeout, Duration, Timer};
use static_cell::StaticCell;

use crate::lan9118::Lan9118;

/// The box's SIP port on the LAN.
const SIP_PORT: u16 = 5060;
/// How long the box waits for a DHCP lease before it takes [`STATIC_IP`].
const DHCP_WAIT: Duration = Duration::from_secs(10);
/// The address taken without DHCP (QEMU user networking's guest address).
const STATIC_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
const STATIC_GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
/// How often the stack high-water mark and table use are logged.
const REPORT_EVERY: Duration = Duration::from_secs(5);

/// STORE holds the configuration's two slots, then the journal.
const CONFIG_AT: u32 = 0;
const CONFIG_LEN: u32 = 256 * 1024;
const JOURNAL_AT: u32 = CONFIG_LEN;
const JOURNAL_LEN: u32 = 256 * 1024;
/// NOR-flash shape of STORE: 4-byte writes, 4 KiB erase units.
type StoreFlash = RamFlash<4, 4096>;
/// The identity blob, after the journal (written by a host tool, only read here).
const IDENTITY_AT: usize = (JOURNAL_AT + JOURNAL_LEN) as usize;

type BoardGateway = Gateway<FlashJournal<'static, StoreFlash>, SlotConfigStore<'static, StoreFlash>>;

/// The interrupt number as the NVIC wants it.
#[derive(Clone, Copy)]
struct Irq(u16);

// SAFETY: 13 is a valid interrupt number of the board (its 32 external interrupts).
unsafe impl cortex_m::interrupt::InterruptNumber for Irq {
    fn number(self) -> u16 {
        self.0
    }
}

extern "C" {
    static mut _store_start: u8;
    static _store_end: u8;
}

static NET: StaticCell<StackResources<4>> = StaticCell::new();
static FLASH: StaticCell<RefCell<StoreFlash>> = StaticCell::new();
/// The gateway, built in its static (`init_with` lets the compiler construct it in place
/// rather than on the stack and then copy it: it is most of the RAM).
static GATEWAY: StaticCell<Result<BoardGateway, BootError<PartitionError<RamFlashError>>>> = StaticCell::new();
static LAN_BUFFERS: StaticCell<LanBuffers> = StaticCell::new();
static IDENTITY: StaticCell<Identity> = StaticCell::new();
static LINK_BUFFERS: StaticCell<LinkBuffers> = StaticCell::new();

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let mut core = cortex_m::Peripherals::take().expect("taken once, at boot");
    time_driver::init(core.SYST);
    logger::init();
    log::info!("carillon {} on mps2-an386", version());

    // SAFETY: the board's LAN9118 is at BASE and only this driver touches it.
    let eth = match unsafe { Lan9118::new(lan9118::BASE) } {
        Ok(eth) => eth,
        Err(e) => halt(format_args!("LAN9118: {e:?}")),
    };
    let mac = eth.mac();
    log::info!("LAN9118 id {:08x}, MAC {:02x?}", eth.id_rev(), mac);
    // SAFETY: the handler only acknowledges the chip and wakes a waker.
    unsafe {
        core.NVIC.set_priority(Irq(lan9118::IRQ), 0x80);
        NVIC::unmask(Irq(lan9118::IRQ));
    }

    let seed = seed(&mac);
    let config = embassy_net::Config::dhcpv4(Default::default());
    let (stack, runner) = embassy_net::new(eth, config, NET.init(StackResources::new()), seed);
    spawner.spawn(net_task(runner).expect("one net task"));

    stack.wait_link_up().await;
    if with_timeout(DHCP_WAIT, stack.wait_config_up()).await.is_err() {
        log::warn!("no DHCP lease in {}s: static {STATIC_IP}/24", DHCP_WAIT.as_secs());
        stack.set_config_v4(embassy_net::ConfigV4::Static(StaticConfigV4 {
            address: Ipv4Cidr::new(STATIC_IP, 24),
            gateway: Some(STATIC_GATEWAY),
            dns_servers: heapless::Vec::new(),
        }));
        stack.wait_config_up().await;
    }
    let Some(ip) = stack.config_v4() else { halt(format_args!("no IPv4 configuration")) };
    log::info!("LAN address {}", ip.address);

    let store = store_region();
    let identity = read_identity(store);
    let gateway = build_gateway(store, identity.as_ref(), &mac, ip.address.address(), seed);
    match gateway.site() {
        Some(site) => log::info!("configuration v{} with {} extensions", site.version, site.extensions.len()),
        None => log::warn!("no configuration stored: phones are refused until the cloud sends one"),
    }
    // The buffers are built in their statics by non-inlined functions during boot: a
    // temporary of their size in this frame would sit above everything the loop calls, and
    // count in the running stack mark.
    let lan_buffers = lan_buffers();
    let mut links = identity.map(|id| board_links(stack, id, seed));
    let boot_mark = carillon_embassy::stack::high_water();
    carillon_embassy::stack::repaint();
    spawner.spawn(report_task(boot_mark).expect("one report task"));
    let links = links.as_mut().map(|(ends, runners)| (ends, runners));
    carillon_embassy::lan::run(stack, gateway, SIP_PORT, lan_buffers, links).await
}

#[inline(never)]
fn lan_buffers() -> &'static mut LanBuffers {
    LAN_BUFFERS.init_with(LanBuffers::new)
}

/// The links to the cloud of `identity`, their buffers in their static.
#[inline(never)]
fn board_links(
    stack: embassy_net::Stack<'static>,
    identity: Identity,
    seed: u64,
) -> (carillon_embassy::links::Links<'static>, carillon_embassy::links::LinkRunners<'static>) {
    carillon_embassy::links::links(stack, IDENTITY.init(identity), LINK_BUFFERS.init_with(LinkBuffers::new), seed)
}

/// The box's identity from STORE, if a valid one is there.
fn read_identity(store: &[u8]) -> Option<Identity> {
    let blob = store.get(IDENTITY_AT..IDENTITY_AT + MAX_IDENTITY_LEN)?;
    match Identity::decode(blob) {
        Ok(id) => {
            let how = if id.tls { "TLS, pinned certificate" } else { "plain TCP" };
            log::info!("identity: box {}, cloud SIP {}, control {} ({how})", id.box_id.0, id.sip, id.control);
            Some(id)
        }
        Err(carillon_embassy::identity::IdentityError::Missing) => {
            log::warn!("no identity in the store: survival only, no uplink");
            None
        }
        Err(e) => {
            log::error!("identity in the store refused ({e:?}): survival only, no uplink");
            None
        }
    }
}

/// Opens the journal and the configuration in STORE and builds the gateway in its static.
/// Not inlined: its frame (the core builds its state by value) then lives on the stack only
/// during boot, not under every later poll of the main task.
#[inline(never)]
fn build_gateway(
    store: &'static mut [u8],
    identity: Option<&Identity>,
    mac: &[u8; 6],
    ip: Ipv4Addr,
    seed: u64,
) -> &'static mut BoardGateway {
    // The flash layer gets the configuration and journal partitions; the identity after them
    // was read before and is never written by the board.
    let (store, _identity) = store.split_at_mut(IDENTITY_AT);
    let flash = FLASH.init(RefCell::new(RamFlash::new(store)));
    let journal = FlashJournal(Partition::new(flash, JOURNAL_AT, JOURNAL_LEN));
    let config = SlotConfigStore::new(Partition::new(flash, CONFIG_AT, CONFIG_LEN));
    let settings = Settings {
        box_id: identity
            .map_or(BoxId(u64::from_be_bytes([0, 0, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]])), |id| id.box_id),
        host: match identity {
            Some(id) => heapless::String::try_from(id.host.as_str()).unwrap_or_default(),
            None => heapless::String::try_from("box.carillon.invalid").unwrap_or_default(),
        },
        lan_addr: SocketAddr::new(ip.into(), SIP_PORT),
        // Stands for the uplink flow in the transaction layer; never sent to.
        uplink_peer: match identity {
            Some(id) => SocketAddr::V4(id.sip),
            None => SocketAddr::new(Ipv4Addr::new(192, 0, 2, 1).into(), 5061),
        },
        timing: Timing::DEFAULT,
        seed,
    };
    let booted = carillon_embassy::time::now();
    match GATEWAY.init_with(|| Gateway::new(settings, journal, config, booted)) {
        Ok(g) => g,
        Err(e) => halt(format_args!("gateway: {e:?}")),
    }
}

#[embassy_executor::task]
async fn net_task(mut runner: Runner<'static, Lan9118>) -> ! {
    runner.run().await
}

#[embassy_executor::task]
async fn report_task(boot_mark: usize) -> ! {
    loop {
        log::info!(
            "stack high-water mark: boot {boot_mark} bytes, running {} bytes",
            carillon_embassy::stack::high_water()
        );
        Timer::after(REPORT_EVERY).await;
    }
}

/// The STORE region of `memory.x`, as the flash-like bytes of the journal and configuration.
fn store_region() -> &'static mut [u8] {
    // SAFETY: STORE is reserved by the linker script for this one slice, made once at boot
    // (FLASH's StaticCell panics on a second init before a second slice could be used).
    unsafe {
        let start = &raw mut _store_start;
        let len = &raw const _store_end as usize - start as usize;
        core::slice::from_raw_parts_mut(start, len)
    }
}

/// Seed of the core's branch and nonce generators and of the TCP/IP stack. The emulated board
/// has no entropy source: the MAC address and the LAN9118's free-running counter (25 MHz since
/// reset, which depends on the host's timing) are mixed. A real board uses its RNG.
fn seed(mac: &[u8; 6]) -> u64 {
    // SAFETY: FREE_RUN (offset 0x9C) is a read-only counter of the chip.
    let free_run = unsafe { core::ptr::read_volatile((lan9118::BASE + 0x9C) as *const u32) };
    let mut x = u64::from(free_run) ^ 0x9E37_79B9_7F4A_7C15;
    for &b in mac {
        x = (x ^ u64::from(b)).wrapping_mul(0x100_0000_01B3);
    }
    x
}

fn version() -> carillon_protocol::control::FirmwareVersion {
    carillon_firmware::FIRMWARE_VERSION
}

/// Logs `why` and stops QEMU with a failure status.
fn halt(why: core::fmt::Arguments<'_>) -> ! {
    log::error!("{why}");
    cortex_m_semihosting::debug::exit(cortex_m_semihosting::debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    if irqn == lan9118::IRQ as i16 {
        lan9118::on_interrupt(lan9118::BASE);
    }
}

#[exception]
unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    cortex_m_semihosting::hprintln!("hard fault at pc {:#010x}", frame.pc());
    cortex_m_semihosting::debug::exit(cortex_m_semihosting::debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    cortex_m_semihosting::hprintln!("panic: {}", info);
    cortex_m_semihosting::debug::exit(cortex_m_semihosting::debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
