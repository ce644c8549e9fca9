use crate::digest::{ChecksumAlgorithm, Checksums};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Canned ACL of a bucket. `PublicRead` lets anonymous clients GET and HEAD objects;
/// listing and writes always need credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BucketAcl {
    Private,
    PublicRead,
}

impl BucketAcl {
    pub fn as_str(self) -> &'static str {
        match self {
            BucketAcl::Private => "private",
            BucketAcl::PublicRead => "public-read",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "private" => Some(BucketAcl::Private),
            "public-read" => Some(BucketAcl::PublicRead),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct BucketInfo {
    pub name: String,
    pub created_ms: i64,
    pub acl: BucketAcl,
}

/// The HTTP headers stored with an object and returned on GET/HEAD.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectHeaders {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    /// `Expires` as the client sent it (an HTTP date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// `x-amz-meta-*` without the prefix, names lower-cased.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user: BTreeMap<String, String>,
}

/// What an object is beyond its bytes (OSS's `x-oss-object-type`; a multipart object
/// is `Normal` with a `parts_count`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ObjectKind {
    #[default]
    Normal,
    /// Written by AppendObject: the only kind a further append may extend.
    Appendable,
    /// Reads answer with `target`'s bytes and headers (a key in the same bucket); the
    /// row's own blob is empty. Chains are not followed.
    Symlink { target: String },
}

impl ObjectKind {
    /// The database's `kind` column.
    pub fn as_str(&self) -> &'static str {
        match self {
            ObjectKind::Normal => "normal",
            ObjectKind::Appendable => "appendable",
            ObjectKind::Symlink { .. } => "symlink",
        }
    }

    pub fn symlink_target(&self) -> Option<&str> {
        match self {
            ObjectKind::Symlink { target } => Some(target),
            _ => None,
        }
    }
}

/// Object tags, key to value (see [`crate::check_tags`] for the limits).
pub type Tags = BTreeMap<String, String>;

/// One stored object, as its metadata row describes it.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    pub bucket: String,
    pub key: String,
    pub blob: String,
    pub size: u64,
    /// Without quotes: a hex MD5, or `hex-N` for multipart objects.
    pub etag: String,
    pub modified_ms: i64,
    pub parts_count: Option<i32>,
    pub headers: ObjectHeaders,
    pub checksums: Checksums,
    pub kind: ObjectKind,
    pub tags: Tags,
}

/// What a completed multipart upload answers, the first time and on a retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedUpload {
    /// Without quotes, `hex-N`.
    pub etag: String,
    pub size: u64,
    pub checksums: Checksums,
}

/// An in-progress multipart upload.
#[derive(Debug, Clone)]
pub struct UploadInfo {
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    pub initiated_ms: i64,
    pub headers: ObjectHeaders,
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    /// The completed object's tags.
    pub tags: Tags,
}

#[derive(Debug, Clone)]
pub struct PartInfo {
    pub part_number: i32,
    pub blob: String,
    pub size: u64,
    pub etag: String,
    pub modified_ms: i64,
    pub checksums: Checksums,
}

/// Permission of an extra access key on one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Permission {
    Read,
    ReadWrite,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::ReadWrite => "read-write",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" | "ro" => Some(Permission::Read),
            "read-write" | "readwrite" | "rw" => Some(Permission::ReadWrite),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AccessKey {
    pub access_key: String,
    pub secret_key: String,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
    pub description: String,
    pub grants: Vec<(String, Permission)>,
}

impl AccessKey {
    /// Whether this key holds `need` on `bucket`: a read-write grant allows everything,
    /// a read grant allows reads. The one grant rule every door applies.
    pub fn may(&self, bucket: &str, need: Permission) -> bool {
        self.grants.iter().any(|(b, p)| {
            b == bucket
                && (*p == Permission::ReadWrite
                    || (need == Permission::Read && *p == Permission::Read))
        })
    }
}

/// A named process string of one bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Style {
    pub name: String,
    pub process: String,
    pub modified_ms: i64,
}

/// A bucket's delivery settings. Every field has a default, so documents written by an
/// older imgd still load.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BucketSettings {
    /// Separators that make `GET /bucket/key<sep>name` apply style `name` to `key`
    /// (OSS allows `-`, `_`, `/` and `!`; imgd also takes `@!`). Empty: off.
    pub style_delimiters: Vec<String>,
    /// Who may read objects without S3/OSS credentials. `None` follows the S3 ACL
    /// (public-read → public, otherwise private).
    pub delivery: Option<DeliveryPolicy>,
    /// Link schemes accepted when the policy is `Signed`. Names this imgd does not know
    /// (`weekly`, accepted by earlier versions but never honoured) are dropped on read.
    #[serde(deserialize_with = "known_schemes")]
    pub schemes: Vec<LinkScheme>,
    /// Referer allow-list for delivery: host names, `*.example.com` patterns. Empty
    /// allows any referer; requests without one are always allowed.
    pub referers: Vec<String>,
    /// `Cache-Control` max-age of public responses, in seconds (default 3600).
    pub cache_ttl_secs: Option<u32>,
    /// Styles ("variants") served without a signature even when the bucket needs one.
    pub public_styles: Vec<String>,
    /// Where reads that miss go (back-to-source). `None`: a miss is a 404.
    pub origin: Option<OriginSettings>,
    /// Browser CORS rules (S3 PutBucketCors), matched in order. Empty: CORS is off.
    /// Skipped when empty so documents of buckets without CORS stay as they were.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cors: Vec<CorsRule>,
    /// The S3 bucket policy (PutBucketPolicy) and what imgd read from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_policy: Option<S3BucketPolicy>,
    /// S3 object ownership (`BucketOwnerEnforced`, `BucketOwnerPreferred`,
    /// `ObjectWriter`). `None`: S3's default for new buckets, `BucketOwnerEnforced`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_ownership: Option<String>,
}

/// One S3 CORS rule as stored; the S3 door checks and matches it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CorsRule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `https://app.example`, `*`, or one `*` inside (`https://*.example`).
    pub allowed_origins: Vec<String>,
    /// Upper-case HTTP methods: GET, PUT, POST, DELETE, HEAD.
    pub allowed_methods: Vec<String>,
    /// Request headers a preflight may ask for (case-insensitive, one `*` allowed).
    pub allowed_headers: Vec<String>,
    /// Response headers the browser may show to scripts.
    pub expose_headers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age_secs: Option<u32>,
}

/// A bucket policy document kept exactly as the client sent it (GetBucketPolicy returns
/// it byte for byte), beside the anonymous grants imgd understood from it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct S3BucketPolicy {
    pub document: String,
    /// `s3:GetObject` on `bucket/*` for everyone: mapped to the public delivery policy.
    pub public_read: bool,
    /// `s3:ListBucket` on the bucket for everyone.
    pub public_list: bool,
    /// `s3:GetBucketLocation` on the bucket for everyone.
    pub public_location: bool,
}

/// Back-to-source for one bucket: a miss is fetched from `source`, answered at once, and
/// stored in the bucket in the background.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginSettings {
    pub source: Origin,
    /// How long an origin 404 is remembered (default 60 s; never forever, so objects
    /// added to the origin later appear).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub miss_ttl_secs: Option<u32>,
}

impl OriginSettings {
    pub fn miss_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.miss_ttl_secs.unwrap_or(60)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Origin {
    /// `GET {base_url}/{key}`; the key's segments are percent-encoded.
    Http { base_url: String },
    /// An S3-compatible bucket, read with SigV4-signed GETs.
    S3 {
        endpoint: String,
        region: String,
        bucket: String,
        access_key: String,
        secret_key: String,
        /// Prepended to the key (`photos/` maps `a.jpg` to `photos/a.jpg`).
        #[serde(default)]
        prefix: String,
    },
}

impl BucketSettings {
    pub fn effective_delivery(&self, acl: BucketAcl) -> DeliveryPolicy {
        self.delivery.unwrap_or(match acl {
            BucketAcl::PublicRead => DeliveryPolicy::Public,
            BucketAcl::Private => DeliveryPolicy::Private,
        })
    }

    pub fn cache_ttl(&self) -> u32 {
        self.cache_ttl_secs.unwrap_or(3600)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryPolicy {
    /// Only S3/OSS-authenticated requests.
    Private,
    /// Anyone.
    Public,
    /// Links signed with one of the bucket's accepted schemes.
    Signed,
}

impl DeliveryPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryPolicy::Private => "private",
            DeliveryPolicy::Public => "public",
            DeliveryPolicy::Signed => "signed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "private" => Some(DeliveryPolicy::Private),
            "public" => Some(DeliveryPolicy::Public),
            "signed" => Some(DeliveryPolicy::Signed),
            _ => None,
        }
    }
}

/// Link-signing schemes a bucket can accept (S3 and OSS presigned URLs are
/// authenticated requests and always work).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkScheme {
    /// Cloudflare-style `exp` + `sig` (HMAC-SHA256).
    Cloudflare,
    /// ixmage-style `key` (SHA-1 over token, sorted query, secret).
    Ixmage,
}

impl LinkScheme {
    pub const ALL: [LinkScheme; 2] = [LinkScheme::Cloudflare, LinkScheme::Ixmage];

    /// The accepted names, for error messages: `cloudflare, ixmage`.
    pub fn names() -> String {
        Self::ALL.map(LinkScheme::as_str).join(", ")
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LinkScheme::Cloudflare => "cloudflare",
            LinkScheme::Ixmage => "ixmage",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cloudflare" | "cf" => Some(LinkScheme::Cloudflare),
            "ixmage" => Some(LinkScheme::Ixmage),
            _ => None,
        }
    }
}

/// Reads a stored scheme list, skipping names this version does not accept, so a bucket
/// saved by an older imgd (which took `weekly`) still loads.
fn known_schemes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<LinkScheme>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    Ok(names
        .iter()
        .filter_map(|name| {
            let scheme = LinkScheme::parse(name);
            if scheme.is_none() {
                tracing::warn!(scheme = %name, "ignoring a stored link scheme imgd no longer accepts");
            }
            scheme
        })
        .collect())
}

/// A link-signing secret. `bucket` is `None` for account secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    pub id: String,
    pub bucket: Option<String>,
    pub secret: String,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
    pub description: String,
}

pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    d.as_millis() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_saved_by_an_older_imgd_still_load() {
        // Earlier versions accepted `weekly` and stored `revalidate_after_secs`.
        let stored = r#"{"delivery":"signed","schemes":["cloudflare","weekly","ixmage"],
            "origin":{"source":{"kind":"http","base_url":"http://127.0.0.1:9/x"},
            "miss_ttl_secs":5,"revalidate_after_secs":30}}"#;
        let s: BucketSettings = serde_json::from_str(stored).unwrap();
        assert_eq!(s.schemes, [LinkScheme::Cloudflare, LinkScheme::Ixmage]);
        let origin = s.origin.unwrap();
        assert_eq!(origin.miss_ttl_secs, Some(5));
        let again = serde_json::to_string(&origin).unwrap();
        assert!(!again.contains("revalidate"), "{again}");
    }

    #[test]
    fn settings_without_cors_policy_or_ownership_load_and_save_unchanged() {
        let stored = r#"{"style_delimiters":[],"delivery":"public","schemes":[],"referers":[],"cache_ttl_secs":null,"public_styles":[],"origin":null}"#;
        let s: BucketSettings = serde_json::from_str(stored).unwrap();
        assert!(s.cors.is_empty() && s.s3_policy.is_none() && s.object_ownership.is_none());
        assert_eq!(serde_json::to_string(&s).unwrap(), stored);
    }

    #[test]
    fn weekly_is_not_a_delivery_scheme() {
        assert_eq!(LinkScheme::parse("weekly"), None);
        assert_eq!(LinkScheme::parse("cf"), Some(LinkScheme::Cloudflare));
        assert_eq!(LinkScheme::names(), "cloudflare, ixmage");
    }
}
