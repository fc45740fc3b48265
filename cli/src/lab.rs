//! `carillon lab`: the cloud and one box on this machine, ready for a softphone.
//!
//! Everything lives in one lab directory (default `./carillon-lab/`), reused on the next run:
//!
//! ```text
//! cloud.pem, cloud.key   the cloud's self-signed certificate (generated once; the box pins it)
//! cloud.toml             the cloud's configuration as run (ports may change between runs)
//! cloud.db               the cloud's embedded SQLite store
//! lab.toml (0600)        what the cloud shows only once: operator token, SIP passwords
//! box.toml               the box's configuration as run
//! box/                   the box's state directory (identity, configuration image, journal)
//! lab.log                the logs of both
//! ```
//!
//! The cloud and the box run in this process, through their libraries. The demo directory
//! (one organising body, school 1234 with extensions 201-203, ring group 300, one box) is
//! seeded through the store on the first run only; a run without `lab.toml` is a first run.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use carillon_cloud::api::{app, AppState};
use carillon_cloud::boxlink::BoxLink;
use carillon_cloud::model::{NewBox, NewExtension, NewRingGroup, NewSite, SiteKind};
use carillon_cloud::sip::{SipServer, SystemClock};
use carillon_cloud::{Store, StoreOptions};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// What `carillon lab` is asked for.
pub struct LabArgs {
    /// The lab directory.
    pub dir: PathBuf,
    /// The box's LAN port (UDP, on 127.0.0.1).
    pub lan_port: u16,
    /// Let the OS pick every cloud port instead of trying 5061, 5070 and 8080 first.
    pub free_ports: bool,
    /// Run the scripted tour (see [`crate::demo`]) once the box is online.
    pub demo: bool,
}

/// A lab error: said in one sentence, the process exits 1.
type Error = Box<dyn std::error::Error + Send + Sync>;

const SITE_CODE: &str = "1234";
const EXTENSIONS: [&str; 3] = ["201", "202", "203"];
const RING_GROUP: &str = "300";
const BOX_HOST: &str = "box1.lab.carillon";
const CERT_NAME: &str = "localhost";
/// How long the box has to enroll, authenticate and be online.
const ONLINE_WITHIN: Duration = Duration::from_secs(20);
/// How long each part has to stop on shutdown.
const STOP_WITHIN: Duration = Duration::from_secs(10);
/// Preferred ports; a taken one is replaced by a free one.
const SIP_TLS_PORT: u16 = 5061;
const CONTROL_PORT: u16 = 5070;
const ADMIN_PORT: u16 = 8080;
/// Stack of the runtime's threads: the box's gateway is a large value that debug builds copy
/// through the stack (as in `carillon-box`).
const STACK: usize = 32 << 20;

/// What the cloud shows only once, kept in `lab.toml` (mode 0600).
#[derive(Debug, Serialize, Deserialize)]
struct LabSecrets {
    operator_token: String,
    realm: String,
    site_code: String,
    box_id: i64,
    extensions: Vec<LabExtension>,
}

#[derive(Debug, Serialize, Deserialize)]
struct LabExtension {
    number: String,
    username: String,
    password: String,
}

/// Runs the lab until Ctrl-C or SIGTERM. Exit status 0 after a clean stop, 1 on failure.
pub fn main(args: LabArgs) -> std::process::ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(STACK)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("carillon lab: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match tokio::spawn(run(args)).await {
            Ok(r) => r,
            Err(e) => Err(format!("the lab task failed: {e}").into()),
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("carillon lab: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: LabArgs) -> Result<(), Error> {
    let dir = prepare_dir(&args.dir)?;
    init_logs(&dir)?;
    let lan: SocketAddr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.lan_port));
    // Said before anything starts: the box would fail later with a less helpful message.
    // The box binds its LAN port on UDP and on TCP.
    if let Err(e) = std::net::UdpSocket::bind(lan) {
        return Err(format!("the box's LAN port {lan} (UDP) is not free ({e}); pick another with --lan-port").into());
    }
    if let Err(e) = std::net::TcpListener::bind(lan) {
        return Err(format!("the box's LAN port {lan} (TCP) is not free ({e}); pick another with --lan-port").into());
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let signal_tx = stop_tx.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = signal_tx.send(true);
    });

    let (cert, key) = ensure_certificate(&dir)?;
    let first_run = !dir.join("lab.toml").exists();
    if first_run {
        // A half-made lab (stopped before its credentials were saved) starts over.
        for leftover in ["cloud.db", "cloud.db-wal", "cloud.db-shm"] {
            let _ = std::fs::remove_file(dir.join(leftover));
        }
        let _ = std::fs::remove_dir_all(dir.join("box"));
    }

    // The cloud.
    let pick = |port: u16| if args.free_ports { 0 } else { port };
    let sip_tls = preferred_tcp_port(pick(SIP_TLS_PORT));
    let control = preferred_tcp_port(pick(CONTROL_PORT));
    let admin_listener = match tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, pick(ADMIN_PORT))).await {
        Ok(l) => l,
        Err(_) => tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?,
    };
    let admin = admin_listener.local_addr()?;
    let cloud_toml = cloud_toml(&dir, &cert, &key, sip_tls, control, admin);
    write_file(&dir.join("cloud.toml"), &cloud_toml, false)?;
    let mut config = carillon_cloud::config::Config::from_toml(&cloud_toml)?;
    let store_opts =
        StoreOptions { realm: config.realm.clone(), plan: config.numbering_plan.clone(), ..StoreOptions::default() };
    let store = Store::connect(&config.database_url(), store_opts).await?;
    let secrets = if first_run {
        let s = seed(&store, config.enrollment_ttl_secs).await?;
        write_file(&dir.join("lab.toml"), &toml::to_string(&s)?, true)?;
        s
    } else {
        let path = dir.join("lab.toml");
        let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        toml::from_str::<LabSecrets>(&text)
            .map_err(|e| format!("{} is damaged ({e}); remove the lab directory to start over", path.display()))?
    };
    config.operator_token = Some(secrets.operator_token.clone());
    let token = config.validate()?.to_owned();
    let mut state = AppState::new(store.clone(), &token);
    state.enrollment_ttl_secs = config.enrollment_ttl_secs;
    let sip = SipServer::start(store.clone(), config.sip.clone(), Arc::new(SystemClock)).await?;
    let sip_tls = sip.tls_addr().ok_or("the SIP server has no TLS listener")?;
    let box_link_cfg = config.box_link.clone().ok_or("the cloud configuration has no [box_link]")?;
    let box_link = BoxLink::start(store.clone(), Some(sip.handle()), box_link_cfg, Arc::new(SystemClock)).await?;
    let control = box_link.local_addr();
    let mut api_stop = stop_rx.clone();
    let api = tokio::spawn(async move {
        axum::serve(admin_listener, app(state))
            .with_graceful_shutdown(async move {
                let _ = api_stop.wait_for(|s| *s).await;
            })
            .await
    });
    tracing::info!(%admin, %sip_tls, %control, "lab cloud started");

    // The box. Without an identity in its state directory it needs a fresh enrollment token
    // (the first run, or a box directory removed by hand).
    let box_state = dir.join("box");
    let enrollment_token = if box_state.join("identity.toml").exists() {
        None
    } else {
        let now = unix_now();
        Some(store.issue_enrollment_token(secrets.box_id, config.enrollment_ttl_secs, now).await?.enrollment_token)
    };
    // With --demo the box reaches the cloud through two relays that the tour cuts and restores
    // (the school's WAN); TLS passes through them, checked against the same pinned certificate.
    let relays = if args.demo {
        Some((
            crate::demo::relay::Relay::start("sip-tls", sip_tls).await?,
            crate::demo::relay::Relay::start("control", control).await?,
        ))
    } else {
        None
    };
    let (box_sip, box_control) = relays.as_ref().map_or((sip_tls, control), |(s, c)| (s.addr(), c.addr()));
    let box_toml = box_toml(&box_state, lan, box_sip, box_control, &cert, enrollment_token.as_deref());
    write_file(&dir.join("box.toml"), &box_toml, true)?;
    let box_config = carillon_box::Config::from_file(&dir.join("box.toml"))?;
    let mut box_stop = stop_rx.clone();
    let mut box_task = tokio::spawn(carillon_box::run(box_config, async move {
        let _ = box_stop.wait_for(|s| *s).await;
    }));

    let outcome = wait_online(&store, secrets.box_id, &mut box_task, stop_rx.clone()).await;
    let result = match outcome {
        Ok(true) => {
            print_ready(&dir, &secrets, lan, admin, sip_tls, control);
            let mut s = stop_rx.clone();
            let toured = match &relays {
                Some((sip_relay, control_relay)) => {
                    let tour = demo_tour(&store, &sip, &secrets, lan, sip_relay, control_relay);
                    tokio::select! {
                        biased;
                        _ = s.wait_for(|s| *s) => Ok(false),
                        r = &mut box_task => if *stop_rx.borrow() { Ok(false) } else { Err(box_ended(r)) },
                        r = tour => r.map(|()| true),
                    }
                }
                None => Ok(true),
            };
            match toured {
                Ok(true) => {
                    if relays.is_some() {
                        println!("\nThe lab keeps running (point a softphone at it as above); Ctrl-C stops it.");
                    }
                    tokio::select! {
                        biased;
                        _ = s.wait_for(|s| *s) => Ok(()),
                        // The box also sees the signal, and may stop before this task does.
                        r = &mut box_task => if *stop_rx.borrow() { Ok(()) } else { Err(box_ended(r)) },
                    }
                }
                Ok(false) => Ok(()),
                Err(e) => Err(e),
            }
        }
        Ok(false) => Ok(()),
        Err(e) => Err(e),
    };

    // Stop: the box first (it says goodbye on its links), then the cloud. Whatever made us stop
    // (a signal, a failure), every part sees the same signal.
    eprintln!("carillon lab: stopping");
    let _ = stop_tx.send(true);
    if !box_task.is_finished() {
        match tokio::time::timeout(STOP_WITHIN, &mut box_task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(r) => eprintln!("carillon lab: {}", box_ended(r)),
            Err(_) => {
                box_task.abort();
                eprintln!("carillon lab: the box did not stop within {STOP_WITHIN:?}");
            }
        }
    }
    tokio::time::timeout(STOP_WITHIN, box_link.shutdown()).await.map_err(|_| "the box link did not stop in time")?;
    tokio::time::timeout(STOP_WITHIN, sip.leave()).await.map_err(|_| "the SIP server did not stop in time")?;
    // Calls still up are recorded as ended, and every queued call record is written before
    // the store closes below.
    tokio::time::timeout(STOP_WITHIN, sip.stop()).await.map_err(|_| "the SIP server did not stop in time")?;
    match tokio::time::timeout(STOP_WITHIN, api).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => eprintln!("carillon lab: admin API: {e}"),
        Ok(Err(e)) => eprintln!("carillon lab: admin API task: {e}"),
        Err(_) => eprintln!("carillon lab: the admin API did not stop within {STOP_WITHIN:?}"),
    }
    store.close().await;
    tracing::info!("lab stopped");
    if result.is_ok() {
        eprintln!("carillon lab: stopped");
    }
    result
}

/// Creates the lab directory (or reuses it) and returns it absolute.
fn prepare_dir(dir: &Path) -> Result<PathBuf, Error> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create the lab directory {}: {e}", dir.display()))?;
    let dir = std::fs::canonicalize(dir).map_err(|e| format!("cannot use the lab directory {}: {e}", dir.display()))?;
    if dir.to_str().is_none() {
        return Err(format!("the lab directory's path is not UTF-8: {}", dir.display()).into());
    }
    Ok(dir)
}

/// The cloud's and the box's logs go to `<dir>/lab.log` (`RUST_LOG` filters, default `info`),
/// so that the terminal shows what a person needs.
fn init_logs(dir: &Path) -> Result<(), Error> {
    let path = dir.join("lab.log");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).with_writer(std::sync::Mutex::new(file)).init();
    Ok(())
}

/// The cloud's self-signed certificate and key, generated on the first run.
fn ensure_certificate(dir: &Path) -> Result<(PathBuf, PathBuf), Error> {
    let cert = dir.join("cloud.pem");
    let key = dir.join("cloud.key");
    if !(cert.exists() && key.exists()) {
        let generated = rcgen::generate_simple_self_signed(vec![CERT_NAME.to_owned(), "127.0.0.1".to_owned()])
            .map_err(|e| format!("cannot generate the cloud's certificate: {e}"))?;
        write_file(&key, &generated.key_pair.serialize_pem(), true)?;
        write_file(&cert, &generated.cert.pem(), false)?;
    }
    Ok((cert, key))
}

/// `preferred` on 127.0.0.1 if it is free (TCP), else 0: the OS picks one at bind.
fn preferred_tcp_port(preferred: u16) -> SocketAddr {
    let want = SocketAddr::from((Ipv4Addr::LOCALHOST, preferred));
    match std::net::TcpListener::bind(want) {
        Ok(_) => want,
        Err(_) => SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    }
}

/// A TOML string (quoted and escaped).
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn path_str(p: &Path) -> String {
    quoted(&p.to_string_lossy())
}

fn cloud_toml(
    dir: &Path,
    cert: &Path,
    key: &Path,
    sip_tls: SocketAddr,
    control: SocketAddr,
    admin: SocketAddr,
) -> String {
    format!(
        "# carillon lab: the cloud as it runs now (written at every start; ports may change).\n\
         # The operator token is in lab.toml: carillon-cloud takes it from CARILLON_OPERATOR_TOKEN.\n\
         listen = \"{admin}\"\n\
         database = {db}\n\
         realm = \"carillon\"\n\n\
         [sip]\n\
         udp = \"127.0.0.1:0\"\n\
         host = \"127.0.0.1\"\n\
         tls = {{ listen = \"{sip_tls}\", cert = {cert}, key = {key} }}\n\n\
         [box_link]\n\
         listen = \"{control}\"\n\
         tls = {{ cert = {cert}, key = {key} }}\n",
        db = path_str(&dir.join("cloud.db")),
        cert = path_str(cert),
        key = path_str(key),
    )
}

fn box_toml(
    state: &Path,
    lan: SocketAddr,
    sip: SocketAddr,
    control: SocketAddr,
    cert: &Path,
    token: Option<&str>,
) -> String {
    let token = token.map(|t| format!("enrollment_token = {}\n", quoted(t))).unwrap_or_default();
    format!(
        "# carillon lab: the box as it runs now (written at every start).\n\
         state_dir = {state}\n\
         log_level = \"info\"\n\n\
         [identity]\n\
         host = \"{BOX_HOST}\"\n\
         {token}\n\
         [lan]\n\
         listen = \"{lan}\"\n\n\
         [cloud]\n\
         sip = \"{sip}\"\n\
         control = \"{control}\"\n\
         server_name = \"{CERT_NAME}\"\n\n\
         [tls]\n\
         pinned_cert = {cert}\n",
        state = path_str(state),
        cert = path_str(cert),
    )
}

/// Writes a file whole (through a temporary file and a rename); `private` makes it mode 0600.
fn write_file(path: &Path, text: &str, private: bool) -> Result<(), Error> {
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let write = || -> std::io::Result<()> {
        let mut f = opts.open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| format!("cannot write {}: {e}", path.display()).into())
}

fn unix_now() -> i64 {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// The demo directory, through the store: body, school 1234, extensions 201-203, ring group
/// 300 ringing all three, and the box (its enrollment token is issued when the box starts).
async fn seed(store: &Store, ttl_secs: i64) -> Result<LabSecrets, Error> {
    let now = unix_now();
    let body = store.create_body("Demo School Board", now).await?;
    let site = store
        .create_site(
            body.id,
            &NewSite {
                body_id: None,
                name: "Demo Primary School".into(),
                code: SITE_CODE.into(),
                kind: SiteKind::School,
            },
            now,
        )
        .await?;
    let mut extensions = Vec::new();
    let mut members = Vec::new();
    for (number, name) in EXTENSIONS.iter().zip(["Secretariat", "Staff room", "Caretaker"]) {
        let created = store
            .create_extension(
                site.id,
                &NewExtension { number: (*number).to_owned(), sip_username: None, display_name: name.to_owned() },
                now,
            )
            .await?;
        members.push(created.extension.id);
        extensions.push(LabExtension {
            number: (*number).to_owned(),
            username: created.extension.sip_username.clone(),
            password: created.sip_password,
        });
    }
    store
        .create_ring_group(
            site.id,
            &NewRingGroup { number: RING_GROUP.into(), name: "Everyone".into(), timeout_secs: 30, members },
            now,
        )
        .await?;
    let issued =
        store.create_box(site.id, &NewBox { name: "Lab box".into(), enrollment_ttl_secs: None }, ttl_secs, now).await?;
    Ok(LabSecrets {
        operator_token: carillon_cloud::secrets::new_token("op_"),
        realm: store.options().realm.clone(),
        site_code: SITE_CODE.into(),
        box_id: issued.box_info.id,
        extensions,
    })
}

/// Waits (at most [`ONLINE_WITHIN`]) until the store shows the box enrolled, connected and in
/// mode `online`. `Ok(false)`: stopped by a signal meanwhile.
async fn wait_online(
    store: &Store,
    box_id: i64,
    box_task: &mut tokio::task::JoinHandle<Result<(), carillon_box::RunError>>,
    stop: watch::Receiver<bool>,
) -> Result<bool, Error> {
    let mut waiter = stop.clone();
    let deadline = Instant::now() + ONLINE_WITHIN;
    loop {
        let info = store.get_box(box_id).await?;
        if info.enrolled && info.online && info.mode.as_deref() == Some("online") {
            return Ok(true);
        }
        let last = format!(
            "enrolled: {}, connected: {}, mode: {}{}",
            info.enrolled,
            info.online,
            info.mode.as_deref().unwrap_or("none"),
            info.config_rejection.map(|r| format!(", configuration rejected: {r}")).unwrap_or_default()
        );
        if Instant::now() >= deadline {
            return Err(format!(
                "the box was not online within {ONLINE_WITHIN:?} ({last}); see lab.log in the lab directory"
            )
            .into());
        }
        tokio::select! {
            biased;
            _ = waiter.wait_for(|s| *s) => return Ok(false),
            r = &mut *box_task => return if *stop.borrow() { Ok(false) } else { Err(box_ended(r)) },
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

/// The demo tour with phones 202 and 203 (a person's softphone may use 201).
async fn demo_tour(
    store: &Store,
    sip: &SipServer,
    secrets: &LabSecrets,
    lan: SocketAddr,
    sip_relay: &crate::demo::relay::Relay,
    control_relay: &crate::demo::relay::Relay,
) -> Result<(), Error> {
    let account = |number: &str| -> Result<crate::demo::phone::Account, Error> {
        let e = secrets
            .extensions
            .iter()
            .find(|e| e.number == number)
            .ok_or_else(|| format!("lab.toml has no extension {number}"))?;
        Ok(crate::demo::phone::Account {
            number: e.number.clone(),
            username: e.username.clone(),
            password: e.password.clone(),
            domain: secrets.realm.clone(),
        })
    };
    let tour = crate::demo::Tour {
        store,
        sip,
        box_id: secrets.box_id,
        lan,
        sip_relay,
        control_relay,
        caller: account("202")?,
        callee: account("203")?,
    };
    tour.run().await.map_err(|e| format!("the demo tour failed: {e}").into())
}

/// Why the box's task ended on its own.
fn box_ended(r: Result<Result<(), carillon_box::RunError>, tokio::task::JoinError>) -> Error {
    match r {
        Ok(Ok(())) => "the box stopped on its own".into(),
        Ok(Err(e)) => format!("the box stopped: {e}").into(),
        Err(e) => format!("the box's task failed: {e}").into(),
    }
}

/// The block a person reads: where to point a softphone, the credentials, the admin API.
fn print_ready(
    dir: &Path,
    s: &LabSecrets,
    lan: SocketAddr,
    admin: SocketAddr,
    sip_tls: SocketAddr,
    control: SocketAddr,
) {
    let mut t = String::new();
    t.push_str("\ncarillon lab is ready\n\n");
    t.push_str("Point a softphone at the box (SIP over UDP):\n");
    t.push_str(&format!("  SIP server / outbound proxy: {lan} (UDP)\n"));
    t.push_str(&format!("  domain / realm:              {}\n", s.realm));
    for e in &s.extensions {
        t.push_str(&format!("  extension {}  username {}  password {}\n", e.number, e.username, e.password));
    }
    t.push_str(&format!(
        "Dial {} for another phone, {RING_GROUP} rings all three (school {}).\n\n",
        s.extensions.iter().map(|e| e.number.as_str()).collect::<Vec<_>>().join(", "),
        s.site_code
    ));
    t.push_str("Cloud:\n");
    t.push_str(&format!("  admin API:        http://{admin}  operator token {}\n", s.operator_token));
    t.push_str(&format!(
        "  try:              curl -H 'Authorization: Bearer {}' http://{admin}/v1/boxes\n",
        s.operator_token
    ));
    t.push_str(&format!("  SIP over TLS:     {sip_tls}\n"));
    t.push_str(&format!("  box control link: {control}  (box {} online)\n\n", s.box_id));
    t.push_str(&format!("Lab directory: {}  (credentials in lab.toml, logs in lab.log)\n", dir.display()));
    t.push_str("Ctrl-C stops everything.\n");
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let _ = out.write_all(t.as_bytes());
    let _ = out.flush();
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("interrupt received"),
        () = term => tracing::info!("SIGTERM received"),
    }
}
