use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;

use crate::FetchError;
use crate::addr::denied_reason;

/// Limits and exceptions for one [`Fetcher`](crate::Fetcher).
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// Explicit exceptions to the deny list (see [`denied_reason`]).
    pub allow: Vec<AllowRule>,
    pub max_redirects: usize,
    /// Name resolution, TCP connect and TLS handshake, per connection.
    pub connect_timeout: Duration,
    /// Longest wait for the response head (after connecting) or for the next body chunk.
    pub read_timeout: Duration,
    /// The whole fetch: every redirect hop and the body.
    pub deadline: Duration,
    /// Body size limit, refused early from Content-Length and enforced while streaming.
    pub max_bytes: u64,
    pub user_agent: String,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        FetchPolicy {
            allow: Vec::new(),
            max_redirects: 5,
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(30),
            max_bytes: 64 * 1024 * 1024,
            user_agent: concat!("imgd/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// An exception to the deny list.
///
/// Parsed from `"10.0.0.0/8"`, `"::1"`, `"[fd00::1]"` (networks; a bare address is a
/// single-address network) or `"origin.internal"`, `"*.example.com"` (host names; the
/// wildcard matches subdomains, not the bare domain). An allowed network permits
/// connecting to those addresses whatever name led there; an allowed host name permits
/// that host whatever it resolves to, so only name hosts you control.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AllowRule {
    Network(IpNet),
    /// A lower-case ASCII (punycode) host name, optionally starting with `*.`.
    Host(String),
}

impl AllowRule {
    fn matches_host(pattern: &str, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        match pattern.strip_prefix("*.") {
            Some(suffix) => host
                .strip_suffix(suffix)
                .is_some_and(|label| label.len() > 1 && label.ends_with('.')),
            None => host.eq_ignore_ascii_case(pattern),
        }
    }
}

impl FromStr for AllowRule {
    type Err = FetchError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || FetchError::BadAllowRule(s.to_owned());
        let rule = s.trim();
        if let Ok(net) = rule.parse::<IpNet>() {
            return Ok(AllowRule::Network(net.trunc()));
        }
        let bare = rule
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or(rule);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(AllowRule::Network(IpNet::from(ip)));
        }
        let (wildcard, name) = match rule.strip_prefix("*.") {
            Some(name) => (true, name),
            None => (false, rule),
        };
        let name = name.trim_end_matches('.');
        if name.is_empty() || name.contains(['*', '/', ':', '@', '[', ']']) {
            return Err(bad());
        }
        // Parse as a URL host would be, so the rule is compared with the same normal
        // form (lower case, punycode, odd IPv4 spellings as addresses) the URL yields.
        match url::Host::parse(name).map_err(|_| bad())? {
            url::Host::Domain(domain) if wildcard => Ok(AllowRule::Host(format!("*.{domain}"))),
            url::Host::Domain(domain) => Ok(AllowRule::Host(domain)),
            url::Host::Ipv4(ip) if !wildcard => Ok(AllowRule::Network(IpNet::from(IpAddr::V4(ip)))),
            url::Host::Ipv6(ip) if !wildcard => Ok(AllowRule::Network(IpNet::from(IpAddr::V6(ip)))),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for AllowRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowRule::Network(net) => net.fmt(f),
            AllowRule::Host(host) => f.write_str(host),
        }
    }
}

/// The allow rules split by kind, consulted for URL literals and by the resolver.
#[derive(Debug, Default)]
pub(crate) struct Guard {
    nets: Vec<IpNet>,
    hosts: Vec<String>,
}

impl Guard {
    pub(crate) fn new(rules: &[AllowRule]) -> Guard {
        let mut guard = Guard::default();
        for rule in rules {
            match rule {
                AllowRule::Network(net) => guard.nets.push(*net),
                AllowRule::Host(host) => guard.hosts.push(host.clone()),
            }
        }
        guard
    }

    /// True when `host` (a name, not an address) is trusted whatever it resolves to.
    pub(crate) fn host_allowed(&self, host: &str) -> bool {
        self.hosts.iter().any(|p| AllowRule::matches_host(p, host))
    }

    /// `Err(reason)` when connecting to `ip` is refused.
    pub(crate) fn check_ip(&self, ip: IpAddr) -> Result<(), &'static str> {
        // A mapped address reaches the IPv4 host, so an IPv4 rule covers it too.
        let mapped = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        let allowed = |ip: IpAddr| self.nets.iter().any(|net| net.contains(&ip));
        if allowed(ip) || mapped.is_some_and(allowed) {
            return Ok(());
        }
        denied_reason(ip).map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> AllowRule {
        s.parse().expect("rule parses")
    }

    #[test]
    fn parses_networks_and_addresses() {
        assert_eq!(
            rule("127.0.0.1/32"),
            AllowRule::Network("127.0.0.1/32".parse().unwrap())
        );
        assert_eq!(
            rule("10.1.2.3/8"),
            AllowRule::Network("10.0.0.0/8".parse().unwrap())
        );
        assert_eq!(
            rule(" 127.0.0.1 "),
            AllowRule::Network("127.0.0.1/32".parse().unwrap())
        );
        assert_eq!(rule("::1"), AllowRule::Network("::1/128".parse().unwrap()));
        assert_eq!(
            rule("[fd00::1]"),
            AllowRule::Network("fd00::1/128".parse().unwrap())
        );
        assert_eq!(
            rule("fd00::/8"),
            AllowRule::Network("fd00::/8".parse().unwrap())
        );
        // The same odd spellings a URL accepts.
        assert_eq!(
            rule("0x7f.1"),
            AllowRule::Network("127.0.0.1/32".parse().unwrap())
        );
    }

    #[test]
    fn parses_host_patterns() {
        assert_eq!(rule("localhost"), AllowRule::Host("localhost".into()));
        assert_eq!(
            rule("Origin.Internal."),
            AllowRule::Host("origin.internal".into())
        );
        assert_eq!(
            rule("*.Example.com"),
            AllowRule::Host("*.example.com".into())
        );
        assert_eq!(
            rule("bücher.example"),
            AllowRule::Host("xn--bcher-kva.example".into())
        );
        assert_eq!(rule("*.example.com").to_string(), "*.example.com");
        assert_eq!(rule("10.0.0.0/8").to_string(), "10.0.0.0/8");
    }

    #[test]
    fn rejects_bad_rules() {
        for bad in [
            "",
            "*",
            "*.",
            "a.*.com",
            "**.example.com",
            "*.10.0.0.1",
            "10.0.0.0/33",
            "host:80",
            "a b",
            "http://x",
        ] {
            let err = bad.parse::<AllowRule>().expect_err(bad);
            assert!(matches!(err, FetchError::BadAllowRule(_)), "{bad}: {err:?}");
        }
    }

    #[test]
    fn host_patterns_match() {
        let guard = Guard::new(&[rule("origin.internal"), rule("*.example.com")]);
        assert!(guard.host_allowed("origin.internal"));
        assert!(guard.host_allowed("origin.internal."));
        assert!(guard.host_allowed("a.example.com"));
        assert!(guard.host_allowed("a.b.example.com"));
        assert!(!guard.host_allowed("example.com"));
        assert!(!guard.host_allowed("badexample.com"));
        assert!(!guard.host_allowed("x.origin.internal"));
        assert!(!guard.host_allowed("origin.internal.evil.com"));
    }

    #[test]
    fn networks_override_the_deny_list() {
        let guard = Guard::new(&[rule("127.0.0.1/32"), rule("fd00::/8")]);
        assert_eq!(guard.check_ip("127.0.0.1".parse().unwrap()), Ok(()));
        assert_eq!(guard.check_ip("::ffff:127.0.0.1".parse().unwrap()), Ok(()));
        assert_eq!(guard.check_ip("fd00::5".parse().unwrap()), Ok(()));
        assert_eq!(
            guard.check_ip("127.0.0.2".parse().unwrap()),
            Err("loopback")
        );
        assert_eq!(guard.check_ip("::1".parse().unwrap()), Err("loopback"));
        assert_eq!(guard.check_ip("8.8.8.8".parse().unwrap()), Ok(()));
        let none = Guard::new(&[]);
        assert_eq!(none.check_ip("127.0.0.1".parse().unwrap()), Err("loopback"));
    }
}
