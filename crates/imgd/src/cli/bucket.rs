//! `imgd bucket ...`: buckets, their delivery policy, style delimiters and origin.

use super::args::{BucketCommand, OriginArgs, PolicyArgs};
use super::open_store;
use crate::config::Config;
use anyhow::{Context, Result, bail};
use store::{BucketAcl, PolicyPatch};

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
            let patch = policy_patch(&args)?;
            let settings = store
                .apply_policy(&args.name, &patch)
                .await
                .with_context(|| format!("updating bucket {}", args.name))?;
            let info = store.bucket(&args.name).await?;
            print_policy(&args.name, &settings, info.acl);
        }
        BucketCommand::StyleDelimiters { name, delimiters } => {
            let shown = delimiters.join(" ");
            let patch = PolicyPatch {
                style_delimiters: Some(delimiters),
                ..PolicyPatch::default()
            };
            // Checked before the store is asked, so a refusal names the delimiter alone,
            // not "updating bucket".
            patch.validate()?;
            store
                .apply_policy(&name, &patch)
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

/// The flags as a [`PolicyPatch`]. Flags left out keep what the bucket has; a list flag
/// given sets the whole list, as the configuration file and the admin API do.
fn policy_patch(args: &PolicyArgs) -> Result<PolicyPatch> {
    let delivery = match &args.delivery {
        Some(d) => Some(
            store::DeliveryPolicy::parse(d)
                .with_context(|| format!("--delivery {d:?}: use private, public or signed"))?,
        ),
        None => None,
    };
    // Empty names are skipped, so `--schemes ''` clears the list.
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
    Ok(PolicyPatch {
        delivery,
        schemes,
        referers: list_flag(&args.referers, args.clear_referers),
        cache_ttl_secs: args.ttl,
        public_styles: list_flag(&args.public_styles, args.clear_public_styles),
        style_delimiters: None,
    })
}

/// A repeatable flag and its `--clear-...` twin: the values given are the new list, the
/// clear flag alone empties it, neither leaves it alone.
fn list_flag(values: &[String], clear: bool) -> Option<Vec<String>> {
    if !values.is_empty() {
        Some(values.to_vec())
    } else if clear {
        Some(Vec::new())
    } else {
        None
    }
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
    use super::{check_bucket_name, list_flag};

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

    #[test]
    fn list_flags_replace_or_clear() {
        let given = ["a.test".to_string(), "b.test".to_string()];
        assert_eq!(list_flag(&given, false), Some(given.to_vec()));
        // As before: clearing and giving values in one command leaves just those values.
        assert_eq!(list_flag(&given, true), Some(given.to_vec()));
        assert_eq!(list_flag(&[], true), Some(Vec::new()));
        assert_eq!(list_flag(&[], false), None);
    }
}
