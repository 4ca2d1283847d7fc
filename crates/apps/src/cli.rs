//! The `ustack serve` and `ustack connect` commands: argument structs
//! (clap) and their logic, on a TUN device.
//!
//! ```text
//! ustack serve <echo|upper|discard|http|file> --tun NAME --addr CIDR
//!              [--port P] [--dir D] [--mtu N] [--gateway IP] [--pcap FILE]
//!              [--max-connections N] [--key KEY]
//! ustack connect <send FILE|get URL|echo|download NAME> --tun NAME --addr CIDR
//!              [--to IP:PORT] [--out FILE] [--resume] [--key KEY] ...
//! ```
//!
//! Default ports: echo 7, discard 9, upper 7007, http 80, file 7070.
//!
//! `serve` runs until SIGINT or SIGTERM, then stops accepting, lets running
//! connections finish (up to 5 s) and exits cleanly; a second signal exits
//! at once. The logic runs on any [`Netstack`] ([`serve_on`],
//! [`connect_on`]), which is how the tests drive it without a TUN device.
use crate::auth::{client_handshake, AuthHandler};
use crate::echo::{udp_echo_loop, Discard, Echo, UpperEcho};
use crate::filexfer::{self, FileServer, Progress};
use crate::http::{parse_url, read_response, write_request, HttpServer};
use crate::server::{Handler, ServeReport, ShutdownHandle, ThreadedServer};
use clap::{Args, ValueEnum};
use std::error::Error;
use std::fs::File;
use std::io::{self, BufReader, IsTerminal, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::Duration;
use ustack::{Cidr, Config};
use ustack_devices::{Capture, TunDevice};
use ustack_runtime::net::{TcpListener, TcpStream, UdpSocket};
use ustack_runtime::Netstack;

/// The error type of the commands: a message for the user.
pub type CliError = Box<dyn Error + Send + Sync>;

/// Options shared by `serve` and `connect`: the TUN device and the stack.
#[derive(Args, Debug, Clone)]
pub struct NetArgs {
    /// TUN interface to attach to (created if missing, which needs root).
    #[arg(long, value_name = "NAME")]
    pub tun: String,
    /// ustack's own address and prefix on the TUN link, e.g. 198.18.0.2/24.
    #[arg(long, value_name = "CIDR", value_parser = parse_cidr)]
    pub addr: Cidr,
    /// Set the interface MTU (needs root) [default: keep the current one].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(68..))]
    pub mtu: Option<u16>,
    /// Default gateway for destinations outside the --addr prefix.
    #[arg(long, value_name = "IP")]
    pub gateway: Option<IpAddr>,
    /// Record every packet to this pcap file.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Turn on the kernel's checksum and TSO offloads for the TUN: TCP
    /// segments of up to 64 KiB cross it both ways (faster bulk transfers;
    /// the pcap then shows those large segments).
    #[arg(long)]
    pub offload: bool,
}

fn parse_cidr(s: &str) -> Result<Cidr, String> {
    s.parse::<Cidr>().map_err(|e| e.to_string())
}

/// The services of `ustack serve`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Echo (RFC 862), TCP and UDP.
    Echo,
    /// Upper-case echo, TCP and UDP.
    Upper,
    /// Discard (RFC 863): reads and drops.
    Discard,
    /// HTTP/1.1 static files from --dir.
    Http,
    /// File downloads from --dir (`ustack connect download`).
    File,
}

impl Service {
    /// The default port.
    pub fn default_port(self) -> u16 {
        match self {
            Service::Echo => 7,
            Service::Discard => 9,
            Service::Upper => 7007,
            Service::Http => 80,
            Service::File => 7070,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Service::Echo => "echo",
            Service::Upper => "upper",
            Service::Discard => "discard",
            Service::Http => "http",
            Service::File => "file",
        }
    }
}

/// `ustack serve`: run a service on a TUN device until SIGINT/SIGTERM.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// The service to run.
    #[arg(value_enum)]
    pub service: Service,
    #[command(flatten)]
    pub net: NetArgs,
    /// TCP (and for echo/upper also UDP) port [default: echo 7, discard 9,
    /// upper 7007, http 80, file 7070].
    #[arg(long, value_name = "P")]
    pub port: Option<u16>,
    /// Directory served by http and file [default: the current directory].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Most connections served at once; more wait in the backlog.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,
    /// Require clients to prove they know KEY (HMAC-SHA256
    /// challenge-response) before the service starts.
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
}

/// What `serve_on` needs (the network-independent part of [`ServeArgs`]).
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub service: Service,
    pub ip: IpAddr,
    pub port: u16,
    pub dir: PathBuf,
    pub max_connections: usize,
    pub key: Option<Vec<u8>>,
}

impl ServeArgs {
    /// Checks the options and fills in defaults.
    pub fn options(&self) -> Result<ServeOptions, CliError> {
        let needs_dir = matches!(self.service, Service::Http | Service::File);
        if self.dir.is_some() && !needs_dir {
            return Err(format!(
                "--dir applies only to the http and file services, not {}",
                self.service.name()
            )
            .into());
        }
        let dir = self.dir.clone().unwrap_or_else(|| PathBuf::from("."));
        if needs_dir && !dir.is_dir() {
            return Err(format!("--dir {}: no such directory", dir.display()).into());
        }
        Ok(ServeOptions {
            service: self.service,
            ip: self.net.addr.addr,
            port: self.port.unwrap_or(self.service.default_port()),
            dir,
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            key: key_bytes(self.key.as_deref())?,
        })
    }
}

fn key_bytes(key: Option<&str>) -> Result<Option<Vec<u8>>, CliError> {
    match key {
        Some("") => Err("--key must not be empty".into()),
        Some(k) => Ok(Some(k.as_bytes().to_vec())),
        None => Ok(None),
    }
}

/// The actions of `ustack connect`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send a file's bytes, then close the sending side (e.g. to discard).
    Send,
    /// HTTP GET a URL; the body goes to stdout or --out.
    Get,
    /// Copy stdin to the server and its replies to stdout (echo, upper).
    Echo,
    /// Download a file from `ustack serve file` (to --out or its base name).
    Download,
}

/// `ustack connect`: a client on a TUN device.
#[derive(Args, Debug, Clone)]
pub struct ConnectArgs {
    /// What to do.
    #[arg(value_enum)]
    pub action: Action,
    /// send: the FILE; get: the URL (http://IP[:PORT]/PATH); download: the
    /// NAME on the server.
    #[arg(value_name = "FILE|URL|NAME")]
    pub target: Option<String>,
    #[command(flatten)]
    pub net: NetArgs,
    /// Server address [for get: the URL's host and port].
    #[arg(long, value_name = "IP:PORT")]
    pub to: Option<SocketAddr>,
    /// Write the body (get) or the file (download) here.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// download: keep what --out already holds and fetch the rest.
    #[arg(long)]
    pub resume: bool,
    /// Authenticate with KEY first (a server started with --key).
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// Seconds to wait for the connection.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub connect_timeout: u64,
}

/// Explains a TUN open failure and how to fix it.
pub fn tun_error(name: &str, e: &io::Error) -> String {
    let fix = format!(
        "run as root, or create the device for your user first:\n  \
         sudo ip tuntap add {name} mode tun user $USER && sudo ip link set {name} up\n\
         and then run without --mtu (setting the MTU needs root)"
    );
    match e.kind() {
        io::ErrorKind::NotFound => format!(
            "cannot open TUN device {name}: {e}\n/dev/net/tun is missing: load the tun module (sudo modprobe tun), or {fix}"
        ),
        _ => format!("cannot open TUN device {name}: {e}\n{fix}"),
    }
}

/// Opens the TUN device and starts a stack on it.
pub fn open_netstack(net: &NetArgs) -> Result<Netstack, CliError> {
    let mtu = net.mtu.map(usize::from);
    let dev = if net.offload {
        TunDevice::open_offload(&net.tun, mtu)
    } else {
        TunDevice::open(&net.tun, mtu)
    }
    .map_err(|e| tun_error(&net.tun, &e))?;
    let mut cfg = Config::default();
    cfg.addresses.push(net.addr);
    cfg.gateway = net.gateway;
    if let Some(m) = net.mtu {
        cfg.mtu = usize::from(m);
    } else {
        cfg.mtu = ustack_devices::Device::mtu(&dev);
    }
    let mut seed = [0u8; 8];
    crate::auth::random_bytes(&mut seed)?;
    cfg.seed = u64::from_le_bytes(seed);
    let ns = match &net.pcap {
        Some(p) => Netstack::new(cfg, Capture::new(dev, p)?),
        None => Netstack::new(cfg, dev),
    }
    .map_err(|e| format!("cannot start the stack on {}: {e}", net.tun))?;
    Ok(ns)
}

/// Runs `on_signal` on the first SIGINT/SIGTERM; a second one exits the
/// process (status 130). Returns a handle that uninstalls the handler.
pub fn on_signals(
    on_signal: impl Fn() + Send + 'static,
) -> Result<signal_hook::iterator::Handle, CliError> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| format!("cannot install the signal handler: {e}"))?;
    let handle = signals.handle();
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut seen = 0;
            for sig in signals.forever() {
                seen += 1;
                let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
                if seen == 1 {
                    eprintln!("ustack: {name} received, shutting down (again to exit at once)");
                    on_signal();
                } else {
                    eprintln!("ustack: {name} received again, exiting");
                    std::process::exit(130);
                }
            }
        })?;
    Ok(handle)
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Keeps the subscriber main.rs installed for --trace, if any.
    let _ = tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .with_env_filter(filter)
        .try_init();
}

/// `ustack serve`: returns when the server stopped after a signal.
pub fn serve_main(args: ServeArgs) -> Result<(), CliError> {
    init_logging();
    let opts = args.options()?;
    let ns = open_netstack(&args.net)?;
    let shutdown = ShutdownHandle::new();
    let s2 = shutdown.clone();
    let signals = on_signals(move || s2.shutdown())?;
    let prefix_host = host_side_hint(&args.net.addr);
    eprintln!(
        "ustack: serving {} on {} via {} (host side e.g.: ip addr add {} dev {}); Ctrl-C stops",
        opts.service.name(),
        SocketAddr::new(opts.ip, opts.port),
        args.net.tun,
        prefix_host,
        args.net.tun
    );
    let r = serve_on(&ns, &opts, shutdown);
    signals.close();
    let report = r?;
    eprintln!(
        "ustack: stopped ({} connections served{})",
        report.accepted,
        if report.forced > 0 {
            format!(", {} cut off at shutdown", report.forced)
        } else {
            String::new()
        }
    );
    Ok(())
}

/// A host address in the same prefix as `addr` for the hint line.
fn host_side_hint(addr: &Cidr) -> String {
    match addr.addr {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            let last = if o[3] == 1 { 2 } else { 1 };
            format!("{}.{}.{}.{}/{}", o[0], o[1], o[2], last, addr.prefix_len)
        }
        IpAddr::V6(v6) => {
            let mut seg = v6.segments();
            seg[7] = if seg[7] == 1 { 2 } else { 1 };
            format!("{}/{}", std::net::Ipv6Addr::from(seg), addr.prefix_len)
        }
    }
}

fn run_server<H: Handler<TcpStream>>(
    listener: TcpListener,
    handler: H,
    opts: &ServeOptions,
    shutdown: ShutdownHandle,
) -> io::Result<ServeReport> {
    let name = opts.service.name();
    match &opts.key {
        Some(k) => ThreadedServer::new(listener, AuthHandler::new(k, handler))
            .name(name)
            .max_connections(opts.max_connections)
            .with_shutdown(shutdown)
            .serve(),
        None => ThreadedServer::new(listener, handler)
            .name(name)
            .max_connections(opts.max_connections)
            .with_shutdown(shutdown)
            .serve(),
    }
}

/// Runs a service on `ns` until `shutdown` is requested.
pub fn serve_on(
    ns: &Netstack,
    opts: &ServeOptions,
    shutdown: ShutdownHandle,
) -> Result<ServeReport, CliError> {
    let addr = SocketAddr::new(opts.ip, opts.port);
    let listener =
        TcpListener::bind(ns, addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let udp = match opts.service {
        Service::Echo | Service::Upper => {
            let sock =
                UdpSocket::bind(ns, addr).map_err(|e| format!("cannot bind UDP {addr}: {e}"))?;
            let upper = opts.service == Service::Upper;
            let sd = shutdown.clone();
            Some(
                thread::Builder::new()
                    .name("udp-echo".into())
                    .spawn(move || {
                        if let Err(e) = udp_echo_loop(&sock, upper, &sd) {
                            tracing::warn!("udp echo stopped: {e}");
                        }
                    })?,
            )
        }
        _ => None,
    };
    let r = match opts.service {
        Service::Echo => run_server(listener, Echo, opts, shutdown.clone()),
        Service::Upper => run_server(listener, UpperEcho, opts, shutdown.clone()),
        Service::Discard => run_server(listener, Discard, opts, shutdown.clone()),
        Service::Http => run_server(
            listener,
            HttpServer::new(&opts.dir)?,
            opts,
            shutdown.clone(),
        ),
        Service::File => run_server(
            listener,
            FileServer::new(&opts.dir)?,
            opts,
            shutdown.clone(),
        ),
    };
    // The server only returns on shutdown, or on an error: stop UDP too.
    shutdown.shutdown();
    if let Some(t) = udp {
        let _ = t.join();
    }
    Ok(r?)
}

/// `ustack connect`.
pub fn connect_main(args: ConnectArgs) -> Result<(), CliError> {
    let ns = open_netstack(&args.net)?;
    let mut stdout = io::stdout().lock();
    let interrupt = Arc::new(std::sync::Mutex::new(None::<TcpStream>));
    let i2 = interrupt.clone();
    let signals = on_signals(move || {
        if let Some(s) = i2.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            let _ = s.shutdown(Shutdown::Both);
        }
    })?;
    let r = connect_on(
        &ns,
        &args,
        Box::new(io::stdin()),
        &mut stdout,
        Some(&interrupt),
    );
    signals.close();
    r
}

/// The stream a signal should cut off.
pub type InterruptSlot = Arc<std::sync::Mutex<Option<TcpStream>>>;

/// Runs a `connect` action on `ns`, reading stdin from `input` and writing
/// what stdout would show to `output`.
pub fn connect_on(
    ns: &Netstack,
    args: &ConnectArgs,
    input: Box<dyn Read + Send>,
    output: &mut dyn Write,
    interrupt: Option<&InterruptSlot>,
) -> Result<(), CliError> {
    let key = key_bytes(args.key.as_deref())?;
    let url = match (args.action, args.target.as_deref()) {
        (Action::Get, Some(u)) => Some(parse_url(u)?),
        (Action::Get, None) => {
            return Err(
                "connect get needs a URL: ustack connect get http://IP[:PORT]/PATH ...".into(),
            )
        }
        (Action::Send, None) => return Err("connect send needs a FILE to send".into()),
        (Action::Download, None) => {
            return Err("connect download needs the NAME of the file on the server".into())
        }
        (Action::Echo, Some(t)) => {
            return Err(
                format!("connect echo takes no argument (got {t:?}); it copies stdin").into(),
            )
        }
        _ => None,
    };
    let to = match (args.to, &url) {
        (Some(to), _) => to,
        (None, Some(u)) => {
            let ip: IpAddr = u.host.parse().map_err(|_| {
                format!(
                    "ustack has no DNS resolver: use an IP address in the URL, or pass --to IP:PORT (got host {:?})",
                    u.host
                )
            })?;
            SocketAddr::new(ip, u.port)
        }
        (None, None) => return Err("--to IP:PORT is required (the server's address)".into()),
    };
    // Open local files before connecting, to fail early.
    let send_file = match (args.action, args.target.as_deref()) {
        (Action::Send, Some(f)) => {
            Some(File::open(f).map_err(|e| format!("cannot open {f}: {e}"))?)
        }
        _ => None,
    };
    let timeout = Duration::from_secs(args.connect_timeout.max(1));
    let mut conn = TcpStream::connect_timeout(ns, &to, timeout).map_err(|e| match e.kind() {
        io::ErrorKind::TimedOut => format!("cannot connect to {to}: no answer within {timeout:?} (is the host side of the TUN configured?)"),
        _ => format!("cannot connect to {to}: {e}"),
    })?;
    if let Some(slot) = interrupt {
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(conn.clone());
    }
    if let Some(k) = &key {
        client_handshake(&mut conn, k).map_err(|e| format!("{to}: {e}"))?;
    }
    match args.action {
        Action::Send => {
            let mut f = send_file.ok_or("no file")?;
            let sent = io::copy(&mut f, &mut conn).map_err(|e| format!("sending to {to}: {e}"))?;
            conn.shutdown(Shutdown::Write)?;
            // Wait for the server to close (reading any reply) so the
            // connection ends with FINs, not a reset.
            let back = io::copy(&mut conn, &mut io::sink()).unwrap_or(0);
            eprintln!(
                "ustack: sent {sent} bytes to {to}{}",
                if back > 0 {
                    format!(" ({back} bytes came back)")
                } else {
                    String::new()
                }
            );
        }
        Action::Get => {
            let u = url.ok_or("no URL")?;
            let mut body_out: Box<dyn Write> = match &args.out {
                Some(p) => Box::new(io::BufWriter::new(
                    File::create(p).map_err(|e| format!("cannot create {}: {e}", p.display()))?,
                )),
                None => Box::new(&mut *output),
            };
            let mut r = BufReader::new(conn);
            write_request(r.get_mut(), "GET", &u.host_header(), &u.path, true)?;
            let resp = read_response(&mut r, false, &mut body_out)
                .map_err(|e| format!("GET {}: {e}", u.path))?;
            body_out.flush()?;
            if !(200..300).contains(&resp.status) {
                return Err(format!(
                    "GET {}: the server answered {} {}",
                    u.path, resp.status, resp.reason
                )
                .into());
            }
        }
        Action::Echo => {
            let mut w = conn.clone();
            let mut input = input;
            let feeder = thread::Builder::new().name("stdin".into()).spawn(move || {
                let r = io::copy(&mut input, &mut w);
                let _ = w.shutdown(Shutdown::Write);
                r
            })?;
            let n = io::copy(&mut conn, output).map_err(|e| format!("reading from {to}: {e}"))?;
            output.flush()?;
            if feeder.is_finished() {
                if let Ok(Err(e)) = feeder.join() {
                    return Err(format!("sending to {to}: {e}").into());
                }
            }
            tracing::debug!("echo: {n} bytes received");
        }
        Action::Download => {
            let name = args.target.as_deref().ok_or("no name")?;
            let dest = match &args.out {
                Some(p) => p.clone(),
                None => PathBuf::from(
                    Path::new(name)
                        .file_name()
                        .ok_or_else(|| format!("{name:?} has no file name; pass --out"))?,
                ),
            };
            let progress = if io::stderr().is_terminal() {
                Progress::Bar
            } else {
                Progress::None
            };
            let rep = filexfer::download(&mut conn, name, &dest, args.resume, progress)
                .map_err(|e| format!("download {name}: {e}"))?;
            eprintln!(
                "ustack: {} -> {}: {} bytes written{} (size {}, sha256 {} verified)",
                name,
                dest.display(),
                rep.bytes_written,
                if rep.offset > 0 {
                    format!(" after the {} already present", rep.offset)
                } else {
                    String::new()
                },
                rep.size,
                rep.sha256
            );
        }
    }
    Ok(())
}

/// Runs a command result as a process exit code, printing the error.
pub fn exit_code(cmd: &str, r: Result<(), CliError>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ustack {cmd}: error: {e}");
            ExitCode::FAILURE
        }
    }
}
