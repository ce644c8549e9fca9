//! Resolution: what a request asks the image service for. A process string (parsed,
//! a named style looked up in the bucket's table) or, for a key that does not exist, a
//! `key<delimiter>style` suffix, becomes a [`Target`]: the object, the pipeline, and the
//! style's name (which delivery's always-public styles check).

use super::{ImageError, ImageService};
use imaging::{Pipeline, Process, SaveAs};
use store::StoreError;

/// What one read resolves to.
#[derive(Debug, Clone)]
pub struct Target {
    /// The object whose bytes are read (without any style suffix).
    pub key: String,
    /// `None`: the object as stored.
    pub pipeline: Option<Pipeline>,
    /// The named style used, if any.
    pub style: Option<String>,
}

impl ImageService {
    /// The one resolution of the S3, OSS and delivery doors. `process` (an
    /// `x-oss-process` value) wins; without it, an existing key is served as stored, and
    /// a missing one may be `<object><delimiter><style>` in a bucket with style
    /// delimiters. A missing bucket resolves to the plain object, whose read then fails
    /// in the door's own words.
    pub async fn target(
        &self,
        bucket: &str,
        key: &str,
        process: Option<&str>,
    ) -> Result<Target, ImageError> {
        let plain = || Target {
            key: key.to_owned(),
            pipeline: None,
            style: None,
        };
        if let Some(ops) = process {
            let parsed =
                imaging::oss::parse_process(ops).map_err(|e| ImageError::Invalid(e.to_string()))?;
            let style = match &parsed {
                Process::Style(name) => Some(name.as_str().to_owned()),
                Process::Pipeline(_) => None,
            };
            let pipeline = self.resolve_process(bucket, parsed).await?;
            return Ok(Target {
                key: key.to_owned(),
                pipeline: Some(pipeline),
                style,
            });
        }
        // Only a bucket with style delimiters can mean a suffix; for the others (most)
        // the door's own read of the key is the only lookup. Settings come from memory.
        match self.store.bucket_view(bucket).await {
            Ok((_, settings)) if settings.style_delimiters.iter().all(|d| d.is_empty()) => {
                return Ok(plain());
            }
            Ok(_) => {}
            Err(StoreError::NoSuchBucket) => return Ok(plain()),
            Err(e) => return Err(e.into()),
        }
        match self.store.object(bucket, key).await {
            Ok(_) | Err(StoreError::NoSuchBucket) => Ok(plain()),
            Err(StoreError::NoSuchKey) => Ok(match self.split_style_suffix(bucket, key).await? {
                Some((object, pipeline, style)) => Target {
                    key: object,
                    pipeline: Some(pipeline),
                    style: Some(style),
                },
                None => plain(),
            }),
            Err(e) => Err(e.into()),
        }
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

    pub(super) async fn resolve_process(
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
        let settings = match self.store.bucket_view(bucket).await {
            Ok((_, s)) => s,
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
}
