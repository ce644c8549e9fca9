//! Delivery at `/{account_hash}/{image_id}/{variant}`: a named variant, or flexible
//! options when the account enables them. Images that require signed URLs need an
//! `exp`/`sig` made with one of the account's keys (checked on every request, so a
//! deleted key or image stops delivery at once); a variant marked
//! `neverRequireSignedURLs` is the exception. Unlike Cloudflare, flexible options may
//! be used on a signed image when the link is signed, since the signature covers them.

use super::envelope::{CfError, codes};
use super::{CloudflareDoor, decode_path as decode};
use crate::kernel::caching::Caching;
use crate::kernel::{BoxBody, Query};
use crate::respond;
use http::{Method, Request, Response, StatusCode};
use imaging::cloudflare::{MetadataPolicy, VariantFit};
use imaging::{FormatChoice, Pipeline};
use signing::cloudflare::VerifyError;
use store::cloudflare::{CfAccount, CfVariant, ImageState};

/// The pipeline of a stored variant. Values were checked when the variant was saved;
/// a value this build does not know falls back to the defaults rather than failing.
fn named_pipeline(v: &CfVariant) -> Pipeline {
    let fit = VariantFit::from_name(&v.fit).unwrap_or(VariantFit::ScaleDown);
    let metadata = MetadataPolicy::from_name(&v.metadata).unwrap_or(MetadataPolicy::None);
    imaging::cloudflare::variant_pipeline(fit, v.width, v.height, metadata)
}

impl CloudflareDoor {
    pub(super) async fn deliver<B>(
        &self,
        account_hash: &str,
        rest: &str,
        req: &Request<B>,
        query: &Query,
    ) -> Result<Response<BoxBody>, CfError> {
        let store = self.store();
        let account = store
            .cf_account_by_hash(account_hash)
            .await?
            .ok_or_else(|| {
                CfError::new(
                    StatusCode::NOT_FOUND,
                    codes::NOT_FOUND,
                    "No account has this hash",
                )
            })?;
        let (id, variant) = rest
            .rsplit_once('/')
            .ok_or_else(|| CfError::bad_request("Expected /{account_hash}/{image_id}/{variant}"))?;
        let (id, variant) = (decode(id)?, decode(variant)?);
        let image = store
            .cf_image(&account.account_id, &id)
            .await?
            .filter(|i| i.state == ImageState::Ready)
            .ok_or_else(CfError::image_not_found)?;
        let (pipeline, always_public) = self.variant_pipeline(&account, &variant).await?;
        let now = self.clock.now();
        let link_expires_at = if image.require_signed && !always_public {
            Some(
                self.check_link(&account, req.uri().path(), query, now)
                    .await?,
            )
        } else {
            None
        };
        let (_, settings) = store.bucket_view(&account.bucket).await?;
        let caching = Caching::new(link_expires_at, settings.cache_ttl(), now);
        let head = req.method() == Method::HEAD;
        respond::variant(
            &self.images,
            &account.bucket,
            &id,
            &pipeline,
            req,
            caching,
            head,
        )
        .await
        .map_err(CfError::from)
    }

    /// A named variant, or flexible options; and whether the variant is always public.
    async fn variant_pipeline(
        &self,
        account: &CfAccount,
        variant: &str,
    ) -> Result<(Pipeline, bool), CfError> {
        if let Some(v) = self
            .store()
            .cf_variant(&account.account_id, variant)
            .await?
        {
            return Ok((named_pipeline(&v), v.never_require_signed));
        }
        if !variant.contains('=') {
            return Err(CfError::new(
                StatusCode::NOT_FOUND,
                codes::NOT_FOUND,
                format!("Variant {variant:?} not found"),
            ));
        }
        if !account.flexible_variants {
            return Err(CfError::forbidden(
                "Flexible variants are not enabled for this account (PATCH images/v1/config with {\"flexible_variants\": true})",
            ));
        }
        let mut transform = imaging::cloudflare::parse_options(variant)
            .map_err(|e| CfError::bad_request(e.to_string()))?;
        // Images delivery always negotiates the format unless the options fix one.
        if transform.pipeline.output.format.is_none() {
            transform.pipeline.output.format = Some(FormatChoice::Auto);
        }
        Ok((transform.pipeline, false))
    }

    /// Checks `exp`/`sig` against every key of the account; the link's expiry on success.
    async fn check_link(
        &self,
        account: &CfAccount,
        path: &str,
        query: &Query,
        now: i64,
    ) -> Result<i64, CfError> {
        if !query.has("sig") {
            return Err(CfError::forbidden(
                "This image requires a signed URL: add exp and sig made with one of the account's signing keys",
            ));
        }
        let keys = self.store().cf_keys(&account.account_id).await?;
        let mut expired = None;
        for key in &keys {
            match signing::cloudflare::verify(key.value.as_bytes(), path, query.raw(), now) {
                Ok(exp) => return Ok(exp),
                Err(VerifyError::Expired { expired_at }) => expired = Some(expired_at),
                Err(VerifyError::SignatureMismatch) => {}
                Err(other) => {
                    return Err(CfError::forbidden(format!("Signed URL refused: {other}")));
                }
            }
        }
        Err(match expired {
            Some(at) => CfError::forbidden(format!("The signed URL expired at {at}")),
            None => {
                CfError::forbidden("The signature does not match any of the account's signing keys")
            }
        })
    }
}
