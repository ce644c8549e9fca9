//! Transform URLs, `/cdn-cgi/image/<options>/<source>`: the options parse into the one
//! pipeline IR (`imaging::cloudflare`), the source is an object of a bucket whose
//! delivery policy is public (`/bucket/key`, or `/key` on a `bucket.<domain>` host), or
//! an absolute URL when a bucket for remote sources is configured: the image is fetched
//! once through the SSRF-safe fetcher and kept there.

use super::envelope::{CfError, codes};
use super::{CloudflareDoor, decode_path as decode};
use crate::kernel::caching::Caching;
use crate::kernel::{BoxBody, empty_body, vhost};
use crate::respond;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use imaging::cloudflare::OnError;
use sha2::{Digest, Sha256};
use store::{DeliveryPolicy, ObjectHeaders, PutOptions, StoreError};

/// An absolute source URL, repaired when a proxy merged `https://` into `https:/`.
fn absolute_source(source: &str) -> Option<String> {
    for scheme in ["https:", "http:"] {
        if let Some(rest) = source.strip_prefix(scheme) {
            let rest = rest.trim_start_matches('/');
            return Some(format!("{scheme}//{rest}"));
        }
    }
    None
}

impl CloudflareDoor {
    pub(super) async fn transform<B>(
        &self,
        options: &str,
        source: &str,
        req: &Request<B>,
    ) -> Result<Response<BoxBody>, CfError> {
        let transform = imaging::cloudflare::parse_options(&decode(options)?)
            .map_err(|e| CfError::bad_request(e.to_string()))?;
        if source.is_empty() {
            return Err(CfError::bad_request(
                "Expected /cdn-cgi/image/<options>/<source image path or URL>",
            ));
        }
        let (bucket, key) = match absolute_source(source) {
            Some(url) => self.remote_source(&url).await?,
            None => self.bucket_source(source, req).await?,
        };
        let (_, settings) = self.store().bucket_view(&bucket).await?;
        let caching = Caching::new(None, settings.cache_ttl(), self.clock.now());
        let head = req.method() == Method::HEAD;
        let rendered = respond::variant(
            &self.images,
            &bucket,
            &key,
            &transform.pipeline,
            req,
            caching,
            head,
        )
        .await;
        match rendered {
            Ok(resp) => Ok(resp),
            // The source itself stays reachable at its own URL: send the client there.
            Err(e)
                if transform.on_error == OnError::Redirect && e.status != StatusCode::FORBIDDEN =>
            {
                tracing::info!(bucket = %bucket, key = %key, error = %e.message, "transform failed; redirecting to the source");
                let mut resp = Response::new(empty_body());
                *resp.status_mut() = StatusCode::FOUND;
                let location = match absolute_source(source) {
                    Some(url) => url,
                    None => format!("/{source}"),
                };
                if let Ok(v) = HeaderValue::from_str(&location) {
                    resp.headers_mut().insert(header::LOCATION, v);
                }
                resp.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                Ok(resp)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `bucket/key` (or `key` on a virtual host) of a bucket open to anonymous reads.
    async fn bucket_source<B>(
        &self,
        source: &str,
        req: &Request<B>,
    ) -> Result<(String, String), CfError> {
        let path = format!("/{source}");
        let host = vhost::request_host(req.uri(), req.headers());
        let target = vhost::resolve(&path, host, self.domain.as_deref());
        if target.bucket.is_empty() || target.key.is_empty() {
            return Err(CfError::bad_request(
                "The source must be /bucket/key (or /key on a bucket.<domain> host), or an absolute URL",
            ));
        }
        let (bucket, key) = (decode(&target.bucket)?, decode(target.key)?);
        let (info, settings) = match self.store().bucket_view(&bucket).await {
            Ok(v) => v,
            Err(StoreError::NoSuchBucket) => {
                return Err(CfError::new(
                    StatusCode::NOT_FOUND,
                    codes::NOT_FOUND,
                    format!("No bucket {bucket:?}"),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        if settings.effective_delivery(info.acl) != DeliveryPolicy::Public {
            return Err(CfError::forbidden(format!(
                "Bucket {bucket:?} is not public; transform URLs serve public buckets only"
            )));
        }
        Ok((bucket, key))
    }

    /// Keeps a remote source in the remote-sources bucket (fetched on first use).
    async fn remote_source(&self, url: &str) -> Result<(String, String), CfError> {
        let Some(bucket) = self.cfg.remote_bucket.clone() else {
            return Err(CfError::forbidden(
                "Absolute-URL sources are off: set cloudflare.remote_bucket to allow them",
            ));
        };
        let key = format!("remote/{}", hex::encode(Sha256::digest(url.as_bytes())));
        match self.store().object(&bucket, &key).await {
            Ok(_) => return Ok((bucket, key)),
            Err(StoreError::NoSuchKey) => {}
            Err(e) => return Err(e.into()),
        }
        let bytes = self.fetch_image(url).await?;
        let checked = self.check_image(bytes)?;
        let opts = PutOptions {
            headers: ObjectHeaders {
                content_type: Some(checked.content_type.to_owned()),
                user: [("source-url".to_owned(), url.to_owned())]
                    .into_iter()
                    .collect(),
                ..Default::default()
            },
            ..Default::default()
        };
        self.store()
            .put_bytes(&bucket, &key, opts, checked.bytes)
            .await?;
        Ok((bucket, key))
    }
}

#[cfg(test)]
mod tests {
    use super::absolute_source;

    #[test]
    fn absolute_sources_are_recognised_and_repaired() {
        assert_eq!(
            absolute_source("https:/example.test/a.jpg").as_deref(),
            Some("https://example.test/a.jpg")
        );
        assert_eq!(
            absolute_source("http://example.test/a.jpg").as_deref(),
            Some("http://example.test/a.jpg")
        );
        assert_eq!(absolute_source("bucket/https.jpg"), None);
    }
}
