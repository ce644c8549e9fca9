//! Response bodies and bounded request-body reads.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};

/// The body type of every response imgd sends.
pub type BoxBody =
    http_body_util::combinators::BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// A whole response: status, `Content-Type` and bytes.
pub fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<BoxBody> {
    let mut resp = Response::new(bytes_body(body.into()));
    *resp.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    resp
}

/// A body of bytes already in memory.
pub fn bytes_body(bytes: Bytes) -> BoxBody {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

/// A streamed response body, or an empty one for HEAD.
pub fn stream_body<S, E>(stream: S, head: bool) -> BoxBody
where
    S: futures::Stream<Item = Result<Bytes, E>> + Send + Sync + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    if head {
        return empty_body();
    }
    use futures::TryStreamExt;
    http_body_util::StreamBody::new(
        stream
            .map_ok(hyper::body::Frame::data)
            .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) }),
    )
    .boxed()
}

/// `204 No Content`, the answer of a delete.
pub fn no_content() -> Response<BoxBody> {
    let mut resp = Response::new(empty_body());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}

pub fn empty_body() -> BoxBody {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed()
}

/// A request body read whole, refusing more than `limit` bytes: the small bodies doors
/// parse (JSON documents, process strings) are never streamed.
pub async fn read_limited(body: hyper::body::Incoming, limit: usize) -> Result<Bytes, String> {
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => Err(format!(
            "the request body could not be read (at most {limit} bytes): {e}"
        )),
    }
}
