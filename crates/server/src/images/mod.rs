//! The image service: every front door that returns a processed image goes through
//! [`ImageService`], so styles, limits, admission control and variant identity are the
//! same whichever URL dialect or signature scheme brought the request.
//!
//! A request flows: `x-oss-process` or a `key!style` suffix → [`ImageService::target`]
//! (`resolve.rs`: parse, look up a named style; one function for the S3, OSS and
//! delivery doors) → [`ImageService::render`] (`render.rs`: read the source and any
//! watermark images, answer 304 from the variant ETag when possible, probe the header,
//! wait for admission, render on a blocking thread under the time budget) → [`Variant`]
//! for the door to send. `variants.rs` names variants: cache key, ETag, `Accept` class.
//!
//! With a [`varcache::VariantCache`] attached, `render` first looks the variant up by
//! (bucket, key, canonical pipeline, accept class): a hit is answered from memory or
//! disk with no source read and no decode. Misses for the same variant are coalesced
//! ([`crate::sources::coalesce`]) into one render, whose result fills the cache. A
//! source that is missing locally is fetched from the bucket's origin when the bucket
//! has one ([`crate::sources::Sources`]).

pub mod admission;
mod render;
mod resolve;
pub mod variants;

pub use resolve::Target;
pub use variants::{accept_class, variant_etag};

use crate::sources::coalesce::Coalescer;
use crate::sources::{SourceError, Sources};
use admission::{Admission, AdmissionConfig, Busy};
use bytes::Bytes;
use imaging::engine::{EngineError, Limits};
use std::sync::Arc;
use store::{ObjectInfo, Store, StoreError};
use thiserror::Error;
use varcache::VariantCache;

/// Bounds on processing, set from the configuration.
#[derive(Debug, Clone)]
pub struct ProcessLimits {
    pub engine: Limits,
    /// Objects larger than this are not read into memory for processing.
    pub max_source_bytes: u64,
    pub admission: AdmissionConfig,
    /// OSS `x-oss-async-process` tasks rendered at once in the background (each still
    /// admitted like any render); 0 queues tasks without running them.
    pub async_workers: usize,
}

impl Default for ProcessLimits {
    fn default() -> Self {
        ProcessLimits {
            engine: Limits::default(),
            max_source_bytes: 64 * 1024 * 1024,
            admission: AdmissionConfig::default(),
            async_workers: 2,
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
                    Ok(store::Change::Object { bucket, key }) => {
                        follower.invalidate_object(&bucket, &key).await;
                    }
                    Ok(store::Change::Everything) => {
                        tracing::warn!("changes may have been missed; purging the variant cache");
                        follower.purge_all().await;
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
}
