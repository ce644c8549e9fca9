//! The image service: every front door that returns a processed image goes through
//! [`ImageService`], so styles, limits, admission control and variant identity are the
//! same whichever URL dialect or signature scheme brought the request.
//!
//! A request flows: process string → [`ImageService::resolve`] (parse, look up a named
//! style) → [`ImageService::render`] (read the source and any watermark images, answer
//! 304 from the variant ETag when possible, probe the header, wait for admission, render
//! on a blocking thread under the time budget) → [`Variant`] for the door to send.
//!
//! With a [`varcache::VariantCache`] attached, `render` first looks the variant up by
//! (bucket, key, canonical pipeline, accept class): a hit is answered from memory or
//! disk with no source read and no decode. Misses for the same variant are coalesced
//! ([`crate::sources::coalesce`]) into one render, whose result fills the cache. A
//! source that is missing locally is fetched from the bucket's origin when the bucket
//! has one ([`crate::sources::Sources`]).

pub mod admission;

use crate::sources::coalesce::{Coalesced, Coalescer};
use crate::sources::{SourceError, Sources};
use admission::{Admission, AdmissionConfig, Busy};
use bytes::Bytes;
use futures::TryStreamExt;
use imaging::engine::{EngineError, Limits, Rendered};
use imaging::{Pipeline, Process, SaveAs};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use store::{ObjectInfo, PutOptions, Store, StoreError};
use thiserror::Error;
use varcache::{NewVariant, VariantCache};

/// Bounds on processing, set from the configuration.
#[derive(Debug, Clone)]
pub struct ProcessLimits {
    pub engine: Limits,
    /// Objects larger than this are not read into memory for processing.
    pub max_source_bytes: u64,
    pub admission: AdmissionConfig,
}

impl Default for ProcessLimits {
    fn default() -> Self {
        ProcessLimits {
            engine: Limits::default(),
            max_source_bytes: 64 * 1024 * 1024,
            admission: AdmissionConfig::default(),
        }
    }
}

#[derive(Debug, Error)]
pub enum ImageError {
    /// The request's process string, style, or image is at fault (400 InvalidArgument).
    #[error("{0}")]
    Invalid(String),
    /// The source or its bucket does not exist, or the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Too much is being rendered right now (503 with Retry-After).
    #[error("the server is busy processing other images")]
    Busy(Busy),
    /// The bucket's origin failed or is backing off (502).
    #[error(transparent)]
    Origin(SourceError),
    /// A bug or a caught panic (500; logged, never shown).
    #[error("internal: {0}")]
    Internal(String),
}

impl ImageError {
    /// The same error for a coalesced waiter. Store errors that are not about a
    /// missing bucket or key cannot be cloned and become internal errors.
    fn duplicate(&self) -> ImageError {
        match self {
            ImageError::Invalid(m) => ImageError::Invalid(m.clone()),
            ImageError::Store(StoreError::NoSuchKey) => ImageError::Store(StoreError::NoSuchKey),
            ImageError::Store(StoreError::NoSuchBucket) => {
                ImageError::Store(StoreError::NoSuchBucket)
            }
            ImageError::Store(StoreError::InvalidArgument(m)) => ImageError::Invalid(m.clone()),
            ImageError::Store(e) => ImageError::Internal(format!("store: {e}")),
            ImageError::Busy(b) => ImageError::Busy(*b),
            ImageError::Origin(e) => ImageError::Origin(e.clone()),
            ImageError::Internal(m) => ImageError::Internal(m.clone()),
        }
    }
}

impl From<SourceError> for ImageError {
    fn from(e: SourceError) -> Self {
        match e {
            SourceError::NotFound => ImageError::Store(StoreError::NoSuchKey),
            SourceError::Store(m) => ImageError::Internal(format!("storing an origin object: {m}")),
            other => ImageError::Origin(other),
        }
    }
}

impl From<EngineError> for ImageError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Internal(m) => ImageError::Internal(m),
            other => ImageError::Invalid(other.to_string()),
        }
    }
}

/// What a variant's response says about its source.
#[derive(Debug, Clone)]
pub struct SourceMeta {
    pub etag: String,
    pub modified_ms: i64,
    pub cache_control: Option<String>,
}

impl From<&ObjectInfo> for SourceMeta {
    fn from(info: &ObjectInfo) -> Self {
        SourceMeta {
            etag: info.etag.clone(),
            modified_ms: info.modified_ms,
            cache_control: info.headers.cache_control.clone(),
        }
    }
}

/// A rendered image (or info/average-hue JSON), ready to send.
#[derive(Debug, Clone)]
pub struct Variant {
    pub bytes: Bytes,
    pub content_type: String,
    /// Strong validator, unquoted.
    pub etag: String,
    pub source: SourceMeta,
    /// The output format depended on `Accept`.
    pub vary_accept: bool,
}

/// What a render request ends in.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The client's `If-None-Match` matches the variant: 304 without rendering.
    NotModified {
        etag: String,
        source: SourceMeta,
        vary_accept: bool,
    },
    Rendered(Variant),
}

type RenderKey = (String, String, String);

#[derive(Clone)]
pub struct ImageService {
    store: Store,
    limits: ProcessLimits,
    admission: Admission,
    cache: Option<VariantCache>,
    sources: Option<Sources>,
    renders: Coalescer<RenderKey, Result<Variant, Arc<ImageError>>>,
}

impl ImageService {
    pub fn new(store: Store, limits: ProcessLimits) -> Self {
        let admission = Admission::new(&limits.admission);
        ImageService {
            store,
            limits,
            admission,
            cache: None,
            sources: None,
            renders: Coalescer::default(),
        }
    }

    /// Serves repeated variants from `cache`, and keeps it in step with the store:
    /// overwrites and deletes drop the variants derived from the object.
    pub fn with_cache(mut self, cache: VariantCache) -> Self {
        let mut changes = self.store.subscribe_changes();
        let follower = cache.clone();
        tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                match changes.recv().await {
                    Ok(change) => {
                        follower
                            .invalidate_object(&change.bucket, &change.key)
                            .await;
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(
                            missed,
                            "variant cache fell behind the change feed; purging it"
                        );
                        follower.purge_all().await;
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        });
        self.cache = Some(cache);
        self
    }

    /// Fetches missing sources from their bucket's origin.
    pub fn with_sources(mut self, sources: Sources) -> Self {
        self.sources = Some(sources);
        self
    }

    pub fn cache(&self) -> Option<&VariantCache> {
        self.cache.as_ref()
    }

    pub fn sources(&self) -> Option<&Sources> {
        self.sources.as_ref()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Parses a process string of `bucket` (GET form: no `|sys/saveas`), resolving a
    /// named style through the bucket's style table.
    pub async fn resolve(&self, bucket: &str, ops: &str) -> Result<Pipeline, ImageError> {
        let process =
            imaging::oss::parse_process(ops).map_err(|e| ImageError::Invalid(e.to_string()))?;
        self.resolve_process(bucket, process).await
    }

    /// Parses a POST process string, which may end in `|sys/saveas`.
    pub async fn resolve_with_save(
        &self,
        bucket: &str,
        ops: &str,
    ) -> Result<(Pipeline, Option<SaveAs>), ImageError> {
        let request = imaging::oss::parse(ops).map_err(|e| ImageError::Invalid(e.to_string()))?;
        let pipeline = self.resolve_process(bucket, request.process).await?;
        Ok((pipeline, request.save_as))
    }

    async fn resolve_process(
        &self,
        bucket: &str,
        process: Process,
    ) -> Result<Pipeline, ImageError> {
        match process {
            Process::Pipeline(p) => Ok(p),
            Process::Style(name) => self
                .style_pipeline(bucket, name.as_str())
                .await?
                .ok_or_else(|| {
                    ImageError::Invalid(format!(
                        "style {} is not defined for bucket {bucket}",
                        name.as_str()
                    ))
                }),
        }
    }

    async fn style_pipeline(
        &self,
        bucket: &str,
        name: &str,
    ) -> Result<Option<Pipeline>, ImageError> {
        let Some(style) = self.store.style(bucket, name).await? else {
            return Ok(None);
        };
        match imaging::oss::parse_process(&style.process) {
            Ok(Process::Pipeline(p)) => Ok(Some(p)),
            Ok(Process::Style(_)) => Err(ImageError::Invalid(format!(
                "style {name} of bucket {bucket} refers to another style"
            ))),
            Err(e) => Err(ImageError::Invalid(format!(
                "style {name} of bucket {bucket} is not valid: {e}"
            ))),
        }
    }

    /// For a key that does not exist: if the bucket enables style delimiters and the
    /// key is `<object><delimiter><style>` with a defined style, the object, the style's
    /// pipeline and its name. An existing key always wins over this reading.
    pub async fn split_style_suffix(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<(String, Pipeline, String)>, ImageError> {
        let settings = match self.store.bucket_settings(bucket).await {
            Ok(s) => s,
            Err(StoreError::NoSuchBucket) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        // Longest first, so that `@!` is not read as `!` after an `@`.
        let mut delimiters: Vec<&String> = settings
            .style_delimiters
            .iter()
            .filter(|d| !d.is_empty())
            .collect();
        delimiters.sort_by_key(|d| std::cmp::Reverse(d.len()));
        for delimiter in delimiters {
            let Some((object, name)) = key.rsplit_once(delimiter.as_str()) else {
                continue;
            };
            if object.is_empty() || !store::styles::valid_style_name(name) {
                continue;
            }
            match self.store.object(bucket, object).await {
                Ok(_) => {}
                Err(StoreError::NoSuchKey) => continue,
                Err(e) => return Err(e.into()),
            }
            if let Some(pipeline) = self.style_pipeline(bucket, name).await? {
                return Ok(Some((object.to_owned(), pipeline, name.to_owned())));
            }
        }
        Ok(None)
    }

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
            if if_none_match.is_some_and(|h| etag_listed(h, &hit.etag)) {
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
        if if_none_match.is_some_and(|h| etag_listed(h, &etag)) {
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
        let cost = u64::from(probe.width) * u64::from(probe.height)
            + (source.len() + mark_bytes) as u64 / 4;
        let admitted = self.admission.admit(cost).await.map_err(ImageError::Busy)?;
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
        if let (Some(cache), Some(ticket)) = (&self.cache, ticket) {
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

/// The variant cache's name for a variant of `key`: everything that picks the output
/// except the source's bytes, which the cache tracks through invalidation.
fn cache_lookup(key: &str, pipeline: &Pipeline, accept_class: Option<&str>) -> String {
    format!(
        "v{}\u{0}{key}\u{0}{}\u{0}{}",
        imaging::CANONICAL_VERSION,
        pipeline.canonical(),
        accept_class.unwrap_or("-")
    )
}

/// The variant's identity: its source and watermark images, the canonical pipeline, and
/// (for `format,auto`) the class of what the client accepts.
pub fn variant_etag(
    source_etag: &str,
    mark_etags: &[String],
    pipeline: &Pipeline,
    accept_class: Option<&str>,
) -> String {
    let identity = format!(
        "v{}|{}|{}|{}|{}",
        imaging::CANONICAL_VERSION,
        source_etag,
        mark_etags.join(","),
        pipeline.canonical(),
        accept_class.unwrap_or_default()
    );
    Sha256::digest(identity.as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reduces an `Accept` header to what `format,auto` looks at, so that browsers sending
/// slightly different headers share one variant.
pub fn accept_class(accept: &str) -> &'static str {
    let has = |mime: &str| {
        accept
            .split(',')
            .any(|t| t.trim().split(';').next().is_some_and(|m| m.trim() == mime))
    };
    match (has("image/avif"), has("image/webp")) {
        (true, true) => "avif+webp",
        (true, false) => "avif",
        (false, true) => "webp",
        (false, false) => "",
    }
}

/// Whether an `If-None-Match` header lists `etag` (or is `*`).
pub fn etag_listed(header: &str, etag: &str) -> bool {
    header.split(',').any(|t| {
        let t = t.trim();
        let t = t.strip_prefix("W/").unwrap_or(t);
        t == "*" || t.trim_matches('"') == etag
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_reduce_to_what_auto_uses() {
        assert_eq!(accept_class("image/avif,image/webp,*/*;q=0.8"), "avif+webp");
        assert_eq!(accept_class("image/webp, image/apng"), "webp");
        assert_eq!(accept_class("text/html"), "");
        assert_eq!(accept_class("image/webpx"), "");
    }

    #[test]
    fn if_none_match_lists() {
        assert!(etag_listed("\"abc\"", "abc"));
        assert!(etag_listed("\"x\", W/\"abc\"", "abc"));
        assert!(etag_listed("*", "abc"));
        assert!(!etag_listed("\"abcd\"", "abc"));
    }
}
