//! The command line: `serve`, `process`, `sign`, `config keys`, and the operator commands
//! (`bucket`, `key`, `style`, `secret`, `cache`, `credentials`), one module per family.

mod access;
mod bucket;
mod cache;
mod process;
mod startup;

use crate::config::{Config, env};
use crate::credentials;
use access::{KeyCommand, SecretCommand, StyleCommand};
use anyhow::{Context, Result};
use bucket::BucketCommand;
use cache::CacheCommand;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use store::Store;

#[derive(Parser)]
#[command(
    name = "imgd",
    version,
    about = "A self-hosted image service with an S3-compatible API"
)]
struct Cli {
    /// TOML configuration file. Every key can also be set as an IMGD_* variable
    /// (`imgd config keys` lists them); other IMGD_* names are refused.
    #[arg(long, global = true, env = "IMGD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve,
    /// Manage buckets.
    #[command(subcommand)]
    Bucket(BucketCommand),
    /// Manage extra access keys, each limited to chosen buckets.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage a bucket's named processing styles (`?x-oss-process=style/<name>`).
    #[command(subcommand)]
    Style(StyleCommand),
    /// Manage link-signing secrets (account-wide or per bucket).
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Print a signed link: `imgd sign --scheme cloudflare --secret S URL`.
    Sign(crate::sign::SignArgs),
    /// Run the image engine on a file: `imgd process in.jpg out.webp --ops 'image/resize,w_300'`.
    ///
    /// The output's extension (jpg, jpeg, png, webp, avif, gif, bmp, tif, tiff) chooses its
    /// format when the ops name none, and must agree with `format,` when they do; any other
    /// extension needs `format,`. `info` and `average-hue` write JSON (not to an image
    /// extension).
    Process {
        /// The source image.
        input: PathBuf,
        /// Where the result is written; its extension names the format.
        output: PathBuf,
        /// An x-oss-process value (`image/...`).
        #[arg(long)]
        ops: String,
    },
    /// The running server's cache of rendered variants (through the admin API).
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Print the root access key (and secret with --secret).
    Credentials {
        #[arg(long)]
        secret: bool,
    },
    /// The configuration's keys.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print every configuration key and its variable, `<key>\t<IMGD_VARIABLE>`, sorted
    /// (no variable: `[[buckets]]` and `[[secrets]]` fields, set in the file only).
    Keys,
}

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
            Command::Serve => serve(cfg).await,
            Command::Bucket(c) => bucket::bucket(cfg, c).await,
            Command::Key(c) => access::key(cfg, c).await,
            Command::Style(c) => access::style(cfg, c).await,
            Command::Secret(c) => access::secret(cfg, c).await,
            Command::Sign(args) => {
                println!("{}", crate::sign::run(&args)?);
                Ok(())
            }
            Command::Process { input, output, ops } => {
                process::process(&cfg, &input, &output, &ops)
            }
            Command::Cache(c) => cache::cache(&cfg, c).await,
            Command::Credentials { secret } => {
                let (creds, _) = credentials::resolve(configured_root(&cfg), &cfg.data_dir)?;
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

fn configured_root(cfg: &Config) -> Option<(String, String)> {
    cfg.access_key.clone().zip(cfg.secret_key.clone())
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

async fn open_store(cfg: &Config, remove_leftovers: bool) -> Result<Store> {
    Store::open(&cfg.db_path(), &cfg.blob_backend()?, remove_leftovers)
        .await
        .with_context(|| format!("opening the store in {}", cfg.data_dir.display()))
}

async fn serve(cfg: Config) -> Result<()> {
    let (creds, generated) = credentials::resolve(configured_root(&cfg), &cfg.data_dir)?;
    if generated {
        println!(
            "Generated root credentials (kept in {}):",
            cfg.data_dir.join(credentials::FILE_NAME).display()
        );
        println!("  access key: {}", creds.access_key);
        println!("  secret key: {}", creds.secret_key);
    }
    let store = open_store(&cfg, true).await?;
    startup::apply_bucket_config(&store, &cfg.buckets).await?;
    startup::apply_secret_config(&store, &cfg.secrets).await?;
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    let root_key = creds.access_key.clone();
    let server_cfg = server::ServerConfig {
        listen: cfg.listen.parse().context("listen address")?,
        region: cfg.region.clone(),
        root_access_key: creds.access_key.clone(),
        root_secret_key: creds.secret_key,
        domain: cfg.domain.clone(),
        max_connections: cfg.max_connections,
        header_read_timeout: Duration::from_secs(cfg.header_read_timeout_secs),
        max_header_bytes: cfg.max_header_bytes,
        shutdown_grace: Duration::from_secs(cfg.shutdown_grace_secs),
        process_limits: cfg.process_limits(),
        delivery: server::delivery::DeliveryConfig {
            account_token: cfg.account_token(&root_key),
            ixmage_prefix: cfg.ixmage_prefix.trim_end_matches('/').to_owned(),
        },
        admin_token: cfg.admin_token.clone(),
        fetch: cfg.fetch_settings()?,
        variant_cache: cfg.variant_cache(),
        imageproxy: cfg.imageproxy()?,
        clock: match cfg.clock_start {
            Some(start) => {
                tracing::warn!(
                    start,
                    "the link-expiry clock starts at a configured instant (clock_start); for tests only"
                );
                server::clock::Clock::starting_at(start)
            }
            None => server::clock::Clock::system(),
        },
    };
    let data_dir = cfg.data_dir.display().to_string();
    server::serve(
        store,
        server_cfg,
        metrics,
        |addr| {
            tracing::info!(%addr, data_dir, "imgd is serving the S3 API");
            println!("imgd listening on http://{addr}");
        },
        shutdown_signal(),
    )
    .await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
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
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received");
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use crate::config::env;
    use clap::CommandFactory;

    /// Every `env = "IMGD_..."` of the command line is one of the variables the
    /// configuration loader lets through; otherwise setting it would stop imgd.
    #[test]
    fn cli_variables_are_allowed_by_the_loader() {
        let mut todo = vec![Cli::command()];
        let mut seen = Vec::new();
        while let Some(cmd) = todo.pop() {
            for arg in cmd.get_arguments() {
                if let Some(var) = arg.get_env().and_then(|v| v.to_str()) {
                    seen.push(var.to_owned());
                }
            }
            todo.extend(cmd.get_subcommands().cloned());
        }
        assert!(seen.iter().any(|v| v == "IMGD_CONFIG"), "{seen:?}");
        for var in &seen {
            assert!(
                env::NON_CONFIG_VARS.iter().any(|(v, _)| v == var),
                "{var} is read by the CLI but refused by the configuration loader"
            );
        }
        // And the list has nothing the CLI and logging no longer read.
        for (var, _) in env::NON_CONFIG_VARS {
            assert!(
                var == env::LOG_VAR || seen.iter().any(|v| v == var),
                "{var} is allowed but nothing reads it"
            );
        }
    }
}
