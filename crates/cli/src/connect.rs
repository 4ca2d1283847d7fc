//! `ustack connect`: a client on a TUN device: send a file, HTTP GET a
//! URL, echo stdin through a server, or download from `ustack serve file`.
//! The logic lives in [`ustack_apps::cli`], where it is tested on
//! in-process stacks.
use std::process::ExitCode;

pub use ustack_apps::cli::ConnectArgs;

/// Runs the command; the error is a message for the user.
pub fn run(args: ConnectArgs) -> Result<(), ustack_apps::cli::CliError> {
    ustack_apps::cli::connect_main(args)
}

/// Runs the command and turns the outcome into an exit code (printing
/// the error).
pub fn main(args: ConnectArgs) -> ExitCode {
    ustack_apps::cli::exit_code("connect", run(args))
}
