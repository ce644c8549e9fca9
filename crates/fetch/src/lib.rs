//! SSRF-safe HTTP(S) fetching for imgd's image proxy (user-supplied URLs) and
//! back-to-source origins.
//!
//! Principal types: [`FetchPolicy`] (limits and [`AllowRule`] exceptions), [`Fetcher`]
//! (a cheap-to-clone client built from a policy), [`FetchRequest`] (extra headers, whether
//! an image is required) and [`FetchResponse`] (status, headers and a size- and
//! time-limited body stream). [`denied_reason`] says which addresses are off limits and
//! [`sniff`] recognises image formats by magic bytes (with the `formats` crate's
//! sniffer, the one imaging decodes by).
//!
//! How a fetch flows: the URL is parsed (odd IPv4 spellings become plain addresses) and
//! checked — http/https only, an address literal must pass the deny list. The request
//! goes out through a reqwest client that never uses a proxy and resolves names through
//! a resolver that drops denied addresses, so every connection, including ones made
//! after DNS changes, goes only where the policy permits. Redirects are followed here,
//! not by reqwest, so each hop gets the same checks, and credentials are dropped once a
//! hop leaves the original origin. The final response is returned whatever its status;
//! for a 2xx with `require_image` the first bytes are read and sniffed, then replayed by
//! the body stream. Every wait is bounded by `read_timeout` and the overall `deadline`,
//! and the body by `max_bytes`.

mod addr;
mod error;
mod policy;
mod probe;
mod resolver;
mod sniff;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::task::Poll;

use bytes::{Bytes, BytesMut};
use futures::stream::{BoxStream, StreamExt};
use http::header::{AUTHORIZATION, CONTENT_LENGTH, COOKIE, LOCATION, PROXY_AUTHORIZATION};
use http::{HeaderMap, StatusCode};
use tokio::time::Instant;
use url::{Host, Url};

pub use addr::denied_reason;
pub use error::FetchError;
pub use ipnet::IpNet;
pub use policy::{AllowRule, FetchPolicy};
pub use sniff::{ImageKind, SNIFF_WINDOW, sniff};

use policy::Guard;
use probe::{ConnectProbe, ConnectState, ProbeLayer};
use resolver::GuardedResolver;
use sniff::{Verdict, classify};

/// A fetch client bound to one [`FetchPolicy`]. Clones share the connection pool.
#[derive(Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    policy: FetchPolicy,
    guard: Arc<Guard>,
}

/// Per-request options.
#[derive(Debug, Default, Clone)]
pub struct FetchRequest {
    /// Extra request headers. Authorization, Proxy-Authorization and Cookie are dropped
    /// for good once a redirect leaves the original scheme, host and port.
    pub headers: HeaderMap,
    /// On a 2xx, read enough of the body to recognise an image format and fail with
    /// [`FetchError::NotAnImage`] otherwise.
    pub require_image: bool,
}

/// A final (non-redirect) response, whatever its status.
pub struct FetchResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The URL that produced this response, after redirects.
    pub url: String,
    /// The declared body length, from Content-Length (`None` when chunked, and for
    /// statuses that carry no body).
    pub content_length: Option<u64>,
    /// The sniffed format, when the request required an image and the status was 2xx.
    pub image: Option<ImageKind>,
    prefix: Bytes,
    body: Body,
}

impl Fetcher {
    pub fn new(policy: FetchPolicy) -> Result<Fetcher, FetchError> {
        let guard = Arc::new(Guard::new(&policy.allow));
        let client = reqwest::Client::builder()
            // Each hop must be checked here; reqwest would follow without asking.
            .redirect(reqwest::redirect::Policy::none())
            // An environment proxy would make the connection for us, out of the
            // resolver's sight.
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver {
                guard: Arc::clone(&guard),
            }))
            .connect_timeout(policy.connect_timeout)
            .connector_layer(ProbeLayer)
            .user_agent(policy.user_agent.as_str())
            .referer(false)
            .build()
            .map_err(|err| FetchError::Http(format!("client setup failed: {err}")))?;
        Ok(Fetcher {
            inner: Arc::new(Inner {
                client,
                policy,
                guard,
            }),
        })
    }

    pub fn policy(&self) -> &FetchPolicy {
        &self.inner.policy
    }

    /// GETs `url`, following redirects within the policy. Non-2xx final statuses are
    /// returned, not treated as errors.
    pub async fn get(&self, url: &str, request: FetchRequest) -> Result<FetchResponse, FetchError> {
        let result = self.fetch(url, request).await;
        let label = match &result {
            Ok(_) => "ok",
            Err(err) => err.short_reason(),
        };
        metrics::counter!("imgd_fetch_total", "result" => label).increment(1);
        if let Err(err) = &result {
            tracing::debug!(error = %err, reason = label, "fetch failed");
        }
        result
    }

    async fn fetch(&self, url: &str, request: FetchRequest) -> Result<FetchResponse, FetchError> {
        let policy = &self.inner.policy;
        let deadline = Instant::now() + policy.deadline;
        let mut current = Url::parse(url).map_err(|err| FetchError::BadUrl(err.to_string()))?;
        self.check_url(&current)?;
        let origin = current.origin();
        let mut headers = request.headers;
        let mut redirects = 0;

        let response = loop {
            let response = self.send(&current, &headers, deadline).await?;
            let Some(next) = redirect_target(&response, &current)? else {
                break response;
            };
            if redirects >= policy.max_redirects {
                return Err(FetchError::TooManyRedirects(policy.max_redirects));
            }
            redirects += 1;
            self.check_url(&next)?;
            if next.origin() != origin {
                for name in [AUTHORIZATION, PROXY_AUTHORIZATION, COOKIE] {
                    headers.remove(name);
                }
            }
            tracing::debug!(from = %current, to = %next, "fetch: following redirect");
            current = next;
        };

        let status = response.status();
        let headers = response.headers().clone();
        let content_length = declared_length(status, &headers);
        if status.is_success() && content_length.is_some_and(|len| len > policy.max_bytes) {
            return Err(FetchError::TooLarge {
                limit: policy.max_bytes,
            });
        }
        let mut body = Body {
            stream: response.bytes_stream().boxed(),
            read_timeout: policy.read_timeout,
            deadline,
            max_bytes: policy.max_bytes,
            received: 0,
            finished: false,
        };
        let (image, prefix) = if request.require_image && status.is_success() {
            let (kind, prefix) = body.sniff().await?;
            (Some(kind), prefix)
        } else {
            (None, Bytes::new())
        };
        Ok(FetchResponse {
            status,
            headers,
            url: current.into(),
            content_length,
            image,
            prefix,
            body,
        })
    }

    /// Checks that can be made before connecting: the scheme, and the host when it is an
    /// address literal (reqwest does not pass those through the resolver).
    fn check_url(&self, url: &Url) -> Result<(), FetchError> {
        match url.scheme() {
            "http" | "https" => {}
            other => return Err(FetchError::SchemeNotAllowed(other.to_owned())),
        }
        let ip = match url.host() {
            None => return Err(FetchError::BadUrl("missing host".to_owned())),
            Some(Host::Domain("")) => return Err(FetchError::BadUrl("empty host".to_owned())),
            Some(Host::Domain(_)) => return Ok(()),
            Some(Host::Ipv4(ip)) => ip.into(),
            Some(Host::Ipv6(ip)) => ip.into(),
        };
        self.inner
            .guard
            .check_ip(ip)
            .map_err(|reason| FetchError::Denied {
                host: url.host_str().unwrap_or_default().to_owned(),
                reason,
            })
    }

    /// Sends one request and waits for its response head: `connect_timeout` for a new
    /// connection (enforced by reqwest), then `read_timeout` from when the connection
    /// was ready, all within the fetch's deadline.
    async fn send(
        &self,
        url: &Url,
        headers: &HeaderMap,
        deadline: Instant,
    ) -> Result<reqwest::Response, FetchError> {
        let policy = &self.inner.policy;
        let probe = Arc::new(ConnectProbe::default());
        let started = Instant::now();
        let head_limit = |state: ConnectState| {
            let limit = match state {
                ConnectState::Idle => started + policy.read_timeout,
                ConnectState::Connecting => started + policy.connect_timeout + policy.read_timeout,
                ConnectState::Connected(at) => at + policy.read_timeout,
            };
            limit.min(deadline)
        };
        let request = self
            .inner
            .client
            .get(url.clone())
            .headers(headers.clone())
            .send();
        let mut request = std::pin::pin!(probe.scope(request));
        // Before the first poll nobody knows whether a new connection is needed.
        let mut timer = std::pin::pin!(tokio::time::sleep_until(head_limit(
            ConnectState::Connecting
        )));
        let outcome = std::future::poll_fn(|cx| {
            if let Poll::Ready(result) = request.as_mut().poll(cx) {
                return Poll::Ready(Some(result));
            }
            let limit = head_limit(probe.state());
            if timer.deadline() != limit {
                timer.as_mut().reset(limit);
            }
            timer.as_mut().poll(cx).map(|()| None)
        })
        .await;
        match outcome {
            None => Err(FetchError::Timeout),
            Some(Err(err)) => Err(FetchError::from_send(err)),
            Some(Ok(response)) => Ok(response),
        }
    }
}

fn redirect_target(response: &reqwest::Response, current: &Url) -> Result<Option<Url>, FetchError> {
    let status = response.status();
    if !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
        return Ok(None);
    }
    let Some(location) = response.headers().get(LOCATION) else {
        // Nothing to follow: the caller gets the 3xx as it is.
        return Ok(None);
    };
    let location = location
        .to_str()
        .map_err(|_| FetchError::BadUrl("invalid redirect location".to_owned()))?;
    current
        .join(location)
        .map(Some)
        .map_err(|err| FetchError::BadUrl(format!("invalid redirect location: {err}")))
}

fn declared_length(status: StatusCode, headers: &HeaderMap) -> Option<u64> {
    if status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return None;
    }
    headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

impl FetchResponse {
    /// The body as a stream of chunks: the sniffed prefix first, then the rest, failing
    /// with `TooLarge` past `max_bytes` and `Timeout` when a chunk takes longer than
    /// `read_timeout` or the fetch's deadline passes.
    pub fn into_stream(self) -> BoxStream<'static, Result<Bytes, FetchError>> {
        let prefix = (!self.prefix.is_empty()).then_some(self.prefix);
        futures::stream::unfold(Some((prefix, self.body)), |state| async move {
            let (prefix, mut body) = state?;
            if let Some(prefix) = prefix {
                return Some((Ok(prefix), Some((None, body))));
            }
            match body.next_chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), Some((None, body)))),
                Ok(None) => None,
                Err(err) => Some((Err(err), None)),
            }
        })
        .boxed()
    }

    /// The whole body, under the same limits as [`FetchResponse::into_stream`].
    pub async fn bytes(self) -> Result<Bytes, FetchError> {
        // Content-Length is the peer's claim; reserve on it only up to a modest size.
        let hint = self
            .content_length
            .unwrap_or(0)
            .min(self.body.max_bytes)
            .min(8 << 20);
        let mut stream = self.into_stream();
        let mut buf = BytesMut::with_capacity(usize::try_from(hint).unwrap_or(0));
        while let Some(chunk) = stream.next().await {
            buf.extend_from_slice(&chunk?);
        }
        Ok(buf.freeze())
    }
}

impl fmt::Debug for FetchResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("url", &self.url)
            .field("content_length", &self.content_length)
            .field("image", &self.image)
            .finish_non_exhaustive()
    }
}

/// The response body with the policy's limits applied to every read.
struct Body {
    stream: BoxStream<'static, reqwest::Result<Bytes>>,
    read_timeout: std::time::Duration,
    deadline: Instant,
    max_bytes: u64,
    received: u64,
    finished: bool,
}

impl Body {
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, FetchError> {
        while !self.finished {
            let until = self.deadline.min(Instant::now() + self.read_timeout);
            let next = tokio::time::timeout_at(until, self.stream.next()).await;
            let chunk = match next {
                Err(_) => Err(FetchError::Timeout),
                Ok(None) => Ok(None),
                Ok(Some(Err(err))) => Err(FetchError::from_body(err)),
                Ok(Some(Ok(chunk))) => {
                    self.received += chunk.len() as u64;
                    if self.received > self.max_bytes {
                        Err(FetchError::TooLarge {
                            limit: self.max_bytes,
                        })
                    } else if chunk.is_empty() {
                        continue;
                    } else {
                        return Ok(Some(chunk));
                    }
                }
            };
            // End of body or an error: nothing more may be read from this response.
            self.finished = true;
            return chunk;
        }
        Ok(None)
    }

    /// Reads until the format is known, returning it with everything read so far.
    async fn sniff(&mut self) -> Result<(ImageKind, Bytes), FetchError> {
        let mut prefix = BytesMut::new();
        loop {
            // Judged on the window only, even when a chunk carried more, so a fetch
            // accepts exactly what [`sniff`] recognises in the same bytes.
            match classify(&prefix[..prefix.len().min(SNIFF_WINDOW)]) {
                Verdict::Image(kind) => return Ok((kind, prefix.freeze())),
                Verdict::NotImage => return Err(FetchError::NotAnImage),
                Verdict::NeedMore if prefix.len() >= SNIFF_WINDOW => {
                    return Err(FetchError::NotAnImage);
                }
                Verdict::NeedMore => {}
            }
            match self.next_chunk().await? {
                Some(chunk) => prefix.extend_from_slice(&chunk),
                None => return Err(FetchError::NotAnImage),
            }
        }
    }
}
