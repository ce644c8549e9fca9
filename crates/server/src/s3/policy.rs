//! Bucket policies: PutBucketPolicy, GetBucketPolicy, DeleteBucketPolicy and
//! GetBucketPolicyStatus.
//!
//! imgd has one account and no IAM, so the only policies it can honour are the
//! anonymous-access ones `mc anonymous set download`, Terraform modules and tutorials
//! write: `Allow` for `Principal "*"` of `s3:GetObject` on `arn:aws:s3:::bucket/*` and
//! `s3:ListBucket` / `s3:GetBucketLocation` on `arn:aws:s3:::bucket`. Anything else is
//! refused with `MalformedPolicy` naming what is unsupported, rather than stored and
//! silently not enforced. Public read becomes the public delivery policy through
//! [`store::Store::apply_policy_with`] (which also sets the public-read ACL), in the same
//! transaction that stores the document as given.

use super::{ImgdS3, S3Res, ok, s3_err};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request};
use serde_json::Value;
use store::{BucketSettings, DeliveryPolicy, PolicyPatch, S3BucketPolicy};

/// S3's limit on a bucket policy document.
const MAX_POLICY_BYTES: usize = 20 * 1024;

/// What a policy grants everyone.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grants {
    pub read: bool,
    pub list: bool,
    pub location: bool,
}

fn malformed(msg: impl Into<String>) -> S3Error {
    S3Error::with_message(S3ErrorCode::MalformedPolicy, msg.into())
}

/// A string or a list of strings, as policy grammar allows for Action and Resource.
fn strings(field: &str, v: &Value) -> s3s::S3Result<Vec<String>> {
    let one = |v: &Value| {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| malformed(format!("{field} must be a string or a list of strings")))
    };
    match v {
        Value::Array(items) if !items.is_empty() => items.iter().map(one).collect(),
        Value::Array(_) => Err(malformed(format!("{field} must not be empty"))),
        other => Ok(vec![one(other)?]),
    }
}

/// `"*"` or `{"AWS": "*"}` / `{"AWS": ["*"]}`: everyone, the only principal imgd knows.
fn check_principal(p: &Value) -> s3s::S3Result<()> {
    let everyone = match p {
        Value::String(s) => s == "*",
        Value::Object(map) if map.len() == 1 => map
            .get("AWS")
            .and_then(|aws| strings("Principal", aws).ok())
            .is_some_and(|list| list.iter().all(|s| s == "*")),
        _ => false,
    };
    if everyone {
        Ok(())
    } else {
        Err(malformed(format!(
            "Principal {p} is not supported: imgd has one account, so a bucket policy can only grant to everyone (Principal \"*\")"
        )))
    }
}

/// Checks one statement and adds what it grants.
fn statement(st: &Value, bucket: &str, grants: &mut Grants) -> s3s::S3Result<()> {
    let Value::Object(map) = st else {
        return Err(malformed("Each Statement must be a JSON object"));
    };
    for key in map.keys() {
        match key.as_str() {
            "Sid" | "Effect" | "Principal" | "Action" | "Resource" => {}
            "Condition" | "NotAction" | "NotPrincipal" | "NotResource" => {
                return Err(malformed(format!(
                    "{key} is not supported in imgd's bucket policies"
                )));
            }
            other => return Err(malformed(format!("Unknown field {other} in Statement"))),
        }
    }
    let field = |name: &str| {
        map.get(name)
            .ok_or_else(|| malformed(format!("Missing required field {name}")))
    };
    match field("Effect")?.as_str() {
        Some("Allow") => {}
        Some("Deny") => {
            return Err(malformed(
                "Effect Deny is not supported: imgd's bucket policies can only allow",
            ));
        }
        _ => return Err(malformed("Effect must be Allow")),
    }
    check_principal(field("Principal")?)?;
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    let objects_arn = format!("{bucket_arn}/*");
    let (mut on_bucket, mut on_objects) = (false, false);
    for r in strings("Resource", field("Resource")?)? {
        if r == bucket_arn {
            on_bucket = true;
        } else if r == objects_arn {
            on_objects = true;
        } else {
            return Err(malformed(format!(
                "Resource {r} is not supported: use {bucket_arn} or {objects_arn}"
            )));
        }
    }
    for a in strings("Action", field("Action")?)? {
        // Action names are case-insensitive in policy grammar.
        let (applies, grant) = match a.to_ascii_lowercase().as_str() {
            "s3:getobject" => (on_objects, &mut grants.read),
            "s3:listbucket" => (on_bucket, &mut grants.list),
            "s3:getbucketlocation" => (on_bucket, &mut grants.location),
            _ => {
                return Err(malformed(format!(
                    "Action {a} is not supported: imgd's bucket policies can grant only s3:GetObject, s3:ListBucket and s3:GetBucketLocation"
                )));
            }
        };
        if !applies {
            return Err(malformed(format!(
                "Action {a} does not apply to any resource(s) in statement"
            )));
        }
        *grant = true;
    }
    Ok(())
}

/// Parses and checks `document` for `bucket`, returning what it grants.
pub(crate) fn parse(document: &str, bucket: &str) -> s3s::S3Result<Grants> {
    if document.len() > MAX_POLICY_BYTES {
        return Err(malformed(
            "Policies must be at most 20 KB (20480 bytes) long",
        ));
    }
    let doc: Value = serde_json::from_str(document)
        .map_err(|_| malformed("Policies must be valid JSON and the first byte must be '{'"))?;
    let Value::Object(map) = &doc else {
        return Err(malformed(
            "Policies must be valid JSON and the first byte must be '{'",
        ));
    };
    for key in map.keys() {
        if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
            return Err(malformed(format!("Unknown field {key} in policy")));
        }
    }
    if let Some(v) = map.get("Version")
        && !matches!(v.as_str(), Some("2012-10-17" | "2008-10-17"))
    {
        return Err(malformed(format!(
            "Version {v} is not valid: use 2012-10-17"
        )));
    }
    let statements = match map.get("Statement") {
        None => return Err(malformed("Missing required field Statement")),
        Some(Value::Array(list)) if list.is_empty() => {
            return Err(malformed("Statement must not be empty"));
        }
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one) => vec![one],
    };
    let mut grants = Grants::default();
    for st in statements {
        statement(st, bucket, &mut grants)?;
    }
    Ok(grants)
}

/// Whether a bucket's stored policy lets anonymous callers perform S3 operation `op`
/// (s3s's operation name), for the access check. GetObject/HeadObject also follow the
/// public-read ACL the policy sets, so this matters for listing and location.
#[allow(
    dead_code,
    reason = "the access check in auth.rs calls this once it admits anonymous listing"
)]
pub(crate) fn anonymous_allowed_by_policy(settings: &BucketSettings, op: &str) -> bool {
    settings.s3_policy.as_ref().is_some_and(|p| match op {
        "GetObject" | "HeadObject" => p.public_read,
        "ListObjects" | "ListObjectsV2" => p.public_list,
        "GetBucketLocation" => p.public_location,
        _ => false,
    })
}

/// The delivery change a new policy (`None`: deleted) means: public while a policy
/// grants read, back to private when the read grant goes; a policy that never granted
/// read leaves the delivery policy the operator chose alone.
fn delivery_change(old: Option<&S3BucketPolicy>, new_read: bool) -> Option<DeliveryPolicy> {
    if new_read {
        Some(DeliveryPolicy::Public)
    } else if old.is_some_and(|p| p.public_read) {
        Some(DeliveryPolicy::Private)
    } else {
        None
    }
}

impl ImgdS3 {
    /// Policies make a bucket public, as PutBucketAcl does, which only the root key may
    /// do. Checked here as well as in the access check until `auth.rs` lists the policy
    /// operations among its root-only ones.
    fn require_root<T>(&self, req: &S3Request<T>) -> s3s::S3Result<()> {
        match &req.credentials {
            Some(c) if c.access_key == self.root_access_key => Ok(()),
            _ => Err(S3Error::with_message(
                S3ErrorCode::AccessDenied,
                "Access Denied",
            )),
        }
    }

    /// Stores `policy` (`None`: deletes it) and the delivery change it implies in one
    /// transaction.
    async fn set_policy(&self, bucket: &str, policy: Option<S3BucketPolicy>) -> s3s::S3Result<()> {
        // Read before the write: the change depends on the previous grant. Two policy
        // writers racing on one bucket are root-only and rare; the last one wins whole.
        let old = self.store.bucket_settings(bucket).await.map_err(s3_err)?;
        let new_read = policy.as_ref().is_some_and(|p| p.public_read);
        let patch = PolicyPatch {
            delivery: delivery_change(old.s3_policy.as_ref(), new_read),
            ..PolicyPatch::default()
        };
        self.store
            .apply_policy_with(bucket, &patch, |s| s.s3_policy = policy)
            .await
            .map_err(s3_err)?;
        Ok(())
    }

    pub(crate) async fn do_put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Res<PutBucketPolicyOutput> {
        self.require_root(&req)?;
        let bucket = &req.input.bucket;
        self.store.bucket(bucket).await.map_err(s3_err)?;
        let grants = parse(&req.input.policy, bucket)?;
        let policy = S3BucketPolicy {
            document: req.input.policy.clone(),
            public_read: grants.read,
            public_list: grants.list,
            public_location: grants.location,
        };
        self.set_policy(bucket, Some(policy)).await?;
        tracing::info!(%bucket, read = grants.read, list = grants.list, "bucket policy set");
        ok(PutBucketPolicyOutput {})
    }

    async fn stored_policy(&self, bucket: &str) -> s3s::S3Result<S3BucketPolicy> {
        let settings = self.store.bucket_settings(bucket).await.map_err(s3_err)?;
        settings.s3_policy.ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::NoSuchBucketPolicy,
                "The bucket policy does not exist",
            )
        })
    }

    pub(crate) async fn do_get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Res<GetBucketPolicyOutput> {
        let policy = self.stored_policy(&req.input.bucket).await?;
        ok(GetBucketPolicyOutput {
            policy: Some(policy.document),
        })
    }

    pub(crate) async fn do_get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Res<GetBucketPolicyStatusOutput> {
        let p = self.stored_policy(&req.input.bucket).await?;
        ok(GetBucketPolicyStatusOutput {
            policy_status: Some(PolicyStatus {
                is_public: Some(p.public_read || p.public_list || p.public_location),
            }),
        })
    }

    pub(crate) async fn do_delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Res<DeleteBucketPolicyOutput> {
        self.require_root(&req)?;
        self.set_policy(&req.input.bucket, None).await?;
        tracing::info!(bucket = %req.input.bucket, "bucket policy deleted");
        ok(DeleteBucketPolicyOutput {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MC_DOWNLOAD: &str = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetBucketLocation","s3:ListBucket"],"Resource":["arn:aws:s3:::pics"]},
        {"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::pics/*"]}]}"#;

    fn refusal(doc: &str) -> String {
        let e = parse(doc, "pics").unwrap_err();
        assert_eq!(*e.code(), S3ErrorCode::MalformedPolicy);
        e.message().unwrap_or_default().to_owned()
    }

    #[test]
    fn mc_download_grants_read_list_and_location() {
        let g = parse(MC_DOWNLOAD, "pics").expect("accepted");
        assert_eq!(
            g,
            Grants {
                read: true,
                list: true,
                location: true
            }
        );
        let tutorial = r#"{"Statement":{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:getobject","Resource":"arn:aws:s3:::pics/*"}}"#;
        assert_eq!(
            parse(tutorial, "pics").expect("accepted"),
            Grants {
                read: true,
                ..Grants::default()
            }
        );
    }

    #[test]
    fn everything_else_is_refused_by_name() {
        let st = |body: &str| format!(r#"{{"Version":"2012-10-17","Statement":[{body}]}}"#);
        let m = refusal(&st(
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::pics/*"}"#,
        ));
        assert!(m.contains("s3:PutObject"), "{m}");
        let m = refusal(&st(
            r#"{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pics/*"}"#,
        ));
        assert!(m.contains("Deny"), "{m}");
        let m = refusal(&st(
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pics/*","Condition":{"IpAddress":{"aws:SourceIp":"1.2.3.4/32"}}}"#,
        ));
        assert!(m.contains("Condition"), "{m}");
        let m = refusal(&st(
            r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::pics/*"}"#,
        ));
        assert!(m.contains("Principal"), "{m}");
        let m = refusal(&st(
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}"#,
        ));
        assert!(m.contains("arn:aws:s3:::other/*"), "{m}");
        let m = refusal(&st(
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pics"}"#,
        ));
        assert!(m.contains("does not apply"), "{m}");
        assert!(refusal("not json").contains("valid JSON"));
        assert!(refusal(r#"{"Version":"2012-10-17"}"#).contains("Statement"));
    }

    #[test]
    fn read_grant_decides_the_delivery_change() {
        let read = S3BucketPolicy {
            public_read: true,
            ..S3BucketPolicy::default()
        };
        let list = S3BucketPolicy {
            public_list: true,
            ..S3BucketPolicy::default()
        };
        assert_eq!(delivery_change(None, true), Some(DeliveryPolicy::Public));
        assert_eq!(
            delivery_change(Some(&read), false),
            Some(DeliveryPolicy::Private)
        );
        assert_eq!(delivery_change(Some(&list), false), None);
        assert_eq!(delivery_change(None, false), None);
    }

    #[test]
    fn anonymous_operations_follow_the_grants() {
        let settings = BucketSettings {
            s3_policy: Some(S3BucketPolicy {
                public_list: true,
                ..S3BucketPolicy::default()
            }),
            ..BucketSettings::default()
        };
        assert!(anonymous_allowed_by_policy(&settings, "ListObjectsV2"));
        assert!(!anonymous_allowed_by_policy(&settings, "GetObject"));
        assert!(!anonymous_allowed_by_policy(&settings, "PutObject"));
        assert!(!anonymous_allowed_by_policy(
            &BucketSettings::default(),
            "ListObjects"
        ));
    }
}
