//! `ustack`: the command-line tool of the ustack TCP/IP stack.
//!
//! Each subcommand lives in its own module; this file only parses the
//! command line and dispatches.
use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod args;
mod connect;
mod demo;
mod impair;
mod plot;
mod serve;
mod sim;
mod viz;

#[derive(Parser, Debug)]
#[command(
    name = "ustack",
    version,
    about = "ustack: a user-space TCP/IP stack in Rust"
)]
struct Cli {
    /// Log stack events to stderr (level `debug`; RUST_LOG overrides).
    #[arg(long, global = true)]
    trace: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a TCP transfer between two stacks over a simulated, impaired
    /// link (deterministic: the same seed gives the same run), or a
    /// campaign of such runs with random impairments.
    Sim(sim::SimArgs),
    /// Show TCP at work between two ustack stacks over an emulated lossy
    /// path: handshake, echo, sticky packets and framing, authentication,
    /// a file download with its loss recoveries, the close; writes a pcap
    /// and SVG graphs. No root needed.
    Demo(demo::DemoArgs),
    /// Draw the time-sequence and congestion-window graphs of the TCP
    /// connection with the most data in a capture file (pcap or pcapng).
    Plot(plot::PlotArgs),
    /// Run a service (echo, upper, discard, http, file) on a TUN device
    /// until Ctrl-C (SIGINT/SIGTERM).
    Serve(serve::ServeArgs),
    /// Talk to a server through a TUN device: send a file, HTTP GET a URL,
    /// echo stdin, or download from `ustack serve file`.
    Connect(connect::ConnectArgs),
    /// Forward packets between two TUN devices through an impaired link
    /// (rate, delay, jitter, loss, reordering, duplication, queue) until
    /// SIGINT/SIGTERM: netem in user space, to impair your own paths.
    Impair(impair::ImpairArgs),
}

fn init_tracing() {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("debug"));
    // Ignore the error if a subscriber is already installed.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo installs its own subscriber (it captures the engine's
    // events) and adds the --trace log to it.
    if cli.trace && !matches!(cli.command, Command::Demo(_)) {
        init_tracing();
    }
    match cli.command {
        Command::Sim(args) => sim::run(args),
        Command::Demo(args) => demo::run(args, cli.trace),
        Command::Plot(args) => plot::run(args),
        Command::Serve(args) => serve::main(args),
        Command::Connect(args) => connect::main(args),
        Command::Impair(args) => impair::main(args),
    }
}
