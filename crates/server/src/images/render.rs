//! Rendering: variant-cache lookups, validators before work, one coalesced render per
//! variant under admission control, cache fills, and `saveas`.

use super::admission::Refusal;
use super::variants::{accept_class, cache_lookup, variant_etag};
use super::{ImageError, ImageService, Outcome, SourceMeta, Variant};
use crate::sources::coalesce::Coalesced;
use bytes::Bytes;
use futures::TryStreamExt;
use imaging::Pipeline;
use imaging::engine::Rendered;
use std::collections::HashMap;
use std::sync::Arc;
use store::{ObjectInfo, PutOptions, StoreError, etag_matches};
use varcache::{NewVariant, VariantCache};

impl ImageService {
    /// Renders `bucket/key` through `pipeline`. `accept` drives `format,auto`;
    /// `if_none_match` (a raw header value) short-circuits to [`Outcome::NotModified`].
    pub async fn render(
        &self,
        bucket: &str,
        key: &str,
        pipeline: &Pipeline,
        accept: Option<&str>,
        if_none_match: Option<&str>,
    ) -> Result<Outcome, ImageError> {
        let vary_accept = matches!(pipeline.output.format, Some(imaging::FormatChoice::Auto));
        let accept_class = vary_accept.then(|| accept_class(accept.unwrap_or("")));
        let lookup = cache_lookup(key, pipeline, accept_class);
        if let Some(cache) = &self.cache
            && let Some(hit) = cache.get(bucket, &lookup).await
        {
            let source = SourceMeta {
                etag: hit.source_etag,
                modified_ms: hit.last_modified_ms,
                cache_control: hit.cache_control,
            };
            if if_none_match.is_some_and(|h| etag_matches(h, &hit.etag)) {
                return Ok(Outcome::NotModified {
                    etag: hit.etag,
                    source,
                    vary_accept,
                });
            }
            return Ok(Outcome::Rendered(Variant {
                bytes: hit.bytes,
                content_type: hit.content_type,
                etag: hit.etag,
                source,
                vary_accept,
            }));
        }

        // Validators first: a client holding the current variant gets a 304 without
        // anything being read or rendered.
        let source_info = self.source_info(bucket, key).await?;
        let mut mark_etags = Vec::new();
        for mark_key in unique_mark_keys(pipeline) {
            match self.store.object(bucket, mark_key).await {
                Ok(info) => mark_etags.push(info.etag),
                Err(StoreError::NoSuchKey) => return Err(missing_mark(bucket, mark_key)),
                Err(e) => return Err(e.into()),
            }
        }
        let etag = variant_etag(&source_info.etag, &mark_etags, pipeline, accept_class);
        if if_none_match.is_some_and(|h| etag_matches(h, &etag)) {
            return Ok(Outcome::NotModified {
                etag,
                source: SourceMeta::from(&source_info),
                vary_accept,
            });
        }

        let job = {
            let service = self.clone();
            let (bucket, key, lookup) = (bucket.to_owned(), key.to_owned(), lookup.clone());
            let pipeline = pipeline.clone();
            let accept = accept.map(str::to_owned);
            move || async move {
                service
                    .render_and_cache(&bucket, &key, &lookup, &pipeline, accept.as_deref())
                    .await
                    .map_err(Arc::new)
            }
        };
        let (outcome, _led) = self
            .renders
            .run((bucket.to_owned(), lookup, etag), job)
            .await;
        match outcome {
            Coalesced::Value(Ok(variant)) => Ok(Outcome::Rendered(variant)),
            Coalesced::Value(Err(e)) => Err(e.duplicate()),
            Coalesced::Panicked => Err(ImageError::Internal("the render task panicked".into())),
        }
    }

    /// The source's metadata, fetching it from the bucket's origin on a miss.
    async fn source_info(&self, bucket: &str, key: &str) -> Result<ObjectInfo, ImageError> {
        match self.store.object(bucket, key).await {
            Err(StoreError::NoSuchKey) => match &self.sources {
                Some(sources) => match sources.fetch_stored(bucket, key).await {
                    Some(result) => Ok(result?),
                    None => Err(ImageError::Store(StoreError::NoSuchKey)),
                },
                None => Err(ImageError::Store(StoreError::NoSuchKey)),
            },
            other => Ok(other?),
        }
    }

    /// One render job: read the source and watermarks, render under admission
    /// control, and keep the result in the variant cache.
    async fn render_and_cache(
        &self,
        bucket: &str,
        key: &str,
        lookup: &str,
        pipeline: &Pipeline,
        accept: Option<&str>,
    ) -> Result<Variant, ImageError> {
        // Taken before the source is read, so an overwrite that lands during the
        // render keeps this (stale) result out of the cache.
        let ticket = self.cache.as_ref().map(VariantCache::ticket);
        let (source_info, source) = self.read_source(bucket, key).await?;
        let mut marks: HashMap<String, Vec<u8>> = HashMap::new();
        let mut mark_etags = Vec::new();
        for mark_key in unique_mark_keys(pipeline) {
            let (info, bytes) = match self.read_source(bucket, mark_key).await {
                Err(ImageError::Store(StoreError::NoSuchKey)) => {
                    return Err(missing_mark(bucket, mark_key));
                }
                other => other?,
            };
            mark_etags.push(info.etag);
            marks.insert(mark_key.to_owned(), bytes);
        }
        let vary_accept = matches!(pipeline.output.format, Some(imaging::FormatChoice::Auto));
        let accept_class = vary_accept.then(|| accept_class(accept.unwrap_or("")));
        let etag = variant_etag(&source_info.etag, &mark_etags, pipeline, accept_class);

        let probe = imaging::engine::sniff::probe(&source)?;
        let mark_bytes: usize = marks.values().map(Vec::len).sum();
        let cost = imaging::engine::cost::peak_bytes(source.len() + mark_bytes, &probe, pipeline);
        let admitted = self
            .admission
            .admit(cost)
            .await
            .map_err(|refusal| match refusal {
                Refusal::Busy(busy) => ImageError::Busy(busy),
                Refusal::TooLarge { needed, budget } => ImageError::Invalid(format!(
                    "rendering this image with this process would need about {} MiB of memory, \
                 more than the {} MiB this server renders with (process_memory_limit_mb)",
                    needed.div_ceil(1 << 20),
                    budget >> 20
                )),
            })?;
        let started = std::time::Instant::now();
        let limits = self.limits.engine.clone();
        let job_pipeline = pipeline.clone();
        let accept = accept.map(str::to_owned);
        let rendered = tokio::task::spawn_blocking(move || {
            let result = imaging::engine::render_with(
                &source,
                &job_pipeline,
                accept.as_deref(),
                &limits,
                &marks,
            );
            drop(admitted);
            result
        })
        .await
        .map_err(|e| ImageError::Internal(format!("render task: {e}")))??;
        metrics::histogram!("imgd_process_seconds").record(started.elapsed().as_secs_f64());
        metrics::counter!("imgd_process_jobs_total").increment(1);
        let content_type = rendered.content_type().to_owned();
        let bytes = Bytes::from(match rendered {
            Rendered::Image { bytes, .. } => bytes,
            Rendered::Json(text) => text.into_bytes(),
        });
        let variant = Variant {
            bytes,
            content_type,
            etag,
            source: SourceMeta::from(&source_info),
            vary_accept,
        };
        // A symlink's variant is not kept: the change feed names the target's key, so
        // nothing would drop the variant when the target changes.
        let through_symlink = source_info.key != key;
        if let (Some(cache), Some(ticket), false) = (&self.cache, ticket, through_symlink) {
            fill_cache(cache, ticket, bucket, key, lookup, pipeline, &variant).await;
        }
        Ok(variant)
    }

    /// Renders and stores the result at `target` (OSS `sys/saveas`). The caller has
    /// checked that the requester may read the source and write the target.
    pub async fn save_as(
        &self,
        bucket: &str,
        key: &str,
        pipeline: &Pipeline,
        target_bucket: &str,
        target_key: &str,
    ) -> Result<ObjectInfo, ImageError> {
        let variant = match self.render(bucket, key, pipeline, None, None).await? {
            Outcome::Rendered(v) => v,
            Outcome::NotModified { .. } => {
                return Err(ImageError::Internal("saveas got a 304".into()));
            }
        };
        let opts = PutOptions {
            headers: store::ObjectHeaders {
                content_type: Some(variant.content_type.clone()),
                ..Default::default()
            },
            expected_len: Some(variant.bytes.len() as u64),
            ..Default::default()
        };
        let body = futures::stream::once(async move { Ok::<_, std::io::Error>(variant.bytes) });
        let body = Box::pin(body);
        Ok(self
            .store
            .put_object(target_bucket, target_key, opts, body, |_| Ok(()))
            .await?)
    }

    /// Reads a whole object for processing, refusing ones over the byte limit before
    /// reading them.
    async fn read_source(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<(ObjectInfo, Vec<u8>), ImageError> {
        let max = self.limits.max_source_bytes;
        let check_size = |info: &ObjectInfo| {
            if info.size > max {
                return Err(StoreError::InvalidArgument(format!(
                    "the object is {} bytes; images larger than {max} bytes are not processed",
                    info.size
                )));
            }
            Ok(0..info.size)
        };
        let opened = match self.store.open_object(bucket, key, check_size).await {
            // Missing here: the bucket's origin may have it (stored by the time this
            // returns), so try once more.
            Err(StoreError::NoSuchKey) => {
                self.source_info(bucket, key).await?;
                self.store.open_object(bucket, key, check_size).await
            }
            other => other,
        };
        let (info, _, stream) = opened.map_err(|e| match e {
            StoreError::InvalidArgument(m) => ImageError::Invalid(m),
            other => ImageError::Store(other),
        })?;
        let bytes = stream
            .try_fold(
                Vec::with_capacity(info.size as usize),
                |mut acc, chunk| async move {
                    acc.extend_from_slice(&chunk);
                    Ok(acc)
                },
            )
            .await
            .map_err(|e| ImageError::Store(StoreError::Io(e)))?;
        Ok((info, bytes))
    }
}

async fn fill_cache(
    cache: &VariantCache,
    ticket: varcache::PutTicket,
    bucket: &str,
    key: &str,
    lookup: &str,
    pipeline: &Pipeline,
    variant: &Variant,
) {
    let entry = NewVariant {
        object_key: key.to_owned(),
        depends_on: unique_mark_keys(pipeline)
            .into_iter()
            .map(str::to_owned)
            .collect(),
        source_etag: variant.source.etag.clone(),
        etag: variant.etag.clone(),
        content_type: variant.content_type.clone(),
        last_modified_ms: variant.source.modified_ms,
        cache_control: variant.source.cache_control.clone(),
        vary_accept: variant.vary_accept,
        bytes: variant.bytes.clone(),
    };
    cache.put_with_ticket(ticket, bucket, lookup, entry).await;
}

fn unique_mark_keys(pipeline: &Pipeline) -> Vec<&str> {
    let mut keys: Vec<&str> = Vec::new();
    for k in pipeline.mark_keys() {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys
}

fn missing_mark(bucket: &str, mark_key: &str) -> ImageError {
    ImageError::Invalid(format!(
        "watermark image {mark_key:?} does not exist in bucket {bucket}"
    ))
}
