//! The HTTP transport of the S3 blob backend.
//!
//! OpenDAL's HTTP services send every request through a process-wide transport that the
//! application installs. OpenDAL's own reqwest transport would bring a second major
//! version of reqwest (and another TLS stack) into the build, so the blob backend sends
//! its requests through the reqwest 0.12 client the rest of imgd already links.
//!
//! Environment proxies are ignored: the blob store is an address the operator configured,
//! and a stray `HTTP_PROXY` must not silently reroute every object write.

use crate::error::{StoreError, StoreResult};
use futures::TryStreamExt;
use opendal::{Buffer, Error, ErrorKind, HttpBody, HttpTransport, HttpTransporter};
use std::sync::OnceLock;

const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// Longer than any pause a healthy S3 store takes between bytes, including assembling a
/// large multipart completion before it answers.
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

struct ReqwestTransport {
    client: reqwest::Client,
}

/// Installs the transport once per process; later calls only report whether the first
/// one succeeded.
pub(crate) fn install() -> StoreResult<()> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    let outcome = INSTALLED.get_or_init(|| {
        let client = reqwest::Client::builder()
            .no_proxy()
            // A store that stopped answering (a frozen process, a black-holed route) must
            // fail the request, not hang it: the connect is bounded, and so is each wait
            // for the store's next bytes. Neither limits how long a whole part or a whole
            // download may take.
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .build()
            .map_err(|e| format!("building the blob store's HTTP client: {e}"))?;
        HttpTransporter::install_default(ReqwestTransport { client });
        Ok(())
    });
    outcome
        .clone()
        .map_err(|m| StoreError::Blob(Error::new(ErrorKind::ConfigInvalid, m)))
}

/// Whether a reqwest failure is worth OpenDAL's retrying.
fn transient(e: &reqwest::Error) -> bool {
    e.is_connect() || e.is_timeout() || e.is_request() || e.is_body()
}

fn failure(what: &'static str, url: &str, e: reqwest::Error) -> Error {
    let temporary = transient(&e);
    Error::new(ErrorKind::Unexpected, what)
        .with_context("url", url)
        .with_temporary(temporary)
        .set_source(e.without_url())
}

impl HttpTransport for ReqwestTransport {
    async fn fetch(&self, req: http::Request<Buffer>) -> opendal::Result<http::Response<HttpBody>> {
        let (parts, body) = req.into_parts();
        let is_head = parts.method == http::Method::HEAD;
        let url = parts.uri.to_string();
        let mut request = self
            .client
            .request(parts.method, url.as_str())
            .headers(parts.headers);
        if !body.is_empty() {
            // A part is at most one write chunk, so one contiguous copy is bounded.
            request = request.body(body.to_bytes());
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| failure("sending a blob request", &url, e))?;

        // A HEAD answer's Content-Length describes the object, not this (empty) body.
        let length = if is_head {
            None
        } else {
            response.content_length()
        };
        let mut builder = http::Response::builder()
            .status(response.status())
            .version(response.version())
            .extension(parts.uri);
        if let Some(headers) = builder.headers_mut() {
            std::mem::swap(headers, response.headers_mut());
        }
        let stream = response
            .bytes_stream()
            .map_ok(Buffer::from)
            .map_err(move |e| failure("reading a blob response", &url, e));
        // OpenDAL wants a Sync stream; reqwest's is only Send.
        let body = HttpBody::new(sync_wrapper::SyncStream::new(Box::pin(stream)), length);
        builder.body(body).map_err(|e| {
            Error::new(ErrorKind::Unexpected, "building a blob response").set_source(e)
        })
    }
}
