//! The one way a bucket's delivery policy is changed: a [`PolicyPatch`] given to
//! [`Store::apply_policy`].
//!
//! The CLI (`imgd bucket policy`, `imgd bucket style-delimiters`), the configuration file's
//! `[[buckets]]` and the admin API (`PUT /buckets/{name}/policy`) all build a patch and
//! call this, so the same words mean the same change whichever of them says them.

use crate::Store;
use crate::error::{StoreError, StoreResult};
use crate::model::{BucketAcl, BucketSettings, DeliveryPolicy, LinkScheme};

/// The separators OSS allows between a key and a style name, plus `@!`.
pub const STYLE_DELIMITERS: [&str; 5] = ["!", "@!", "-", "_", "/"];

/// Refuses a separator the delivery door would not recognise, naming the allowed ones.
pub fn check_style_delimiters(delimiters: &[String]) -> StoreResult<()> {
    match delimiters
        .iter()
        .find(|d| !STYLE_DELIMITERS.contains(&d.as_str()))
    {
        Some(d) => Err(StoreError::InvalidArgument(format!(
            "style delimiter {d:?} is not one of {}",
            STYLE_DELIMITERS.join(" ")
        ))),
        None => Ok(()),
    }
}

/// A change to a bucket's delivery settings. A field left `None` keeps what the bucket
/// has; a field given is stored as given.
///
/// **A list that is given replaces the stored list whole**; an empty list clears it.
/// Lists are never merged, so repeating a change leaves the bucket as one change does, and
/// the configuration file (re-applied at every start) converges instead of growing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyPatch {
    /// Who may read without S3/OSS credentials. Also sets the S3 ACL: public-read for
    /// `Public`, private otherwise, so S3 clients see the policy too.
    pub delivery: Option<DeliveryPolicy>,
    /// Link schemes a `Signed` bucket accepts (replaces).
    pub schemes: Option<Vec<LinkScheme>>,
    /// Referer allow-list (replaces; empty allows any referer).
    pub referers: Option<Vec<String>>,
    /// `Cache-Control` max-age of public responses, in seconds.
    pub cache_ttl_secs: Option<u32>,
    /// Styles served without a signature (replaces).
    pub public_styles: Option<Vec<String>>,
    /// Separators for `key<sep>style` URLs (replaces; empty turns them off). Checked
    /// against [`STYLE_DELIMITERS`].
    pub style_delimiters: Option<Vec<String>>,
}

impl PolicyPatch {
    /// Checks what no bucket may hold, before anything is written.
    pub fn validate(&self) -> StoreResult<()> {
        if let Some(delimiters) = &self.style_delimiters {
            check_style_delimiters(delimiters)?;
        }
        Ok(())
    }

    /// The ACL the delivery policy implies, if the patch sets one.
    pub fn acl(&self) -> Option<BucketAcl> {
        self.delivery.map(|d| match d {
            DeliveryPolicy::Public => BucketAcl::PublicRead,
            DeliveryPolicy::Private | DeliveryPolicy::Signed => BucketAcl::Private,
        })
    }

    /// Applies the patch to `settings` (the ACL is [`PolicyPatch::acl`]'s business).
    pub fn apply_to(&self, settings: &mut BucketSettings) {
        if let Some(d) = self.delivery {
            settings.delivery = Some(d);
        }
        if let Some(list) = &self.schemes {
            settings.schemes = list.clone();
        }
        if let Some(list) = &self.referers {
            settings.referers = list.clone();
        }
        if let Some(ttl) = self.cache_ttl_secs {
            settings.cache_ttl_secs = Some(ttl);
        }
        if let Some(list) = &self.public_styles {
            settings.public_styles = list.clone();
        }
        if let Some(list) = &self.style_delimiters {
            settings.style_delimiters = list.clone();
        }
    }
}

impl Store {
    /// Validates `patch`, then applies it to `bucket`'s settings and ACL in one
    /// transaction, and returns the settings now stored. An empty patch changes nothing
    /// and returns the current settings (`NoSuchBucket` if there is no such bucket).
    pub async fn apply_policy(
        &self,
        bucket: &str,
        patch: &PolicyPatch,
    ) -> StoreResult<BucketSettings> {
        self.apply_policy_with(bucket, patch, |_| {}).await
    }

    /// [`Store::apply_policy`], making `also`'s change to the settings in the same
    /// transaction: the S3 door stores a bucket policy document together with the
    /// delivery policy it implies, so no reader sees one without the other.
    pub async fn apply_policy_with(
        &self,
        bucket: &str,
        patch: &PolicyPatch,
        also: impl FnOnce(&mut BucketSettings),
    ) -> StoreResult<BucketSettings> {
        patch.validate()?;
        self.update_bucket_row(bucket, patch.acl(), |s| {
            patch.apply_to(s);
            also(s);
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_lists_replace_and_absent_fields_stay() {
        let mut s = BucketSettings {
            referers: vec!["old.test".into()],
            public_styles: vec!["thumb".into()],
            schemes: vec![LinkScheme::Cloudflare],
            cache_ttl_secs: Some(5),
            ..BucketSettings::default()
        };
        PolicyPatch {
            referers: Some(vec!["a.test".into(), "b.test".into()]),
            ..PolicyPatch::default()
        }
        .apply_to(&mut s);
        assert_eq!(s.referers, ["a.test", "b.test"]);
        assert_eq!(s.public_styles, ["thumb"]);
        assert_eq!(s.schemes, [LinkScheme::Cloudflare]);
        assert_eq!(s.cache_ttl_secs, Some(5));
        PolicyPatch {
            public_styles: Some(vec![]),
            ..PolicyPatch::default()
        }
        .apply_to(&mut s);
        assert!(s.public_styles.is_empty());
        assert_eq!(s.referers, ["a.test", "b.test"]);
    }

    #[test]
    fn delivery_implies_the_acl() {
        let acl = |d| {
            PolicyPatch {
                delivery: Some(d),
                ..PolicyPatch::default()
            }
            .acl()
        };
        assert_eq!(acl(DeliveryPolicy::Public), Some(BucketAcl::PublicRead));
        assert_eq!(acl(DeliveryPolicy::Signed), Some(BucketAcl::Private));
        assert_eq!(acl(DeliveryPolicy::Private), Some(BucketAcl::Private));
        assert_eq!(PolicyPatch::default().acl(), None);
    }

    #[test]
    fn unknown_style_delimiters_are_refused() {
        let patch = |d: &[&str]| PolicyPatch {
            style_delimiters: Some(d.iter().map(|s| s.to_string()).collect()),
            ..PolicyPatch::default()
        };
        assert!(patch(&["!", "@!", "-", "_", "/"]).validate().is_ok());
        assert!(patch(&[]).validate().is_ok());
        let err = patch(&["!", "~"]).validate().unwrap_err().to_string();
        assert_eq!(err, "style delimiter \"~\" is not one of ! @! - _ /");
    }
}
