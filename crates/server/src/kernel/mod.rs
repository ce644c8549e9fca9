//! The HTTP kernel: the rules every front door shares, each written once.
//!
//! - [`query::Query`]: a request's query string, percent-decoded once into ordered pairs.
//! - [`conditional`]: `If-Match`, `If-None-Match`, `If-Modified-Since` and
//!   `If-Unmodified-Since` in RFC 9110's order, with one ETag comparison rule.
//! - [`range`]: the one `Range: bytes=` parser; each door picks what to do with a
//!   malformed or unsatisfiable range (S3 answers 416, OSS by default the whole object).
//! - [`multipart`]: form bodies (`multipart/form-data`, URL-encoded) read into fields.
//! - [`date`]: HTTP dates, formatted and parsed (all three forms RFC 9110 accepts).
//! - [`body`]: the response body type and helpers, and bounded request-body reads.
//! - [`caching`]: `Cache-Control`/`Expires` capped by a link's expiry.
//! - [`error::ApiError`]: status, code, message and `Retry-After`, with `From` for the
//!   store's and the image service's errors. Doors only render it (S3 XML, OSS XML,
//!   delivery XML, admin JSON, imageproxy text).
//! - [`clock::Clock`]: "now" for every expiry check, movable by tests.
//! - [`vhost`]: bucket and key from `Host` and path.
//! - [`xml`]: escaping and the S3-style error document.
//!
//! The kernel knows no door: doors import it, never the other way round.

pub mod body;
pub mod caching;
pub mod clock;
pub mod conditional;
pub mod date;
pub mod error;
pub mod multipart;
pub mod query;
pub mod range;
pub mod vhost;
pub mod xml;

pub use body::{BoxBody, empty_body, full, no_content, stream_body};
pub use clock::Clock;
pub use error::ApiError;
pub use query::Query;
