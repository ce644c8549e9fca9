//! Digests computed while a body streams through: the MD5 behind the ETag, and the
//! optional S3 checksums (CRC32, CRC32C, CRC64NVME, SHA1, SHA256).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use md5::{Digest as _, Md5};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    pub const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc64nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ];

    /// The name S3 uses in `x-amz-sdk-checksum-algorithm` and `x-amz-checksum-<name>`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(name))
    }

    /// Digest of `data` in one go, base64 as S3 writes it.
    pub fn digest_b64(self, data: &[u8]) -> String {
        let mut h = ChecksumHasher::new(self);
        h.update(data);
        h.finish_b64()
    }
}

/// Base64 checksums keyed by algorithm, as stored with an object or part.
pub type Checksums = BTreeMap<ChecksumAlgorithm, String>;

enum ChecksumHasher {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64(crc64fast_nvme::Digest),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl ChecksumHasher {
    fn new(algo: ChecksumAlgorithm) -> Self {
        match algo {
            ChecksumAlgorithm::Crc32 => Self::Crc32(crc32fast::Hasher::new()),
            ChecksumAlgorithm::Crc32c => Self::Crc32c(0),
            ChecksumAlgorithm::Crc64nvme => Self::Crc64(crc64fast_nvme::Digest::new()),
            ChecksumAlgorithm::Sha1 => Self::Sha1(sha1::Sha1::new()),
            ChecksumAlgorithm::Sha256 => Self::Sha256(sha2::Sha256::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Crc32(h) => h.update(data),
            Self::Crc32c(c) => *c = crc32c::crc32c_append(*c, data),
            Self::Crc64(h) => h.write(data),
            Self::Sha1(h) => sha1::Digest::update(h, data),
            Self::Sha256(h) => sha2::Digest::update(h, data),
        }
    }

    fn finish_b64(self) -> String {
        match self {
            Self::Crc32(h) => B64.encode(h.finalize().to_be_bytes()),
            Self::Crc32c(c) => B64.encode(c.to_be_bytes()),
            Self::Crc64(h) => B64.encode(h.sum64().to_be_bytes()),
            Self::Sha1(h) => B64.encode(sha1::Digest::finalize(h)),
            Self::Sha256(h) => B64.encode(sha2::Digest::finalize(h)),
        }
    }
}

/// Feeds every chunk of a body to MD5 and to the requested checksum algorithms.
pub struct BodyHasher {
    md5: Md5,
    checksums: Vec<(ChecksumAlgorithm, ChecksumHasher)>,
    len: u64,
}

/// What [`BodyHasher`] measured over a whole body.
#[derive(Debug, Clone)]
pub struct BodyDigests {
    pub len: u64,
    pub md5: [u8; 16],
    pub checksums: Checksums,
}

impl BodyDigests {
    pub fn md5_hex(&self) -> String {
        hex::encode(self.md5)
    }
}

impl BodyHasher {
    pub fn new(algorithms: &[ChecksumAlgorithm]) -> Self {
        let mut algos = algorithms.to_vec();
        algos.sort();
        algos.dedup();
        Self {
            md5: Md5::new(),
            checksums: algos
                .into_iter()
                .map(|a| (a, ChecksumHasher::new(a)))
                .collect(),
            len: 0,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        for (_, h) in &mut self.checksums {
            h.update(data);
        }
        self.len += data.len() as u64;
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn finish(self) -> BodyDigests {
        BodyDigests {
            len: self.len,
            md5: self.md5.finalize().into(),
            checksums: self
                .checksums
                .into_iter()
                .map(|(a, h)| (a, h.finish_b64()))
                .collect(),
        }
    }
}

/// The ETag of a multipart object: MD5 over the parts' binary MD5s, then `-N`.
pub fn multipart_etag(part_md5s_hex: &[String]) -> String {
    let mut h = Md5::new();
    for p in part_md5s_hex {
        if let Ok(raw) = hex::decode(p) {
            h.update(raw);
        }
    }
    format!("{}-{}", hex::encode(h.finalize()), part_md5s_hex.len())
}

/// S3's composite checksum of a multipart object: the algorithm over the concatenated
/// binary part checksums, then `-N`.
pub fn composite_checksum(algo: ChecksumAlgorithm, parts_b64: &[String]) -> Option<String> {
    let mut raw = Vec::new();
    for p in parts_b64 {
        raw.extend(B64.decode(p).ok()?);
    }
    Some(format!("{}-{}", algo.digest_b64(&raw), parts_b64.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_checksums_of_hello_world() {
        let mut h = BodyHasher::new(&ChecksumAlgorithm::ALL);
        h.update(b"hello ");
        h.update(b"world");
        let d = h.finish();
        assert_eq!(d.md5_hex(), "5eb63bbbe01eeed093cb22bb8f5acdc3");
        assert_eq!(d.checksums[&ChecksumAlgorithm::Crc32], "DUoRhQ==");
        assert_eq!(d.checksums[&ChecksumAlgorithm::Crc32c], "yZRlqg==");
        assert_eq!(
            d.checksums[&ChecksumAlgorithm::Sha1],
            "Kq5sNclPz7QV2+lfQIuc6R7oRu0="
        );
        assert_eq!(
            d.checksums[&ChecksumAlgorithm::Sha256],
            "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="
        );
        assert_eq!(d.len, 11);
    }

    #[test]
    fn multipart_etag_has_part_count() {
        let md5 = "5eb63bbbe01eeed093cb22bb8f5acdc3".to_string();
        let etag = multipart_etag(&[md5.clone(), md5]);
        assert!(etag.ends_with("-2"));
        assert_eq!(etag.len(), 34);
    }
}
