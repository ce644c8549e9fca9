//! Who may read through the delivery door: the bucket's policy, signed links, the
//! referer allow-list, and always-public styles. Every refusal carries one short code;
//! the reason in detail goes to the log and metrics only.

use store::{BucketSettings, DeliveryPolicy, LinkScheme, Secret};

/// The refusal codes clients see (all 403).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Private bucket, or a signed bucket reached without a link.
    AccessDenied,
    SignatureExpired,
    SignatureDoesNotMatch,
    SecretRevoked,
    SchemeNotAllowed,
    RefererDenied,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::AccessDenied => "AccessDenied",
            Refusal::SignatureExpired => "SignatureExpired",
            Refusal::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            Refusal::SecretRevoked => "SecretRevoked",
            Refusal::SchemeNotAllowed => "SchemeNotAllowed",
            Refusal::RefererDenied => "RefererDenied",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::AccessDenied => "Access Denied",
            Refusal::SignatureExpired => "The link has expired.",
            Refusal::SignatureDoesNotMatch => "The link's signature is not valid.",
            Refusal::SecretRevoked => "The link was signed with a revoked secret.",
            Refusal::SchemeNotAllowed => "This bucket does not accept links of this kind.",
            Refusal::RefererDenied => "The referer is not allowed.",
        }
    }
}

/// A signed link as it arrived.
#[derive(Debug, Clone, Copy)]
pub enum Link<'a> {
    /// `exp` + `sig`: the wire path and the raw query.
    Cloudflare { path: &'a str, query: &'a str },
    /// ixmage `key`: the account token and the raw query.
    Ixmage { token: &'a str, query: &'a str },
}

impl Link<'_> {
    fn scheme(&self) -> LinkScheme {
        match self {
            Link::Cloudflare { .. } => LinkScheme::Cloudflare,
            Link::Ixmage { .. } => LinkScheme::Ixmage,
        }
    }
}

/// What was granted: until when a response may be cached, if the link expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub link_expires_at: Option<i64>,
}

/// Decides a delivery request.
pub struct Request<'a> {
    pub policy: DeliveryPolicy,
    pub settings: &'a BucketSettings,
    pub link: Option<Link<'a>>,
    pub referer: Option<&'a str>,
    /// The named style the request uses, if any.
    pub style: Option<&'a str>,
    pub now: i64,
}

pub fn authorize(req: &Request<'_>, secrets: &[Secret]) -> Result<Grant, Refusal> {
    if let Some(referer) = req.referer
        && !referer_allowed(&req.settings.referers, referer)
    {
        return Err(Refusal::RefererDenied);
    }
    let public_style = req
        .style
        .is_some_and(|s| req.settings.public_styles.iter().any(|p| p == s));
    match req.policy {
        DeliveryPolicy::Public => {
            return Ok(Grant {
                link_expires_at: None,
            });
        }
        DeliveryPolicy::Private | DeliveryPolicy::Signed if public_style => {
            return Ok(Grant {
                link_expires_at: None,
            });
        }
        DeliveryPolicy::Private => return Err(Refusal::AccessDenied),
        DeliveryPolicy::Signed => {}
    }
    let Some(link) = req.link else {
        return Err(Refusal::AccessDenied);
    };
    if !req.settings.schemes.contains(&link.scheme()) {
        return Err(Refusal::SchemeNotAllowed);
    }
    verify_link(link, secrets, req.now)
}

/// Tries every secret that could have signed the link. Active secrets are tried first;
/// a link that only a revoked secret signed is refused as such.
fn verify_link(link: Link<'_>, secrets: &[Secret], now: i64) -> Result<Grant, Refusal> {
    let (active, revoked): (Vec<&Secret>, Vec<&Secret>) =
        secrets.iter().partition(|s| s.revoked_ms.is_none());
    let mut expired = false;
    for secret in &active {
        match check(link, &secret.secret, now) {
            Ok(grant) => return Ok(grant),
            Err(Refusal::SignatureExpired) => expired = true,
            Err(_) => {}
        }
    }
    if expired {
        return Err(Refusal::SignatureExpired);
    }
    for secret in &revoked {
        if matches!(
            check(link, &secret.secret, now),
            Ok(_) | Err(Refusal::SignatureExpired)
        ) {
            return Err(Refusal::SecretRevoked);
        }
    }
    Err(Refusal::SignatureDoesNotMatch)
}

fn check(link: Link<'_>, secret: &str, now: i64) -> Result<Grant, Refusal> {
    match link {
        Link::Cloudflare { path, query } => {
            match signing::cloudflare::verify(secret.as_bytes(), path, query, now) {
                Ok(exp) => Ok(Grant {
                    link_expires_at: Some(exp),
                }),
                Err(signing::cloudflare::VerifyError::Expired { .. }) => {
                    Err(Refusal::SignatureExpired)
                }
                Err(_) => Err(Refusal::SignatureDoesNotMatch),
            }
        }
        Link::Ixmage { token, query } => signing::ixmage::verify(token, query, secret)
            .map(|()| Grant {
                link_expires_at: None,
            })
            .map_err(|_| Refusal::SignatureDoesNotMatch),
    }
}

/// Whether a `Referer` URL's host is on the list (`example.com`, `*.example.com`).
pub fn referer_allowed(list: &[String], referer: &str) -> bool {
    if list.is_empty() {
        return true;
    }
    let after_scheme = referer.split_once("://").map_or(referer, |(_, r)| r);
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host_port.starts_with('[') {
        host_port.split(']').next().map_or(host_port, |h| &h[1..])
    } else {
        host_port.split(':').next().unwrap_or(host_port)
    }
    .to_ascii_lowercase();
    list.iter().any(|pattern| {
        let pattern = pattern.to_ascii_lowercase();
        match pattern.strip_prefix("*.") {
            Some(domain) => host.ends_with(&format!(".{domain}")) || host == domain,
            None => host == pattern,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(id: &str, value: &str, revoked: bool) -> Secret {
        Secret {
            id: id.into(),
            bucket: None,
            secret: value.into(),
            created_ms: 0,
            revoked_ms: revoked.then_some(1),
            description: String::new(),
        }
    }

    fn signed_settings(schemes: &[LinkScheme]) -> BucketSettings {
        BucketSettings {
            delivery: Some(DeliveryPolicy::Signed),
            schemes: schemes.to_vec(),
            ..Default::default()
        }
    }

    fn cf_query(key: &str, path: &str, exp: i64) -> String {
        let url = signing::cloudflare::sign(key.as_bytes(), path, &[], exp);
        url.split_once('?')
            .map(|(_, q)| q.to_owned())
            .unwrap_or_default()
    }

    #[test]
    fn cloudflare_links_expire_and_revocation_is_reported() {
        let settings = signed_settings(&[LinkScheme::Cloudflare]);
        let query = cf_query("secret-one", "/b/k.jpg", 1000);
        let req = |now| Request {
            policy: DeliveryPolicy::Signed,
            settings: &settings,
            link: Some(Link::Cloudflare {
                path: "/b/k.jpg",
                query: &query,
            }),
            referer: None,
            style: None,
            now,
        };
        let active = [secret("a", "secret-one", false)];
        assert_eq!(
            authorize(&req(999), &active),
            Ok(Grant {
                link_expires_at: Some(1000)
            })
        );
        assert_eq!(
            authorize(&req(1001), &active),
            Err(Refusal::SignatureExpired)
        );
        let revoked = [
            secret("a", "secret-one", true),
            secret("b", "other-secret", false),
        ];
        assert_eq!(authorize(&req(999), &revoked), Err(Refusal::SecretRevoked));
        let unknown = [secret("b", "other-secret", false)];
        assert_eq!(
            authorize(&req(999), &unknown),
            Err(Refusal::SignatureDoesNotMatch)
        );
    }

    #[test]
    fn schemes_referers_and_public_styles() {
        let settings = BucketSettings {
            referers: vec!["example.com".into(), "*.cdn.test".into()],
            public_styles: vec!["thumb".into()],
            ..signed_settings(&[LinkScheme::Ixmage])
        };
        let query = cf_query("secret-one", "/b/k.jpg", 1000);
        let base = Request {
            policy: DeliveryPolicy::Signed,
            settings: &settings,
            link: Some(Link::Cloudflare {
                path: "/b/k.jpg",
                query: &query,
            }),
            referer: None,
            style: None,
            now: 10,
        };
        let secrets = [secret("a", "secret-one", false)];
        assert_eq!(authorize(&base, &secrets), Err(Refusal::SchemeNotAllowed));
        let styled = Request {
            style: Some("thumb"),
            link: None,
            ..base
        };
        assert!(authorize(&styled, &secrets).is_ok());
        let bad_referer = Request {
            referer: Some("https://evil.test/page"),
            ..styled
        };
        assert_eq!(
            authorize(&bad_referer, &secrets),
            Err(Refusal::RefererDenied)
        );
        assert!(referer_allowed(
            &settings.referers,
            "https://img.cdn.test:8443/x"
        ));
        assert!(referer_allowed(&settings.referers, "http://EXAMPLE.com/"));
        assert!(!referer_allowed(
            &settings.referers,
            "https://example.com.evil.test/"
        ));
        assert!(!referer_allowed(&settings.referers, "https://notcdn.test/"));
    }

    #[test]
    fn private_and_unsigned_requests_are_denied() {
        let settings = BucketSettings::default();
        let req = Request {
            policy: DeliveryPolicy::Private,
            settings: &settings,
            link: None,
            referer: None,
            style: None,
            now: 0,
        };
        assert_eq!(authorize(&req, &[]), Err(Refusal::AccessDenied));
        let signed = signed_settings(&[LinkScheme::Cloudflare]);
        let req = Request {
            policy: DeliveryPolicy::Signed,
            settings: &signed,
            ..req
        };
        assert_eq!(authorize(&req, &[]), Err(Refusal::AccessDenied));
    }
}
