//! The `[[buckets]]` and `[[secrets]]` of the configuration, applied when the server starts.

use super::bucket::check_bucket_name;
use anyhow::{Context, Result};
use store::{BucketAcl, Store};

/// Creates and configures the `[[buckets]]` of the configuration file.
pub(super) async fn apply_bucket_config(
    store: &Store,
    buckets: &[crate::config::BucketConfig],
) -> Result<()> {
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
                    });
                }
                Ok(())
            })
            .await?;
    }
    Ok(())
}

/// Imports the `[[secrets]]` of the configuration that the store does not hold yet.
pub(super) async fn apply_secret_config(
    store: &Store,
    secrets: &[crate::config::SecretConfig],
) -> Result<()> {
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
