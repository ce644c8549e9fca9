//! Virtual-hosted-style addressing: with a configured `domain`, a request to
//! `bucket.<domain>` names its bucket in `Host` and its key is the whole path. This is
//! the one resolution every door uses (routing, delivery, OSS, and s3s through
//! [`DomainHosts`]), so the doors never disagree about which bucket a request is for.
//!
//! Matching ignores case and the port, on both the host and the configured domain.
//! The bare domain and every other host (an IP literal, `localhost`, a name that merely
//! ends with the domain's text such as `evilexample.test`) are path style, so nothing
//! path style accepts is ever refused because of its `Host`.

use std::borrow::Cow;

/// The host a request was sent to: the `Host` header, or the URI's authority (HTTP/2
/// `:authority`, absolute-form requests through a proxy).
pub fn request_host<'a>(uri: &'a http::Uri, headers: &'a http::HeaderMap) -> Option<&'a str> {
    headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
}

/// `host` without a trailing `:port` or FQDN dot; `None` for IPv6 literals, which can
/// never be `bucket.<domain>`.
fn bare_host(host: &str) -> Option<&str> {
    let host = host.trim();
    if host.starts_with('[') {
        return None;
    }
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    Some(host.strip_suffix('.').unwrap_or(host))
}

/// The bucket a `bucket.<domain>` host names, lower-cased (DNS names are
/// case-insensitive, bucket names are lower case); `None` when the host is not a
/// subdomain of `domain`.
pub fn bucket_from_host(host: &str, domain: &str) -> Option<String> {
    let domain = bare_host(domain)?;
    let host = bare_host(host)?;
    if domain.is_empty() {
        return None;
    }
    // `get` rather than slicing: a non-ASCII host must not panic on a char boundary.
    let cut = host.len().checked_sub(domain.len())?;
    let (label, suffix) = (host.get(..cut)?, host.get(cut..)?);
    if !suffix.eq_ignore_ascii_case(domain) {
        return None;
    }
    // The dot is what makes `photos.example.test` a subdomain and `evilexample.test` not.
    let bucket = label.strip_suffix('.')?;
    if bucket.is_empty() || bucket.starts_with('.') || bucket.ends_with('.') {
        return None;
    }
    Some(bucket.to_ascii_lowercase())
}

/// A request's bucket and key, still percent-encoded as on the wire (a bucket taken
/// from `Host` has nothing to decode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target<'a> {
    pub bucket: Cow<'a, str>,
    /// Empty for bucket-level requests (`/`, `/bucket`, `/bucket/`).
    pub key: &'a str,
    /// Whether the bucket came from `Host`.
    pub virtual_host: bool,
}

/// Resolves `(bucket, key)` from the path and, when a domain is configured, the host.
pub fn resolve<'a>(path: &'a str, host: Option<&str>, domain: Option<&str>) -> Target<'a> {
    let rest = path.strip_prefix('/').unwrap_or(path);
    let vhost_bucket = match (host, domain) {
        (Some(host), Some(domain)) => bucket_from_host(host, domain),
        _ => None,
    };
    match vhost_bucket {
        Some(bucket) => Target {
            bucket: Cow::Owned(bucket),
            key: rest,
            virtual_host: true,
        },
        None => {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            Target {
                bucket: Cow::Borrowed(bucket),
                key,
                virtual_host: false,
            }
        }
    }
}

/// Resolves a whole request (see [`resolve`]).
pub fn resolve_request<'a>(
    uri: &'a http::Uri,
    headers: &http::HeaderMap,
    domain: Option<&str>,
) -> Target<'a> {
    resolve(uri.path(), request_host(uri, headers), domain)
}

/// Checks a configured domain: dot-separated labels of ASCII letters, digits and `-`,
/// optionally with a port (ignored when matching).
pub fn validate_domain(domain: &str) -> Result<(), String> {
    let valid = bare_host(domain).is_some_and(|name| {
        !name.is_empty()
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "domain {domain:?}: expected a host name such as img.example.com"
        ))
    }
}

/// s3s's host parser, backed by [`bucket_from_host`]. Unlike s3s's own `SingleDomain`,
/// it ignores the port and treats hosts outside the domain as path style rather than
/// as a CNAME naming the bucket, so `localhost:8080` keeps working beside a domain.
#[derive(Debug, Clone)]
pub struct DomainHosts {
    domain: String,
}

impl DomainHosts {
    pub fn new(domain: &str) -> Result<Self, String> {
        validate_domain(domain)?;
        Ok(DomainHosts {
            domain: domain.to_owned(),
        })
    }
}

impl s3s::host::S3Host for DomainHosts {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> s3s::S3Result<s3s::host::VirtualHost<'a>> {
        let vh = s3s::host::VirtualHost::new(self.domain.as_str());
        Ok(match bucket_from_host(host, &self.domain) {
            Some(bucket) => vh.with_bucket(bucket),
            None => vh,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3s::host::S3Host;

    #[test]
    fn subdomains_name_the_bucket_whatever_the_case_and_port() {
        let b = |host| bucket_from_host(host, "example.test");
        assert_eq!(b("photos.example.test"), Some("photos".into()));
        assert_eq!(b("photos.example.test:8080"), Some("photos".into()));
        assert_eq!(b("Photos.EXAMPLE.test:8080"), Some("photos".into()));
        assert_eq!(b("photos.example.test."), Some("photos".into()));
        assert_eq!(b("my.photos.example.test"), Some("my.photos".into()));
        // The configured domain may carry a port or capitals too.
        assert_eq!(
            bucket_from_host("photos.example.test", "Example.Test:9000"),
            Some("photos".into())
        );
    }

    #[test]
    fn other_hosts_are_path_style() {
        let b = |host| bucket_from_host(host, "example.test");
        assert_eq!(b("example.test"), None);
        assert_eq!(b("example.test:8080"), None);
        assert_eq!(b("EXAMPLE.TEST"), None);
        assert_eq!(b("evilexample.test"), None);
        assert_eq!(b("photos.evilexample.test"), None);
        assert_eq!(b(".example.test"), None);
        assert_eq!(b("a..example.test"), None);
        assert_eq!(b("example.test.evil"), None);
        assert_eq!(b("127.0.0.1"), None);
        assert_eq!(b("127.0.0.1:8080"), None);
        assert_eq!(b("[::1]:8080"), None);
        assert_eq!(b("localhost:8080"), None);
        assert_eq!(b("test"), None);
        assert_eq!(b(""), None);
        assert_eq!(b("фото.example.test"), Some("фото".into()));
        assert_eq!(b("é"), None);
        assert_eq!(bucket_from_host("photos.example.test", ""), None);
    }

    #[test]
    fn resolve_takes_the_key_from_the_whole_path_on_a_virtual_host() {
        let r = |path, host| resolve(path, host, Some("example.test"));
        let vhost = |bucket: &str, key| Target {
            bucket: Cow::Owned(bucket.to_owned()),
            key,
            virtual_host: true,
        };
        let path = |bucket, key| Target {
            bucket: Cow::Borrowed(bucket),
            key,
            virtual_host: false,
        };
        assert_eq!(
            r("/dir/a.txt", Some("photos.example.test:1")),
            vhost("photos", "dir/a.txt")
        );
        assert_eq!(r("/", Some("photos.example.test")), vhost("photos", ""));
        assert_eq!(
            r("/dir/a.txt", Some("example.test:1")),
            path("dir", "a.txt")
        );
        assert_eq!(r("/dir/a.txt", Some("127.0.0.1:1")), path("dir", "a.txt"));
        assert_eq!(r("/b", None), path("b", ""));
        assert_eq!(r("/b/", None), path("b", ""));
        assert_eq!(r("/", None), path("", ""));
        assert_eq!(
            resolve("/dir/a.txt", Some("photos.example.test"), None),
            path("dir", "a.txt")
        );
    }

    #[test]
    fn host_comes_from_the_header_or_the_authority() {
        let mut headers = http::HeaderMap::new();
        let uri: http::Uri = "http://photos.example.test:9/k".parse().unwrap();
        assert_eq!(request_host(&uri, &headers), Some("photos.example.test:9"));
        headers.insert(http::header::HOST, "other.example.test".parse().unwrap());
        assert_eq!(request_host(&uri, &headers), Some("other.example.test"));
        let origin_form: http::Uri = "/k".parse().unwrap();
        assert_eq!(
            resolve_request(&origin_form, &headers, Some("example.test")).bucket,
            "other"
        );
    }

    #[test]
    fn domains_are_validated() {
        assert!(validate_domain("example.test").is_ok());
        assert!(validate_domain("img-1.example.test:8080").is_ok());
        assert!(validate_domain("").is_err());
        assert!(validate_domain("exa mple.test").is_err());
        assert!(validate_domain("a..b").is_err());
        assert!(validate_domain("[::1]").is_err());
    }

    #[test]
    fn s3s_sees_the_same_buckets() {
        let hosts = DomainHosts::new("example.test").unwrap();
        let bucket = |host: &str| {
            hosts
                .parse_host_header(host)
                .map(|vh| vh.bucket().map(str::to_owned))
                .ok()
                .flatten()
        };
        assert_eq!(bucket("photos.example.test:8080"), Some("photos".into()));
        assert_eq!(bucket("example.test:8080"), None);
        assert_eq!(bucket("localhost:8080"), None);
        assert_eq!(bucket("evilexample.test"), None);
    }
}
