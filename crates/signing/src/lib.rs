//! Signing schemes as pure functions: no I/O, no clocks (callers pass times in), each
//! checked against the published vectors in its tests.
//!
//! Every scheme follows the same flow: the caller hands over the request parts the scheme
//! covers (path, decoded or raw query parameters, headers) → the module builds the
//! scheme's canonical message → a keyed hash of it gives the signature → generation puts
//! that signature into a URL or header, and verification recomputes it and compares in
//! constant time. Verifiers return a typed error saying why a request was refused and,
//! where a link expires, the instant it does so callers can cap cache lifetimes.
//!
//! - [`sigv4`]: AWS Signature Version 4 for S3 requests (used by imgd's own clients, such
//!   as the benchmark tool and back-to-source fetches from S3 origins, and for verifying
//!   requests on the doors s3s does not serve).
//! - [`cloudflare`]: Cloudflare-Images-style `exp` + `sig` query parameters (HMAC-SHA256
//!   over path and form-encoded query).
//! - [`ixmage`]: ixmage locked-alias `key` (SHA-1 over token, the query's sorted
//!   characters and a secret).
//! - [`oss`]: Alibaba OSS V1 `Authorization: OSS` headers and `Signature` signed URLs
//!   (HMAC-SHA1 over a string-to-sign built from the request), and [`oss::v4`]:
//!   `OSS4-HMAC-SHA256` headers and signed URLs (SigV4's shape, OSS's scope and
//!   canonical form).
//! - [`weekly`]: imageproxy-py / Gazelle links signed with a key that rotates every ISO
//!   week (truncated HMAC-SHA256).

pub mod cloudflare;
pub mod ixmage;
pub mod oss;
pub mod sigv4;
pub mod weekly;

mod primitives;

pub use primitives::constant_time_eq;
