//! The command line: `serve`, `process`, `sign`, `config keys`, and the operator commands
//! (`bucket`, `key`, `style`, `secret`, `cache`, `credentials`).
//!
//! [`args`] holds the syntax (every clap type); this module loads the configuration and
//! dispatches to one module per command family. `startup` applies the configuration
//! file's buckets and secrets when `serve` starts; `admin_client` is how the commands that
//! need the running server (`cache`) reach its admin API.

mod admin_client;
mod args;
mod bucket;
mod cache;
mod cf;
mod key;
mod process;
mod secret;
mod serve;
mod startup;
mod style;

use crate::config::{Config, env};
use crate::credentials;
use anyhow::{Context, Result};
use args::{Cli, Command, ConfigCommand};
use clap::Parser;
use std::process::ExitCode;
use store::Store;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("imgd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    // Needs no configuration, so it also helps when the configuration is refused.
    if let Command::Config(ConfigCommand::Keys) = cli.command {
        for key in env::keys()? {
            println!("{}\t{}", key.path, key.var.as_deref().unwrap_or(""));
        }
        return Ok(());
    }
    let cfg = Config::load(cli.config.as_deref(), imgd_environment()?)?;
    init_logging(&cfg)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve => serve::serve(cfg).await,
            Command::Bucket(c) => bucket::bucket(cfg, c).await,
            Command::Key(c) => key::key(cfg, c).await,
            Command::Style(c) => style::style(cfg, c).await,
            Command::Secret(c) => secret::secret(cfg, c).await,
            Command::Cf(c) => cf::cf(cfg, c).await,
            Command::Sign(args) => {
                println!("{}", crate::sign::run(&args)?);
                Ok(())
            }
            Command::Process { input, output, ops } => {
                process::process(&cfg, &input, &output, &ops)
            }
            Command::Cache(c) => cache::cache(&cfg, c).await,
            Command::Credentials { secret } => {
                let (creds, _) = credentials::resolve(serve::configured_root(&cfg), &cfg.data_dir)?;
                println!("access_key = {}", creds.access_key);
                if secret {
                    println!("secret_key = {}", creds.secret_key);
                }
                Ok(())
            }
            Command::Config(ConfigCommand::Keys) => Ok(()),
        }
    })
}

/// The `IMGD_*` variables, for [`Config::load`]. Other names are not imgd's to judge;
/// `std::env::vars` would panic on one that is not UTF-8.
fn imgd_environment() -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str().filter(|n| n.starts_with(env::PREFIX)) else {
            continue;
        };
        let value = value
            .into_string()
            .map_err(|_| anyhow::anyhow!("{name} is not valid UTF-8"))?;
        out.push((name.to_owned(), value));
    }
    Ok(out)
}

fn init_logging(cfg: &Config) -> Result<()> {
    let filter = std::env::var(env::LOG_VAR).unwrap_or_else(|_| cfg.log_level.clone());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .with_context(|| format!("log filter {filter:?}"))?;
    // Colour codes only for a terminal: in a log file or a journal they are noise.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if cfg.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
    Ok(())
}

/// Opens the store in the data dir. Only `serve` removes leftovers: the operator commands
/// may run beside a live server whose writes are in flight.
async fn open_store(cfg: &Config, remove_leftovers: bool) -> Result<Store> {
    Store::open_with(&cfg.database()?, &cfg.blob_backend()?, remove_leftovers)
        .await
        .with_context(|| match cfg.database.url {
            // The URL is not repeated: it may hold a password.
            Some(_) => "opening the store (metadata in PostgreSQL at database.url)".to_owned(),
            None => format!("opening the store in {}", cfg.data_dir.display()),
        })
}
