//! `ustack serve`: run echo, upper, discard, http or file on a TUN device
//! until SIGINT/SIGTERM, then stop gracefully. The logic lives in
//! [`ustack_apps::cli`], where it is tested on in-process stacks.
use std::process::ExitCode;

pub use ustack_apps::cli::ServeArgs;

/// Runs the command; the error is a message for the user.
pub fn run(args: ServeArgs) -> Result<(), ustack_apps::cli::CliError> {
    ustack_apps::cli::serve_main(args)
}

/// Runs the command and turns the outcome into an exit code (printing
/// the error).
pub fn main(args: ServeArgs) -> ExitCode {
    ustack_apps::cli::exit_code("serve", run(args))
}
