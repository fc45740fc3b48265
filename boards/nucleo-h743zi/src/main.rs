//! Carillon on the NUCLEO-H743ZI (STM32H743ZI, 400 MHz Cortex-M7, LAN8742A PHY on RMII):
//! the same gateway core as `carillon-box`, on embassy-net with embassy-stm32's Ethernet
//! driver, the configuration and the call-record journal in the last four sectors of the
//! internal flash, the seed from the RNG, defmt logs over RTT (`cargo run --release` flashes the
//! board with probe-rs and shows them).
//!
//! Boot: clocks (PLL1 from HSI to 400 MHz), RNG, Ethernet, DHCP on the school LAN, the flash
//! store, then the gateway on UDP port 5060. With no uplink in this runtime yet, the box serves
//! the school in survival from the configuration stored in flash.
#![no_std]
#![no_main]

use core::cell::RefCell;
use core::fmt::Write as _;
use core::net::{Ipv4Addr, SocketAddr};

use carillon_embassy::flash::{FlashJournal, Partition, PartitionError, SlotConfigStore};
use carillon_embassy::lan::LanBuffers;
use carillon_firmware::mcu::gateway::{BootError, Gateway, Settings, Timing};
use carillon_protocol::control::BoxId;
use embassy_executor::Spawner;
use embassy_net::{Runner, StackResources};
use embassy_stm32::eth::{self, Ethernet, GenericPhy, PacketQueue, Sma};
use embassy_stm32::flash::{Blocking, Flash};
use embassy_stm32::peripherals::{ETH, ETH_SMA, RNG};
use embassy_stm32::rng::{self, Rng};
use embassy_stm32::{bind_interrupts, Config};
use embassy_time::{Duration, Timer};
use static_cell::StaticCell;
use {defmt_rtt as _, panic_probe as _};

/// The box's SIP port on the LAN.
const SIP_PORT: u16 = 5060;
/// How often the stack high-water mark is logged.
const REPORT_EVERY: Duration = Duration::from_secs(30);

/// The store: the last four 128 KiB sectors of bank 2 (offsets from the start of flash).
const CONFIG_AT: u32 = 0x0018_0000;
const CONFIG_LEN: u32 = 256 * 1024;
const JOURNAL_AT: u32 = CONFIG_AT + CONFIG_LEN;
const JOURNAL_LEN: u32 = 256 * 1024;

type StoreFlash = Flash<'static, Blocking>;
type Device = Ethernet<'static, ETH, GenericPhy<Sma<'static, ETH_SMA>>>;
type BoardGateway = Gateway<FlashJournal<'static, StoreFlash>, SlotConfigStore<'static, StoreFlash>>;
type BootResult = Result<BoardGateway, BootError<PartitionError<embassy_stm32::flash::Error>>>;

bind_interrupts!(struct Irqs {
    ETH => eth::InterruptHandler;
    RNG => rng::InterruptHandler<RNG>;
});

static PACKETS: StaticCell<PacketQueue<4, 4>> = StaticCell::new();
static NET: StaticCell<StackResources<4>> = StaticCell::new();
static FLASH: StaticCell<RefCell<StoreFlash>> = StaticCell::new();
/// The gateway, built in its static (`init_with` lets the compiler construct it in place).
static GATEWAY: StaticCell<BootResult> = StaticCell::new();
static LAN_BUFFERS: StaticCell<LanBuffers> = StaticCell::new();

/// `log` (what the shared runtime writes) into defmt.
struct Defmt;
static LOGGER: Defmt = Defmt;

impl log::Log for Defmt {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        let mut line = heapless::String::<160>::new();
        // A line longer than the buffer is cut: logs are for people, not for parsing.
        let _ = write!(line, "{}", record.args());
        match record.level() {
            log::Level::Error => defmt::error!("{=str}", line.as_str()),
            log::Level::Warn => defmt::warn!("{=str}", line.as_str()),
            _ => defmt::info!("{=str}", line.as_str()),
        }
    }

    fn flush(&self) {}
}

fn clocks() -> Config {
    use embassy_stm32::rcc::*;
    let mut config = embassy_stm32::Config::default();
    config.rcc.hsi = Some(HSIPrescaler::DIV1);
    config.rcc.csi = true;
    // The RNG runs from HSI48.
    config.rcc.hsi48 = Some(Default::default());
    // 64 MHz HSI / 4 * 50 / 2 = 400 MHz.
    config.rcc.pll1 = Some(Pll {
        source: PllSource::HSI,
        prediv: PllPreDiv::DIV4,
        mul: PllMul::MUL50,
        fracn: None,
        divp: Some(PllDiv::DIV2),
        divq: None,
        divr: None,
    });
    config.rcc.sys = Sysclk::PLL1_P;
    config.rcc.ahb_pre = AHBPrescaler::DIV2;
    config.rcc.apb1_pre = APBPrescaler::DIV2;
    config.rcc.apb2_pre = APBPrescaler::DIV2;
    config.rcc.apb3_pre = APBPrescaler::DIV2;
    config.rcc.apb4_pre = APBPrescaler::DIV2;
    config.rcc.voltage_scale = VoltageScale::Scale1;
    config
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Info);
    let p = embassy_stm32::init(clocks());
    log::info!("carillon on nucleo-h743zi");

    let mut rng = Rng::new(p.RNG, Irqs);
    let seed = rng.next_u64();
    // A locally administered MAC address from the chip's unique ID.
    let uid = embassy_stm32::uid::uid();
    let mac = [0x02, uid[0], uid[2], uid[4], uid[6], uid[8]];

    // RMII pins of the NUCLEO-H743ZI (user manual UM2407, LAN8742A PHY).
    let device = Ethernet::new(
        PACKETS.init(PacketQueue::new()),
        p.ETH,
        Irqs,
        p.PA1,
        p.PA7,
        p.PC4,
        p.PC5,
        p.PG13,
        p.PB13,
        p.PG11,
        mac,
        p.ETH_SMA,
        p.PA2,
        p.PC1,
    );
    let config = embassy_net::Config::dhcpv4(Default::default());
    let (stack, runner) = embassy_net::new(device, config, NET.init(StackResources::new()), seed);
    spawner.spawn(net_task(runner).expect("one net task"));
    stack.wait_config_up().await;
    let Some(ip) = stack.config_v4() else {
        panic!("no IPv4 configuration after DHCP");
    };
    log::info!("LAN address {}", ip.address);

    let flash = FLASH.init(RefCell::new(Flash::new_blocking(p.FLASH)));
    let gateway = build_gateway(flash, &uid, ip.address.address(), seed);
    match gateway.site() {
        Some(site) => log::info!("configuration v{} with {} extensions", site.version, site.extensions.len()),
        None => log::warn!("no configuration stored: phones are refused until the cloud sends one"),
    }
    let boot_mark = carillon_embassy::stack::high_water();
    carillon_embassy::stack::repaint();
    spawner.spawn(report_task(boot_mark).expect("one report task"));
    carillon_embassy::lan::run(stack, gateway, SIP_PORT, LAN_BUFFERS.init(LanBuffers::new()), None).await
}

/// Opens the journal and the configuration in flash and builds the gateway in its static. Not
/// inlined, so that its frame lives on the stack only during boot.
#[inline(never)]
fn build_gateway(
    flash: &'static RefCell<StoreFlash>,
    uid: &[u8; 12],
    ip: Ipv4Addr,
    seed: u64,
) -> &'static mut BoardGateway {
    let journal = FlashJournal(Partition::new(flash, JOURNAL_AT, JOURNAL_LEN));
    let config = SlotConfigStore::new(Partition::new(flash, CONFIG_AT, CONFIG_LEN));
    let mut id = [0u8; 8];
    id.copy_from_slice(uid.get(4..12).unwrap_or(&[0; 8]));
    let settings = Settings {
        box_id: BoxId(u64::from_be_bytes(id)),
        host: heapless::String::try_from("box.carillon.invalid").unwrap_or_default(),
        lan_addr: SocketAddr::new(ip.into(), SIP_PORT),
        // Stands for the uplink flow in the transaction layer; never sent to.
        uplink_peer: SocketAddr::new(Ipv4Addr::new(192, 0, 2, 1).into(), 5061),
        timing: Timing::DEFAULT,
        seed,
    };
    let booted = carillon_embassy::time::now();
    match GATEWAY.init_with(|| Gateway::new(settings, journal, config, booted)) {
        Ok(g) => g,
        Err(e) => panic!("gateway: {:?}", e),
    }
}

#[embassy_executor::task]
async fn net_task(mut runner: Runner<'static, Device>) -> ! {
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
