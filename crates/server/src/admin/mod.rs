//! The admin API under `/_imgd/admin/`: JSON over HTTP with a bearer token, for what the
//! `imgd` CLI does locally (bucket delivery policies, styles, link secrets). Documented
//! in `docs/openapi.yaml`.
//!
//! The route decodes the path into [`Endpoint`] (one variant per operation) before
//! anything else; [`AdminDoor::handle`] checks the token, then runs the endpoint against
//! the [`Store`]. Errors are the kernel's [`ApiError`], rendered as
//! `{"error": code, "message": text}` with a 4xx status.

use crate::kernel::{ApiError, BoxBody, full};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::{Value, json};
use store::{BucketSettings, DeliveryPolicy, LinkScheme, PolicyPatch, Store};

mod cloudflare;
mod origin;
mod tasks;

use origin::OriginBody;
pub use origin::parse_origin_source;

const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Clone)]
pub struct AdminDoor {
    store: Store,
    token: Option<String>,
    images: Option<crate::images::ImageService>,
}

/// Every admin operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    ListBuckets,
    GetPolicy(String),
    PutPolicy(String),
    ListStyles(String),
    PutStyle(String, String),
    DeleteStyle(String, String),
    ListSecrets,
    CreateSecret,
    RevokeSecret(String),
    GetOrigin(String),
    PutOrigin(String),
    DeleteOrigin(String),
    VariantStats,
    PurgeVariants,
    CfListAccounts,
    CfCreateAccount,
    CfListTokens(String),
    CfCreateToken(String),
    CfRevokeToken(String, String),
    GetAsyncTask(String),
}

impl Endpoint {
    /// The operation a method and path under `/_imgd/admin/` name, if any.
    pub fn decode(method: &Method, path: &str) -> Option<Endpoint> {
        let rest = path.strip_prefix("/_imgd/admin/")?;
        let parts: Vec<String> = rest
            .trim_end_matches('/')
            .split('/')
            .map(|p| {
                percent_encoding::percent_decode_str(p)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        use Endpoint as E;
        Some(match (method, parts.as_slice()) {
            (&Method::GET, ["buckets"]) => E::ListBuckets,
            (&Method::GET, ["buckets", b, "policy"]) => E::GetPolicy(b.to_string()),
            (&Method::PUT, ["buckets", b, "policy"]) => E::PutPolicy(b.to_string()),
            (&Method::GET, ["buckets", b, "styles"]) => E::ListStyles(b.to_string()),
            (&Method::PUT, ["buckets", b, "styles", s]) => {
                E::PutStyle(b.to_string(), s.to_string())
            }
            (&Method::DELETE, ["buckets", b, "styles", s]) => {
                E::DeleteStyle(b.to_string(), s.to_string())
            }
            (&Method::GET, ["secrets"]) => E::ListSecrets,
            (&Method::POST, ["secrets"]) => E::CreateSecret,
            (&Method::POST, ["secrets", id, "revoke"]) => E::RevokeSecret(id.to_string()),
            (&Method::GET, ["buckets", b, "origin"]) => E::GetOrigin(b.to_string()),
            (&Method::PUT, ["buckets", b, "origin"]) => E::PutOrigin(b.to_string()),
            (&Method::DELETE, ["buckets", b, "origin"]) => E::DeleteOrigin(b.to_string()),
            (&Method::GET, ["variants"]) => E::VariantStats,
            (&Method::POST, ["variants", "purge"]) => E::PurgeVariants,
            (&Method::GET, ["async-tasks", id]) => E::GetAsyncTask(id.to_string()),
            (&Method::GET, ["cf", "accounts"]) => E::CfListAccounts,
            (&Method::POST, ["cf", "accounts"]) => E::CfCreateAccount,
            (&Method::GET, ["cf", "accounts", a, "tokens"]) => E::CfListTokens(a.to_string()),
            (&Method::POST, ["cf", "accounts", a, "tokens"]) => E::CfCreateToken(a.to_string()),
            (&Method::DELETE, ["cf", "accounts", a, "tokens", t]) => {
                E::CfRevokeToken(a.to_string(), t.to_string())
            }
            _ => return None,
        })
    }
}

pub(super) fn api_error(
    status: StatusCode,
    code: &'static str,
    message: impl Into<String>,
) -> ApiError {
    ApiError::new(status, code, message)
}

/// The policy document of `PUT /buckets/{name}/policy`. Absent fields are left alone.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyUpdate {
    delivery: Option<String>,
    schemes: Option<Vec<String>>,
    referers: Option<Vec<String>>,
    cache_ttl_secs: Option<u32>,
    public_styles: Option<Vec<String>>,
    style_delimiters: Option<Vec<String>>,
}

/// `POST /variants/purge`: a whole bucket, or one object's variants, or a prefix's.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PurgeBody {
    bucket: Option<String>,
    key: Option<String>,
    prefix: Option<String>,
}

/// An origin as the API shows it: the S3 secret is never echoed.
fn origin_json(bucket: &str, o: Option<&store::OriginSettings>) -> Value {
    let Some(o) = o else {
        return json!({"bucket": bucket, "origin": null});
    };
    let source = match &o.source {
        store::Origin::Http { base_url } => json!({"kind": "http", "base_url": base_url}),
        store::Origin::S3 {
            endpoint,
            region,
            bucket,
            access_key,
            prefix,
            ..
        } => json!({
            "kind": "s3", "endpoint": endpoint, "region": region, "bucket": bucket,
            "access_key": access_key, "secret_key": "(hidden)", "prefix": prefix,
        }),
    };
    json!({
        "bucket": bucket,
        "origin": {
            "source": source,
            "miss_ttl_secs": o.miss_ttl().as_secs(),
        }
    })
}

/// Checks an origin before it is saved: a URL imgd can fetch, and complete S3 details.
pub fn check_origin(o: &store::OriginSettings) -> Result<(), String> {
    let url_ok = |u: &str| u.starts_with("http://") || u.starts_with("https://");
    match &o.source {
        store::Origin::Http { base_url } if !url_ok(base_url) => Err(format!(
            "base_url {base_url:?} must be an http or https URL"
        )),
        store::Origin::S3 {
            endpoint,
            region,
            bucket,
            access_key,
            secret_key,
            ..
        } => {
            if !url_ok(endpoint) {
                return Err(format!(
                    "endpoint {endpoint:?} must be an http or https URL"
                ));
            }
            for (name, v) in [
                ("region", region),
                ("bucket", bucket),
                ("access_key", access_key),
                ("secret_key", secret_key),
            ] {
                if v.is_empty() {
                    return Err(format!("{name} is required for an s3 origin"));
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StyleBody {
    process: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretBody {
    bucket: Option<String>,
    value: Option<String>,
    #[serde(default)]
    description: String,
}

fn policy_json(name: &str, s: &BucketSettings, acl: store::BucketAcl) -> Value {
    json!({
        "bucket": name,
        "delivery": s.effective_delivery(acl).as_str(),
        "schemes": s.schemes.iter().map(|x| x.as_str()).collect::<Vec<_>>(),
        "referers": s.referers,
        "cache_ttl_secs": s.cache_ttl(),
        "public_styles": s.public_styles,
        "style_delimiters": s.style_delimiters,
    })
}

impl AdminDoor {
    pub fn new(store: Store, token: Option<String>) -> Self {
        AdminDoor {
            store,
            token,
            images: None,
        }
    }

    /// Enables the variant-cache and origin endpoints.
    pub fn with_images(mut self, images: crate::images::ImageService) -> Self {
        self.images = Some(images);
        self
    }

    pub async fn handle(
        &self,
        endpoint: Option<Endpoint>,
        req: Request<Incoming>,
    ) -> Response<BoxBody> {
        match self.serve(endpoint, req).await {
            Ok((status, body)) => full(status, "application/json", body.to_string()),
            Err(e) => {
                let mut resp = full(
                    e.status,
                    "application/json",
                    json!({"error": e.code, "message": e.message}).to_string(),
                );
                e.apply_headers(resp.headers_mut());
                resp
            }
        }
    }

    fn authorized(&self, req: &Request<Incoming>) -> Result<(), ApiError> {
        let Some(token) = &self.token else {
            return Err(api_error(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the admin API is off (set admin_token)",
            ));
        };
        let presented = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if signing::constant_time_eq(presented.as_bytes(), token.as_bytes()) {
            Ok(())
        } else {
            Err(api_error(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "a valid bearer token is required",
            ))
        }
    }

    async fn serve(
        &self,
        endpoint: Option<Endpoint>,
        req: Request<Incoming>,
    ) -> Result<(StatusCode, Value), ApiError> {
        self.authorized(&req)?;
        let endpoint = endpoint.ok_or_else(|| {
            api_error(StatusCode::NOT_FOUND, "NotFound", "no such admin endpoint")
        })?;
        let body = read_body(req.into_body()).await?;
        use Endpoint as E;
        match endpoint {
            E::CfListAccounts
            | E::CfCreateAccount
            | E::CfListTokens(_)
            | E::CfCreateToken(_)
            | E::CfRevokeToken(..) => cloudflare::serve(&self.store, endpoint, &body).await,
            E::GetAsyncTask(id) => tasks::get(&self.store, &id).await,
            E::ListBuckets => {
                let mut out = Vec::new();
                for b in self.store.list_buckets().await? {
                    let s = self.store.bucket_settings(&b.name).await?;
                    out.push(policy_json(&b.name, &s, b.acl));
                }
                Ok((StatusCode::OK, json!({ "buckets": out })))
            }
            E::GetPolicy(name) => {
                let b = self.store.bucket(&name).await?;
                let s = self.store.bucket_settings(&name).await?;
                Ok((StatusCode::OK, policy_json(&name, &s, b.acl)))
            }
            E::PutPolicy(name) => self.put_policy(&name, &body).await,
            E::ListStyles(name) => {
                let styles = self.store.list_styles(&name).await?;
                Ok((StatusCode::OK, json!({ "styles": styles })))
            }
            E::PutStyle(bucket, name) => {
                let doc: StyleBody = parse_json(&body)?;
                if let Err(why) = imaging::oss::style_content(&doc.process) {
                    return Err(api_error(StatusCode::BAD_REQUEST, "InvalidArgument", why));
                }
                self.store.put_style(&bucket, &name, &doc.process).await?;
                Ok((
                    StatusCode::OK,
                    json!({"bucket": bucket, "name": name, "process": doc.process}),
                ))
            }
            E::DeleteStyle(bucket, name) => {
                self.store.delete_style(&bucket, &name).await?;
                Ok((StatusCode::OK, json!({"deleted": name})))
            }
            E::ListSecrets => {
                let secrets = self.store.list_secrets(None).await?;
                let list: Vec<Value> = secrets
                    .iter()
                    .map(|s| {
                        json!({
                            "id": s.id,
                            "bucket": s.bucket,
                            "created_ms": s.created_ms,
                            "revoked_ms": s.revoked_ms,
                            "description": s.description,
                        })
                    })
                    .collect();
                Ok((StatusCode::OK, json!({ "secrets": list })))
            }
            E::CreateSecret => {
                let doc: SecretBody = if body.is_empty() {
                    SecretBody::default()
                } else {
                    parse_json(&body)?
                };
                let s = self
                    .store
                    .create_secret(
                        doc.bucket.as_deref(),
                        doc.value.as_deref(),
                        &doc.description,
                    )
                    .await?;
                Ok((
                    StatusCode::CREATED,
                    json!({"id": s.id, "bucket": s.bucket, "secret": s.secret, "created_ms": s.created_ms}),
                ))
            }
            E::RevokeSecret(id) => {
                self.store.revoke_secret(&id).await?;
                Ok((StatusCode::OK, json!({"revoked": id})))
            }
            E::GetOrigin(bucket) => {
                let s = self.store.bucket_settings(&bucket).await?;
                Ok((StatusCode::OK, origin_json(&bucket, s.origin.as_ref())))
            }
            E::PutOrigin(bucket) => {
                let doc: OriginBody = parse_json(&body)?;
                let origin = store::OriginSettings {
                    source: parse_origin_source(&doc.source).map_err(|m| {
                        api_error(
                            StatusCode::BAD_REQUEST,
                            "MalformedJSON",
                            format!("source: {m}"),
                        )
                    })?,
                    miss_ttl_secs: doc.miss_ttl_secs,
                };
                check_origin(&origin)
                    .map_err(|m| api_error(StatusCode::BAD_REQUEST, "InvalidArgument", m))?;
                let s = self
                    .store
                    .update_bucket_settings(&bucket, |s| {
                        s.origin = Some(origin);
                        Ok(())
                    })
                    .await?;
                self.forget_origin_state(&bucket);
                Ok((StatusCode::OK, origin_json(&bucket, s.origin.as_ref())))
            }
            E::DeleteOrigin(bucket) => {
                self.store
                    .update_bucket_settings(&bucket, |s| {
                        s.origin = None;
                        Ok(())
                    })
                    .await?;
                self.forget_origin_state(&bucket);
                Ok((StatusCode::OK, origin_json(&bucket, None)))
            }
            E::VariantStats => match self.images.as_ref().and_then(|i| i.cache()) {
                Some(cache) => Ok((StatusCode::OK, json!(cache.stats()))),
                None => Ok((StatusCode::OK, json!({"enabled": false}))),
            },
            E::PurgeVariants => {
                let doc: PurgeBody = parse_json(&body)?;
                let Some(cache) = self.images.as_ref().and_then(|i| i.cache()) else {
                    return Ok((StatusCode::OK, json!({"purged": 0, "enabled": false})));
                };
                let purged = match (&doc.bucket, &doc.key, &doc.prefix) {
                    (Some(b), Some(k), None) => cache.invalidate_object(b, k).await,
                    (Some(b), None, Some(p)) => cache.purge_prefix(b, p).await,
                    (Some(b), None, None) => cache.purge_bucket(b).await,
                    (None, None, None) => cache.purge_all().await,
                    _ => {
                        return Err(api_error(
                            StatusCode::BAD_REQUEST,
                            "InvalidArgument",
                            "give a bucket, optionally with one of key or prefix (or nothing, for everything)",
                        ));
                    }
                };
                Ok((StatusCode::OK, json!({ "purged": purged })))
            }
        }
    }

    fn forget_origin_state(&self, bucket: &str) {
        if let Some(sources) = self.images.as_ref().and_then(|i| i.sources()) {
            sources.forget(bucket);
        }
    }

    async fn put_policy(&self, name: &str, body: &[u8]) -> Result<(StatusCode, Value), ApiError> {
        let doc: PolicyUpdate = parse_json(body)?;
        let bad = |m: String| api_error(StatusCode::BAD_REQUEST, "InvalidArgument", m);
        let delivery = match &doc.delivery {
            Some(d) => Some(DeliveryPolicy::parse(d).ok_or_else(|| {
                bad(format!(
                    "delivery {d:?} is not one of private, public, signed"
                ))
            })?),
            None => None,
        };
        let schemes = match &doc.schemes {
            Some(list) => Some(
                list.iter()
                    .map(|s| {
                        LinkScheme::parse(s).ok_or_else(|| {
                            bad(format!(
                                "scheme {s:?} is not one of {}",
                                LinkScheme::names()
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        // One transaction for the ACL and the settings; the store checks the delimiters
        // and answers NoSuchBucket before anything changes.
        let patch = PolicyPatch {
            delivery,
            schemes,
            referers: doc.referers,
            cache_ttl_secs: doc.cache_ttl_secs,
            public_styles: doc.public_styles,
            style_delimiters: doc.style_delimiters,
        };
        let settings = self.store.apply_policy(name, &patch).await?;
        let acl = self.store.bucket(name).await?.acl;
        Ok((StatusCode::OK, policy_json(name, &settings, acl)))
    }
}

pub(super) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(api_error(
            StatusCode::BAD_REQUEST,
            "MalformedJSON",
            "this endpoint needs a JSON object as its request body (for example {})",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| api_error(StatusCode::BAD_REQUEST, "MalformedJSON", e.to_string()))
}

async fn read_body(body: Incoming) -> Result<Bytes, ApiError> {
    crate::kernel::body::read_limited(body, MAX_BODY_BYTES)
        .await
        .map_err(|m| api_error(StatusCode::BAD_REQUEST, "InvalidRequest", m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            Endpoint::decode(&Method::PUT, "/_imgd/admin/buckets/photos/styles/thumb"),
            Some(Endpoint::PutStyle("photos".into(), "thumb".into()))
        );
        assert_eq!(
            Endpoint::decode(&Method::POST, "/_imgd/admin/secrets/sec_1/revoke"),
            Some(Endpoint::RevokeSecret("sec_1".into()))
        );
        assert_eq!(
            Endpoint::decode(&Method::GET, "/_imgd/admin/buckets/"),
            Some(Endpoint::ListBuckets)
        );
        assert_eq!(
            Endpoint::decode(&Method::DELETE, "/_imgd/admin/secrets"),
            None
        );
        assert_eq!(Endpoint::decode(&Method::GET, "/_imgd/other"), None);
    }
}
