//! Signing schemes as pure functions: no I/O, no clocks (callers pass times in), each
//! checked against the published vectors in its tests.
//!
//! - [`sigv4`]: AWS Signature Version 4 for S3 requests (used by imgd's own clients, such
//!   as the benchmark tool and back-to-source fetches from S3 origins; incoming requests
//!   are verified by s3s).

pub mod sigv4;
