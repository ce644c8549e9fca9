//! `GET /{bucket}/{key}?x-oss-process=...`: the object, rendered through imgd's engine.
//!
//! It rides on GetObject, so every way of being allowed to read an object (public-read
//! bucket, SigV4/SigV2 header, presigned URL) works for processed reads too. The URL's
//! dialect is parsed into the engine's IR here; the engine never sees the URL.

use super::{ImgdS3, S3Res, etag, s3_err, timestamp_ms};
use futures::TryStreamExt;
use imaging::engine::{EngineError, Limits, Rendered};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request};
use sha2::{Digest, Sha256};

/// Bounds on processing, set from the configuration.
#[derive(Debug, Clone)]
pub struct ProcessLimits {
    pub engine: Limits,
    /// Objects larger than this are not read into memory for processing.
    pub max_source_bytes: u64,
}

impl Default for ProcessLimits {
    fn default() -> Self {
        ProcessLimits {
            engine: Limits::default(),
            max_source_bytes: 64 * 1024 * 1024,
        }
    }
}

/// The raw `x-oss-process` value of a request URI, percent-decoded.
pub fn process_param(uri: &http::Uri) -> Option<String> {
    uri.query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == "x-oss-process").then(|| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

fn invalid(msg: impl Into<String>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, msg.into())
}

pub(crate) fn engine_error(e: EngineError) -> S3Error {
    match e {
        EngineError::Internal(m) => {
            tracing::error!(error = %m, "image engine failure");
            S3Error::with_message(
                S3ErrorCode::InternalError,
                "The image could not be processed.",
            )
        }
        EngineError::TooLarge(m) => S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            format!("The image is too large: {m}"),
        ),
        other => invalid(other.to_string()),
    }
}

impl ImgdS3 {
    pub(crate) async fn do_processed_get(
        &self,
        req: S3Request<GetObjectInput>,
        ops: String,
    ) -> S3Res<GetObjectOutput> {
        let input = &req.input;
        let pipeline =
            match imaging::oss::parse_process(&ops).map_err(|e| invalid(e.to_string()))? {
                imaging::Process::Pipeline(p) => p,
                imaging::Process::Style(name) => {
                    return Err(invalid(format!(
                        "style {} is not defined for bucket {}",
                        name.as_str(),
                        input.bucket
                    )));
                }
            };
        let limits = self.process_limits.clone();
        let (info, _, stream) = self
            .store
            .open_object(&input.bucket, &input.key, |info| {
                if info.size > limits.max_source_bytes {
                    return Err(store::StoreError::InvalidArgument(format!(
                        "the object is {} bytes; images larger than {} bytes are not processed",
                        info.size, limits.max_source_bytes
                    )));
                }
                Ok(0..info.size)
            })
            .await
            .map_err(s3_err)?;
        let auto_format = matches!(pipeline.output.format, Some(imaging::FormatChoice::Auto));
        let accept = req
            .headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // The variant's identity: its source, the canonical pipeline, and (for auto) what
        // the client accepts.
        let variant = format!(
            "v{}|{}|{}|{}",
            imaging::CANONICAL_VERSION,
            info.etag,
            pipeline.canonical(),
            if auto_format {
                accept.as_deref().unwrap_or("")
            } else {
                ""
            }
        );
        let variant_etag = hex_prefix(&Sha256::digest(variant.as_bytes()));
        if let Some(ETagCondition::ETag(e)) = input.if_none_match.as_ref()
            && e.value() == variant_etag
        {
            return Err(not_modified(&variant_etag));
        }
        let source: Vec<u8> = stream
            .try_fold(
                Vec::with_capacity(info.size as usize),
                |mut acc, chunk| async move {
                    acc.extend_from_slice(&chunk);
                    Ok(acc)
                },
            )
            .await
            .map_err(|e| s3_err(store::StoreError::Io(e)))?;
        let started = std::time::Instant::now();
        let rendered = tokio::task::spawn_blocking(move || {
            imaging::engine::render(&source, &pipeline, accept.as_deref(), &limits.engine)
        })
        .await
        .map_err(|e| engine_error(EngineError::Internal(e.to_string())))?
        .map_err(engine_error)?;
        metrics::histogram!("imgd_process_seconds").record(started.elapsed().as_secs_f64());
        let content_type = rendered.content_type().to_owned();
        let bytes = match rendered {
            Rendered::Image { bytes, .. } => bytes,
            Rendered::Json(text) => text.into_bytes(),
        };
        let len = bytes.len() as i64;
        let body =
            futures::stream::once(
                async move { Ok::<_, std::io::Error>(bytes::Bytes::from(bytes)) },
            );
        let mut resp = s3s::S3Response::new(GetObjectOutput {
            body: Some(StreamingBlob::wrap(body)),
            content_length: Some(len),
            content_type: Some(content_type),
            e_tag: Some(etag(&variant_etag)),
            last_modified: Some(timestamp_ms(info.modified_ms)),
            cache_control: info.headers.cache_control.clone(),
            ..Default::default()
        });
        if auto_format {
            resp.headers
                .insert(http::header::VARY, http::HeaderValue::from_static("Accept"));
        }
        Ok(resp)
    }
}

fn hex_prefix(digest: &[u8]) -> String {
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

fn not_modified(variant_etag: &str) -> S3Error {
    let mut e = S3Error::new(S3ErrorCode::NotModified);
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(&format!("\"{variant_etag}\"")) {
        headers.insert(http::header::ETAG, v);
    }
    e.set_headers(headers);
    e
}
