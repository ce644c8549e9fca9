//! `imgd`: the binary. Parses the command line and configuration, then hands over to the
//! `server` and `store` crates. Errors become `anyhow` only here.

mod cli;
mod config;
mod credentials;
mod sign;

fn main() -> std::process::ExitCode {
    cli::main()
}
