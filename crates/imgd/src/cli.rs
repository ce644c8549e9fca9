//! The command line: `serve`, `process`, and the operator commands `bucket`, `key` and
//! `style`.

use crate::config::Config;
use crate::credentials;
use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use store::{BucketAcl, Permission, Store};

#[derive(Parser)]
#[command(
    name = "imgd",
    version,
    about = "A self-hosted image service with an S3-compatible API"
)]
struct Cli {
    /// TOML configuration file. Every key can also be set as an IMGD_* variable.
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
    /// Run the image engine on a file: `imgd process in.jpg out.webp --ops 'image/resize,w_300/format,webp'`.
    Process {
        input: PathBuf,
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
}

#[derive(Subcommand)]
enum BucketCommand {
    /// Create a bucket (private unless --public).
    Create {
        name: String,
        /// Allow anonymous GET/HEAD of its objects.
        #[arg(long)]
        public: bool,
    },
    /// List buckets with their access.
    List,
    /// Delete an empty bucket.
    Delete { name: String },
    /// Make a bucket public-read (or private again with --private).
    SetPublic {
        name: String,
        #[arg(long)]
        private: bool,
    },
    /// Set who may read without S3/OSS credentials, and how responses are cached.
    Policy(PolicyArgs),
    /// Set the separators that make `key<sep>style` apply a style (`!`, `@!`, `-`, `_`,
    /// `/`); none turns the feature off.
    StyleDelimiters {
        name: String,
        delimiters: Vec<String>,
    },
    /// Set where misses go (back-to-source): an HTTP base URL or an S3-compatible bucket.
    Origin(OriginArgs),
}

#[derive(Args)]
struct OriginArgs {
    name: String,
    /// `GET <url>/<key>` on a miss.
    #[arg(long, conflicts_with_all = ["s3_endpoint", "none"])]
    http: Option<String>,
    /// An S3-compatible endpoint (with --s3-bucket and credentials).
    #[arg(long, requires_all = ["s3_bucket", "s3_access_key", "s3_secret_key"], conflicts_with = "none")]
    s3_endpoint: Option<String>,
    #[arg(long)]
    s3_bucket: Option<String>,
    #[arg(long, default_value = "us-east-1")]
    s3_region: String,
    #[arg(long)]
    s3_access_key: Option<String>,
    #[arg(long, env = "IMGD_ORIGIN_S3_SECRET_KEY", hide_env_values = true)]
    s3_secret_key: Option<String>,
    /// Prepended to keys at the origin.
    #[arg(long, default_value = "")]
    s3_prefix: String,
    /// How long an origin 404 is remembered, in seconds (default 60).
    #[arg(long)]
    miss_ttl: Option<u32>,
    /// Remove the origin: misses are 404 again.
    #[arg(long)]
    none: bool,
}

#[derive(Subcommand)]
enum CacheCommand {
    /// Drop cached variants: everything, a bucket's, one object's, or a prefix's.
    Purge {
        #[arg(long)]
        bucket: Option<String>,
        #[arg(long, requires = "bucket", conflicts_with = "prefix")]
        key: Option<String>,
        #[arg(long, requires = "bucket")]
        prefix: Option<String>,
        /// The server's base URL (default: http://<listen>).
        #[arg(long)]
        server: Option<String>,
    },
    /// Entries, bytes, hits and misses.
    Stats {
        #[arg(long)]
        server: Option<String>,
    },
}

#[derive(Args)]
struct PolicyArgs {
    name: String,
    /// `private` (S3/OSS-authenticated only), `public`, or `signed`.
    #[arg(long)]
    delivery: Option<String>,
    /// Link schemes a `signed` bucket accepts: cloudflare, ixmage, weekly (comma-separated).
    #[arg(long, value_delimiter = ',')]
    schemes: Option<Vec<String>>,
    /// Referer host allowed to embed (`example.com`, `*.example.com`); repeatable.
    #[arg(long = "referer")]
    referers: Vec<String>,
    /// Remove every referer restriction.
    #[arg(long)]
    clear_referers: bool,
    /// Cache-Control max-age of public responses, in seconds.
    #[arg(long)]
    ttl: Option<u32>,
    /// A style served without a signature even when the bucket needs one; repeatable.
    #[arg(long = "public-style")]
    public_styles: Vec<String>,
    /// Remove every always-public style.
    #[arg(long)]
    clear_public_styles: bool,
}

#[derive(Subcommand)]
enum SecretCommand {
    /// Create a secret (prints it once). Without --bucket it is an account secret that
    /// signs links to every bucket.
    Create {
        #[arg(long)]
        bucket: Option<String>,
        /// Use this value instead of a random one (to keep existing links working).
        #[arg(long)]
        value: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List secrets (values are not shown).
    List {
        #[arg(long)]
        bucket: Option<String>,
    },
    /// Revoke a secret; links it signed fail from the next request on.
    Revoke { id: String },
}

#[derive(Subcommand)]
enum StyleCommand {
    /// Create or replace a style: `imgd style put photos thumb 'image/resize,w_200'`.
    Put {
        bucket: String,
        name: String,
        process: String,
    },
    /// List a bucket's styles.
    List { bucket: String },
    /// Delete a style.
    Delete { bucket: String, name: String },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create an access key limited to the given buckets.
    Create(KeyCreate),
    /// List access keys (secrets are not shown).
    List,
    /// Revoke an access key; its signatures fail from the next request on.
    Revoke { access_key: String },
}

#[derive(Args)]
struct KeyCreate {
    /// BUCKET:PERMISSION, where PERMISSION is read or read-write. Repeatable.
    #[arg(long = "bucket", required = true, value_name = "BUCKET:PERMISSION")]
    grants: Vec<String>,
    #[arg(long, default_value = "")]
    description: String,
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
    let cfg = Config::load(cli.config.as_deref(), std::env::vars())?;
    init_logging(&cfg)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve => serve(cfg).await,
            Command::Bucket(c) => bucket(cfg, c).await,
            Command::Key(c) => key(cfg, c).await,
            Command::Style(c) => style(cfg, c).await,
            Command::Secret(c) => secret(cfg, c).await,
            Command::Sign(args) => {
                println!("{}", crate::sign::run(&args)?);
                Ok(())
            }
            Command::Process { input, output, ops } => process(&cfg, &input, &output, &ops),
            Command::Cache(c) => cache(&cfg, c).await,
            Command::Credentials { secret } => {
                let (creds, _) = credentials::resolve(configured_root(&cfg), &cfg.data_dir)?;
                println!("access_key = {}", creds.access_key);
                if secret {
                    println!("secret_key = {}", creds.secret_key);
                }
                Ok(())
            }
        }
    })
}

fn configured_root(cfg: &Config) -> Option<(String, String)> {
    cfg.access_key.clone().zip(cfg.secret_key.clone())
}

fn init_logging(cfg: &Config) -> Result<()> {
    let filter = std::env::var("IMGD_LOG").unwrap_or_else(|_| cfg.log_level.clone());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .with_context(|| format!("log filter {filter:?}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
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
    apply_bucket_config(&store, &cfg.buckets).await?;
    apply_secret_config(&store, &cfg.secrets).await?;
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

fn process(
    cfg: &Config,
    input: &std::path::Path,
    output: &std::path::Path,
    ops: &str,
) -> Result<()> {
    let source = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    let pipeline = match imaging::oss::parse_process(ops)? {
        imaging::Process::Pipeline(p) => p,
        imaging::Process::Style(name) => bail!(
            "styles belong to buckets; `{}` cannot be used here",
            name.as_str()
        ),
    };
    let limits = cfg.process_limits().engine;
    let rendered = imaging::engine::render(&source, &pipeline, None, &limits)
        .with_context(|| format!("processing {}", input.display()))?;
    let bytes = match rendered {
        imaging::engine::Rendered::Image {
            bytes,
            width,
            height,
            format,
        } => {
            eprintln!("{}x{} {}", width, height, format.mime_type());
            bytes
        }
        imaging::engine::Rendered::Json(text) => text.into_bytes(),
    };
    std::fs::write(output, bytes).with_context(|| format!("writing {}", output.display()))?;
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

async fn bucket(cfg: Config, cmd: BucketCommand) -> Result<()> {
    let store = open_store(&cfg, false).await?;
    match cmd {
        BucketCommand::Create { name, public } => {
            check_bucket_name(&name)?;
            let acl = if public {
                BucketAcl::PublicRead
            } else {
                BucketAcl::Private
            };
            store
                .create_bucket(&name, acl)
                .await
                .with_context(|| format!("creating bucket {name}"))?;
            println!("created bucket {name} ({})", acl.as_str());
        }
        BucketCommand::List => {
            for b in store.list_buckets().await? {
                println!("{}\t{}", b.name, b.acl.as_str());
            }
        }
        BucketCommand::Delete { name } => {
            store
                .delete_bucket(&name)
                .await
                .with_context(|| format!("deleting bucket {name}"))?;
            println!("deleted bucket {name}");
        }
        BucketCommand::Policy(args) => {
            let settings = apply_policy(&store, &args).await?;
            let info = store.bucket(&args.name).await?;
            print_policy(&args.name, &settings, info.acl);
        }
        BucketCommand::StyleDelimiters { name, delimiters } => {
            crate::config::check_style_delimiters(&delimiters)?;
            let shown = delimiters.join(" ");
            store
                .update_bucket_settings(&name, |s| {
                    s.style_delimiters = delimiters;
                    Ok(())
                })
                .await
                .with_context(|| format!("updating bucket {name}"))?;
            if shown.is_empty() {
                println!("bucket {name}: key<sep>style URLs are off");
            } else {
                println!("bucket {name}: style delimiters {shown}");
            }
        }
        BucketCommand::Origin(args) => {
            let origin = origin_from_args(&args)?;
            if let Some(o) = &origin {
                server::admin::check_origin(o).map_err(|m| anyhow::anyhow!(m))?;
            }
            let shown = origin.as_ref().map(|o| match &o.source {
                store::Origin::Http { base_url } => base_url.clone(),
                store::Origin::S3 {
                    endpoint, bucket, ..
                } => format!("s3 {endpoint} bucket {bucket}"),
            });
            store
                .update_bucket_settings(&args.name, move |s| {
                    s.origin = origin;
                    Ok(())
                })
                .await
                .with_context(|| format!("updating bucket {}", args.name))?;
            match shown {
                Some(o) => println!("bucket {}: misses are fetched from {o}", args.name),
                None => println!("bucket {}: no origin; misses are 404", args.name),
            }
        }
        BucketCommand::SetPublic { name, private } => {
            let acl = if private {
                BucketAcl::Private
            } else {
                BucketAcl::PublicRead
            };
            store
                .set_bucket_acl(&name, acl)
                .await
                .with_context(|| format!("updating bucket {name}"))?;
            println!("bucket {name} is now {}", acl.as_str());
        }
    }
    Ok(())
}

/// Creates and configures the `[[buckets]]` of the configuration file.
async fn apply_bucket_config(store: &Store, buckets: &[crate::config::BucketConfig]) -> Result<()> {
    for b in buckets {
        check_bucket_name(&b.name)?;
        let acl = if b.public == Some(true) {
            BucketAcl::PublicRead
        } else {
            BucketAcl::Private
        };
        match store.create_bucket(&b.name, acl).await {
            Ok(()) => tracing::info!(bucket = %b.name, "created bucket from the configuration"),
            Err(store::StoreError::BucketExists) => {
                if b.public.is_some() {
                    store.set_bucket_acl(&b.name, acl).await?;
                }
            }
            Err(e) => return Err(e).with_context(|| format!("creating bucket {}", b.name)),
        }
        if let Some(delims) = &b.style_delimiters {
            let delims = delims.clone();
            store
                .update_bucket_settings(&b.name, |s| {
                    s.style_delimiters = delims;
                    Ok(())
                })
                .await?;
        }
        for (name, process) in &b.styles {
            store.put_style(&b.name, name, process).await?;
        }
        let delivery = b.delivery.as_deref().and_then(store::DeliveryPolicy::parse);
        match delivery {
            Some(store::DeliveryPolicy::Public) => {
                store.set_bucket_acl(&b.name, BucketAcl::PublicRead).await?
            }
            Some(_) => store.set_bucket_acl(&b.name, BucketAcl::Private).await?,
            None => {}
        }
        let schemes: Option<Vec<store::LinkScheme>> = b.schemes.as_ref().map(|l| {
            l.iter()
                .filter_map(|s| store::LinkScheme::parse(s))
                .collect()
        });
        let b2 = b.clone();
        store
            .update_bucket_settings(&b.name, move |s| {
                if delivery.is_some() {
                    s.delivery = delivery;
                }
                if let Some(x) = schemes {
                    s.schemes = x;
                }
                if let Some(x) = b2.referers {
                    s.referers = x;
                }
                if let Some(x) = b2.cache_ttl_secs {
                    s.cache_ttl_secs = Some(x);
                }
                if let Some(x) = b2.public_styles {
                    s.public_styles = x;
                }
                if let Some(source) = b2.origin {
                    s.origin = Some(store::OriginSettings {
                        source,
                        miss_ttl_secs: b2.origin_miss_ttl_secs,
                        revalidate_after_secs: None,
                    });
                }
                Ok(())
            })
            .await?;
    }
    Ok(())
}

/// Imports the `[[secrets]]` of the configuration that the store does not hold yet.
async fn apply_secret_config(store: &Store, secrets: &[crate::config::SecretConfig]) -> Result<()> {
    for sec in secrets {
        let existing = store.list_secrets(sec.bucket.as_deref()).await?;
        if existing
            .iter()
            .any(|s| s.secret == sec.value && s.bucket == sec.bucket)
        {
            continue;
        }
        let created = store
            .create_secret(sec.bucket.as_deref(), Some(&sec.value), &sec.description)
            .await
            .with_context(|| {
                format!(
                    "importing a secret for {}",
                    sec.bucket.as_deref().unwrap_or("the account")
                )
            })?;
        tracing::info!(id = %created.id, "imported a link secret from the configuration");
    }
    Ok(())
}

async fn apply_policy(store: &Store, args: &PolicyArgs) -> Result<store::BucketSettings> {
    let delivery = match &args.delivery {
        Some(d) => Some(
            store::DeliveryPolicy::parse(d)
                .with_context(|| format!("--delivery {d:?}: use private, public or signed"))?,
        ),
        None => None,
    };
    let schemes = match &args.schemes {
        Some(list) => Some(
            list.iter()
                .filter(|s| !s.is_empty())
                .map(|s| {
                    store::LinkScheme::parse(s).with_context(|| {
                        format!("--schemes {s:?}: use cloudflare, ixmage or weekly")
                    })
                })
                .collect::<Result<Vec<_>>>()?,
        ),
        None => None,
    };
    if delivery == Some(store::DeliveryPolicy::Public) {
        store
            .set_bucket_acl(&args.name, BucketAcl::PublicRead)
            .await?;
    } else if delivery.is_some() {
        store.set_bucket_acl(&args.name, BucketAcl::Private).await?;
    }
    let args_referers = args.referers.clone();
    let args_styles = args.public_styles.clone();
    let (clear_referers, clear_styles, ttl) =
        (args.clear_referers, args.clear_public_styles, args.ttl);
    let settings = store
        .update_bucket_settings(&args.name, move |s| {
            if let Some(d) = delivery {
                s.delivery = Some(d);
            }
            if let Some(list) = schemes {
                s.schemes = list;
            }
            if clear_referers {
                s.referers.clear();
            }
            for r in args_referers {
                if !s.referers.contains(&r) {
                    s.referers.push(r);
                }
            }
            if clear_styles {
                s.public_styles.clear();
            }
            for p in args_styles {
                if !s.public_styles.contains(&p) {
                    s.public_styles.push(p);
                }
            }
            if let Some(t) = ttl {
                s.cache_ttl_secs = Some(t);
            }
            Ok(())
        })
        .await
        .with_context(|| format!("updating bucket {}", args.name))?;
    Ok(settings)
}

fn print_policy(name: &str, s: &store::BucketSettings, acl: BucketAcl) {
    let schemes: Vec<&str> = s.schemes.iter().map(|x| x.as_str()).collect();
    println!("bucket     = {name}");
    println!("delivery   = {}", s.effective_delivery(acl).as_str());
    println!("schemes    = {}", schemes.join(","));
    println!("referers   = {}", s.referers.join(","));
    println!("ttl        = {}", s.cache_ttl());
    println!("public     = {}", s.public_styles.join(","));
}

async fn secret(cfg: Config, cmd: SecretCommand) -> Result<()> {
    let store = open_store(&cfg, false).await?;
    match cmd {
        SecretCommand::Create {
            bucket,
            value,
            description,
        } => {
            let s = store
                .create_secret(bucket.as_deref(), value.as_deref(), &description)
                .await
                .context("creating the secret")?;
            println!("id     = {}", s.id);
            println!("scope  = {}", s.bucket.as_deref().unwrap_or("account"));
            println!("secret = {}", s.secret);
        }
        SecretCommand::List { bucket } => {
            for s in store.list_secrets(bucket.as_deref()).await? {
                let state = if s.revoked_ms.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{}\t{}\t{state}\t{}",
                    s.id,
                    s.bucket.as_deref().unwrap_or("account"),
                    s.description
                );
            }
        }
        SecretCommand::Revoke { id } => {
            store.revoke_secret(&id).await?;
            println!("revoked {id}");
        }
    }
    Ok(())
}

async fn style(cfg: Config, cmd: StyleCommand) -> Result<()> {
    let store = open_store(&cfg, false).await?;
    match cmd {
        StyleCommand::Put {
            bucket,
            name,
            process,
        } => {
            crate::config::check_style_process(&process)
                .with_context(|| format!("style {name}"))?;
            store
                .put_style(&bucket, &name, &process)
                .await
                .with_context(|| format!("saving style {name} of bucket {bucket}"))?;
            println!("style {name} of bucket {bucket} = {process}");
        }
        StyleCommand::List { bucket } => {
            for s in store.list_styles(&bucket).await? {
                println!("{}\t{}", s.name, s.process);
            }
        }
        StyleCommand::Delete { bucket, name } => {
            store
                .delete_style(&bucket, &name)
                .await
                .with_context(|| format!("deleting style {name} of bucket {bucket}"))?;
            println!("deleted style {name} of bucket {bucket}");
        }
    }
    Ok(())
}

/// S3's bucket naming rules, so a bucket made here is reachable through the API.
fn check_bucket_name(name: &str) -> Result<()> {
    let ok_len = (3..=63).contains(&name.len());
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let ok_ends = name
        .bytes()
        .next()
        .zip(name.bytes().last())
        .is_some_and(|(a, z)| a.is_ascii_alphanumeric() && z.is_ascii_alphanumeric());
    if !(ok_len && ok_chars && ok_ends)
        || name.contains("..")
        || name.parse::<std::net::Ipv4Addr>().is_ok()
    {
        bail!("invalid bucket name {name:?}: use 3-63 lower-case letters, digits, '-' and '.'");
    }
    Ok(())
}

async fn key(cfg: Config, cmd: KeyCommand) -> Result<()> {
    let store = open_store(&cfg, false).await?;
    match cmd {
        KeyCommand::Create(args) => {
            let mut grants = Vec::new();
            for g in &args.grants {
                let (bucket, perm) = g.split_once(':').with_context(|| {
                    format!("--bucket {g:?}: expected BUCKET:read or BUCKET:read-write")
                })?;
                let perm = Permission::parse(perm).with_context(|| {
                    format!("--bucket {g:?}: permission must be read or read-write")
                })?;
                grants.push((bucket.to_owned(), perm));
            }
            let k = store
                .create_access_key(&args.description, &grants)
                .await
                .context("creating the key")?;
            println!("access_key = {}", k.access_key);
            println!("secret_key = {}", k.secret_key);
            for (b, p) in &k.grants {
                println!("grant      = {b}:{}", p.as_str());
            }
        }
        KeyCommand::List => {
            for k in store.list_access_keys().await? {
                let grants: Vec<String> = k
                    .grants
                    .iter()
                    .map(|(b, p)| format!("{b}:{}", p.as_str()))
                    .collect();
                let state = if k.revoked_ms.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{}\t{state}\t{}\t{}",
                    k.access_key,
                    grants.join(","),
                    k.description
                );
            }
        }
        KeyCommand::Revoke { access_key } => {
            store.revoke_access_key(&access_key).await?;
            println!("revoked {access_key}");
        }
    }
    Ok(())
}

fn origin_from_args(args: &OriginArgs) -> Result<Option<store::OriginSettings>> {
    let source = match (&args.http, &args.s3_endpoint, args.none) {
        (_, _, true) => return Ok(None),
        (Some(url), None, false) => store::Origin::Http {
            base_url: url.clone(),
        },
        (None, Some(endpoint), false) => store::Origin::S3 {
            endpoint: endpoint.clone(),
            region: args.s3_region.clone(),
            bucket: args.s3_bucket.clone().unwrap_or_default(),
            access_key: args.s3_access_key.clone().unwrap_or_default(),
            secret_key: args.s3_secret_key.clone().unwrap_or_default(),
            prefix: args.s3_prefix.clone(),
        },
        _ => {
            bail!("give one of --http URL, --s3-endpoint URL (with its bucket and keys), or --none")
        }
    };
    Ok(Some(store::OriginSettings {
        source,
        miss_ttl_secs: args.miss_ttl,
        revalidate_after_secs: None,
    }))
}

/// Cache commands talk to the running server, which owns the cache's memory tier and
/// index; editing the directory underneath it would not be seen.
async fn cache(cfg: &Config, cmd: CacheCommand) -> Result<()> {
    let token = cfg
        .admin_token
        .clone()
        .context("the cache commands use the admin API: set admin_token")?;
    let base = |server: &Option<String>| {
        server
            .clone()
            .unwrap_or_else(|| format!("http://{}", cfg.listen))
            .trim_end_matches('/')
            .to_owned()
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .context("building an HTTP client")?;
    let request = match &cmd {
        CacheCommand::Purge {
            bucket,
            key,
            prefix,
            server,
        } => {
            let mut body = serde_json::Map::new();
            for (name, v) in [("bucket", bucket), ("key", key), ("prefix", prefix)] {
                if let Some(v) = v {
                    body.insert(name.into(), serde_json::Value::String(v.clone()));
                }
            }
            client
                .post(format!("{}/_imgd/admin/variants/purge", base(server)))
                .body(serde_json::Value::Object(body).to_string())
        }
        CacheCommand::Stats { server } => {
            client.get(format!("{}/_imgd/admin/variants", base(server)))
        }
    };
    let resp = request
        .bearer_auth(token)
        .send()
        .await
        .context("reaching the server's admin API")?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("the server answered {status}: {text}");
    }
    println!("{text}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_bucket_name;

    #[test]
    fn bucket_names_follow_s3_rules() {
        for ok in ["abc", "my-bucket", "a.b.c", "0images"] {
            assert!(check_bucket_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "Upper",
            "under_score",
            "-lead",
            "trail-",
            "a..b",
            "192.168.1.1",
            &"x".repeat(64),
        ] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
    }
}
