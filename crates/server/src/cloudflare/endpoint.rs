//! Which Cloudflare operation a request names, decided from method and path alone.
//!
//! The door owns four path families (see [`Endpoint::decode`]); the bucket names
//! `client` and `cdn-cgi` are reserved while it is on, and account hashes always hold a
//! character no bucket name can, so none of them shadows a bucket.

use http::Method;

/// API path prefix (`https://api.cloudflare.com/client/v4` becomes imgd's base URL).
pub const API_PREFIX: &str = "/client/v4/";
/// Custom-domain delivery, and the home of one-time upload URLs.
pub const DELIVERY_PREFIX: &str = "/cdn-cgi/imagedelivery/";
/// Transform URLs: `/cdn-cgi/image/<options>/<source>`.
pub const TRANSFORM_PREFIX: &str = "/cdn-cgi/image/";
/// Under [`DELIVERY_PREFIX`]: `upload/<token>`.
pub const UPLOAD_SEGMENT: &str = "upload";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `/client/v4/accounts/{account_id}/images/...`.
    Api { account_id: String, op: ApiOp },
    /// Anything else under `/client/v4/`: a Cloudflare-style 404.
    UnknownApi,
    /// `POST` (or the `OPTIONS` preflight) to a one-time upload URL.
    Upload { token: String, preflight: bool },
    /// `GET`/`HEAD /{account_hash}/{image_id}/{variant}` (also under
    /// `/cdn-cgi/imagedelivery/`). `rest` is `{image_id}/{variant}`, still encoded.
    Deliver { account_hash: String, rest: String },
    /// `GET`/`HEAD /cdn-cgi/image/<options>/<source>`; both still encoded.
    Transform { options: String, source: String },
    /// A path of the door with a method it does not serve.
    MethodNotAllowed,
}

/// The Images API operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiOp {
    /// CORS preflight of any API path.
    Preflight,
    UploadV1,
    ListV1,
    ListV2,
    DirectUpload,
    GetImage(String),
    PatchImage(String),
    DeleteImage(String),
    Blob(String),
    CreateVariant,
    ListVariants,
    GetVariant(String),
    PatchVariant(String),
    DeleteVariant(String),
    GetConfig,
    PatchConfig,
    ListKeys,
    PutKey(String),
    DeleteKey(String),
    Stats,
    /// A path under the account the API does not have (or a method it does not take).
    Unknown,
}

fn decode_segment(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Whether `segment` can be an account hash in a delivery path (so never a bucket name).
pub fn looks_like_account_hash(segment: &str) -> bool {
    store::cloudflare::hash_problem(segment).is_none()
}

impl Endpoint {
    /// `path_style_host`: the request's host is not a `bucket.<domain>` virtual host, so
    /// `/{account_hash}/…` is read as delivery (on a virtual host it is a key).
    pub fn decode(method: &Method, path: &str, path_style_host: bool) -> Option<Endpoint> {
        let read = matches!(*method, Method::GET | Method::HEAD);
        if let Some(rest) = path.strip_prefix(API_PREFIX) {
            return Some(decode_api(method, rest));
        }
        if let Some(rest) = path.strip_prefix(TRANSFORM_PREFIX) {
            if !read {
                return Some(Endpoint::MethodNotAllowed);
            }
            let (options, source) = rest.split_once('/').unwrap_or((rest, ""));
            return Some(Endpoint::Transform {
                options: options.to_owned(),
                source: source.to_owned(),
            });
        }
        if let Some(rest) = path.strip_prefix(DELIVERY_PREFIX) {
            let (first, after) = rest.split_once('/').unwrap_or((rest, ""));
            if first == UPLOAD_SEGMENT {
                return Some(match *method {
                    Method::POST => Endpoint::Upload {
                        token: decode_segment(after),
                        preflight: false,
                    },
                    Method::OPTIONS => Endpoint::Upload {
                        token: decode_segment(after),
                        preflight: true,
                    },
                    _ => Endpoint::MethodNotAllowed,
                });
            }
            if !read {
                return Some(Endpoint::MethodNotAllowed);
            }
            return Some(Endpoint::Deliver {
                account_hash: first.to_owned(),
                rest: after.to_owned(),
            });
        }
        if path_style_host && read {
            let rest = path.strip_prefix('/')?;
            let (first, after) = rest.split_once('/')?;
            if looks_like_account_hash(first) && after.contains('/') {
                return Some(Endpoint::Deliver {
                    account_hash: first.to_owned(),
                    rest: after.to_owned(),
                });
            }
        }
        None
    }

    /// The `door` label of request metrics.
    pub fn door(&self) -> &'static str {
        match self {
            Endpoint::Api { .. } | Endpoint::UnknownApi => "cloudflare-api",
            Endpoint::Upload { .. } => "cloudflare-upload",
            Endpoint::Deliver { .. } => "cloudflare-delivery",
            Endpoint::Transform { .. } => "cloudflare-transform",
            Endpoint::MethodNotAllowed => "cloudflare",
        }
    }
}

fn decode_api(method: &Method, rest: &str) -> Endpoint {
    let Some(after) = rest.strip_prefix("accounts/") else {
        return Endpoint::UnknownApi;
    };
    let Some((account_id, images)) = after.split_once('/') else {
        return Endpoint::UnknownApi;
    };
    let Some(images) = images.strip_prefix("images/") else {
        return Endpoint::UnknownApi;
    };
    let account_id = decode_segment(account_id);
    let op = decode_op(method, images.trim_end_matches('/'));
    Endpoint::Api { account_id, op }
}

fn decode_op(method: &Method, path: &str) -> ApiOp {
    use ApiOp as O;
    if *method == Method::OPTIONS {
        return O::Preflight;
    }
    let (version, rest) = path.split_once('/').unwrap_or((path, ""));
    let (m, v2) = (method, version == "v2");
    if v2 {
        return match (m, rest) {
            (&Method::GET, "") => O::ListV2,
            (&Method::POST, "direct_upload") => O::DirectUpload,
            _ => O::Unknown,
        };
    }
    if version != "v1" {
        return O::Unknown;
    }
    let (head, tail) = rest.split_once('/').unwrap_or((rest, ""));
    match (m, head, tail) {
        (&Method::POST, "", "") => O::UploadV1,
        (&Method::GET, "", "") => O::ListV1,
        (&Method::GET, "stats", "") => O::Stats,
        (&Method::GET, "config", "") => O::GetConfig,
        (&Method::PATCH, "config", "") => O::PatchConfig,
        (&Method::GET, "keys", "") => O::ListKeys,
        (&Method::PUT, "keys", name) if !name.is_empty() => O::PutKey(decode_segment(name)),
        (&Method::DELETE, "keys", name) if !name.is_empty() => O::DeleteKey(decode_segment(name)),
        (&Method::POST, "variants", "") => O::CreateVariant,
        (&Method::GET, "variants", "") => O::ListVariants,
        (&Method::GET, "variants", name) if !name.is_empty() => O::GetVariant(decode_segment(name)),
        (&Method::PATCH, "variants", name) if !name.is_empty() => {
            O::PatchVariant(decode_segment(name))
        }
        (&Method::DELETE, "variants", name) if !name.is_empty() => {
            O::DeleteVariant(decode_segment(name))
        }
        _ if rest.is_empty() => O::Unknown,
        (&Method::GET, _, _) => match rest.strip_suffix("/blob") {
            Some(id) => O::Blob(decode_segment(id)),
            None => O::GetImage(decode_segment(rest)),
        },
        (&Method::PATCH, _, _) => O::PatchImage(decode_segment(rest)),
        (&Method::DELETE, _, _) => O::DeleteImage(decode_segment(rest)),
        _ => O::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(method: Method, path: &str) -> ApiOp {
        match Endpoint::decode(&method, path, true) {
            Some(Endpoint::Api { account_id, op }) => {
                assert_eq!(account_id, "acc");
                op
            }
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn api_operations() {
        let p = |s: &str| format!("/client/v4/accounts/acc/images/{s}");
        assert_eq!(api(Method::POST, &p("v1")), ApiOp::UploadV1);
        assert_eq!(api(Method::GET, &p("v1")), ApiOp::ListV1);
        assert_eq!(api(Method::GET, &p("v2")), ApiOp::ListV2);
        assert_eq!(
            api(Method::POST, &p("v2/direct_upload")),
            ApiOp::DirectUpload
        );
        assert_eq!(
            api(Method::GET, &p("v1/a%2Fb")),
            ApiOp::GetImage("a/b".into())
        );
        assert_eq!(
            api(Method::GET, &p("v1/a/b")),
            ApiOp::GetImage("a/b".into())
        );
        assert_eq!(
            api(Method::GET, &p("v1/a/b/blob")),
            ApiOp::Blob("a/b".into())
        );
        assert_eq!(
            api(Method::PATCH, &p("v1/x")),
            ApiOp::PatchImage("x".into())
        );
        assert_eq!(
            api(Method::DELETE, &p("v1/x")),
            ApiOp::DeleteImage("x".into())
        );
        assert_eq!(api(Method::GET, &p("v1/variants")), ApiOp::ListVariants);
        assert_eq!(api(Method::POST, &p("v1/variants")), ApiOp::CreateVariant);
        assert_eq!(
            api(Method::DELETE, &p("v1/variants/m")),
            ApiOp::DeleteVariant("m".into())
        );
        assert_eq!(api(Method::PUT, &p("v1/keys/k")), ApiOp::PutKey("k".into()));
        assert_eq!(api(Method::GET, &p("v1/stats")), ApiOp::Stats);
        assert_eq!(api(Method::PATCH, &p("v1/config")), ApiOp::PatchConfig);
        assert_eq!(api(Method::OPTIONS, &p("v1")), ApiOp::Preflight);
        assert_eq!(api(Method::PUT, &p("v1")), ApiOp::Unknown);
        assert_eq!(api(Method::GET, &p("v3")), ApiOp::Unknown);
        assert_eq!(
            Endpoint::decode(&Method::GET, "/client/v4/zones", true),
            Some(Endpoint::UnknownApi)
        );
    }

    #[test]
    fn delivery_upload_and_transform_paths() {
        let hash = "cheeW4oKsx5ljh8e8BoL2A";
        let deliver = Endpoint::Deliver {
            account_hash: hash.into(),
            rest: "id/public".into(),
        };
        assert_eq!(
            Endpoint::decode(&Method::GET, &format!("/{hash}/id/public"), true),
            Some(deliver.clone())
        );
        assert_eq!(
            Endpoint::decode(
                &Method::GET,
                &format!("/cdn-cgi/imagedelivery/{hash}/id/public"),
                false
            ),
            Some(deliver)
        );
        // On a virtual host, or for a bucket-shaped first segment, it is not ours.
        assert_eq!(
            Endpoint::decode(&Method::GET, &format!("/{hash}/id/public"), false),
            None
        );
        assert_eq!(
            Endpoint::decode(&Method::GET, "/photos-bucket-name-1/a/b", true),
            None
        );
        assert_eq!(
            Endpoint::decode(&Method::PUT, &format!("/{hash}/id/public"), true),
            None
        );
        assert_eq!(
            Endpoint::decode(&Method::POST, "/cdn-cgi/imagedelivery/upload/tok", true),
            Some(Endpoint::Upload {
                token: "tok".into(),
                preflight: false
            })
        );
        assert_eq!(
            Endpoint::decode(&Method::GET, "/cdn-cgi/image/w=10,f=auto/b/k.jpg", true),
            Some(Endpoint::Transform {
                options: "w=10,f=auto".into(),
                source: "b/k.jpg".into()
            })
        );
        assert_eq!(
            Endpoint::decode(&Method::DELETE, "/cdn-cgi/image/w=10/b/k.jpg", true),
            Some(Endpoint::MethodNotAllowed)
        );
    }
}
