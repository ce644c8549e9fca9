//! `imgd bucket ...`: buckets, their delivery policy, style delimiters and origin.

use super::open_store;
use crate::config::Config;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use store::{BucketAcl, Store};

#[derive(Subcommand)]
pub(super) enum BucketCommand {
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
pub(super) struct OriginArgs {
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

#[derive(Args)]
pub(super) struct PolicyArgs {
    name: String,
    /// `private` (S3/OSS-authenticated only), `public`, or `signed`.
    #[arg(long)]
    delivery: Option<String>,
    /// Link schemes a `signed` bucket accepts: cloudflare, ixmage (comma-separated).
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

pub(super) async fn bucket(cfg: Config, cmd: BucketCommand) -> Result<()> {
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
                        format!("--schemes {s:?}: use {}", store::LinkScheme::names())
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

/// S3's bucket naming rules, so a bucket made here is reachable through the API.
pub(super) fn check_bucket_name(name: &str) -> Result<()> {
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
    }))
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
