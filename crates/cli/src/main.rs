//! `ustack`: the command-line tool of the ustack TCP/IP stack.
//!
//! Each subcommand lives in its own module; this file only parses the
//! command line and dispatches.
use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod sim;

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
    if cli.trace {
        init_tracing();
    }
    match cli.command {
        Command::Sim(args) => sim::run(args),
    }
}
