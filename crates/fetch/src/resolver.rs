//! Name resolution with the deny list applied. reqwest connects only to what this
//! returns, so the addresses checked are exactly the addresses used: a name that
//! resolves to a public address for a pre-check and a private one at connect time
//! (DNS rebinding) gains nothing.

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::error::ResolveError;
use crate::policy::Guard;

pub(crate) struct GuardedResolver {
    pub(crate) guard: Arc<Guard>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = Arc::clone(&self.guard);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let lookup = tokio::net::lookup_host((host.clone(), 0)).await;
            let found: Vec<SocketAddr> = match lookup {
                Ok(addrs) => addrs.collect(),
                Err(err) => {
                    tracing::debug!(%host, error = %err, "fetch: name resolution failed");
                    return Err(ResolveError::NotFound(host).into());
                }
            };
            let kept = filter(&guard, &host, found)?;
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// Drops denied addresses rather than failing when only some are denied: the public
/// ones are still safe to use. Fails when nothing is left.
fn filter(
    guard: &Guard,
    host: &str,
    found: Vec<SocketAddr>,
) -> Result<Vec<SocketAddr>, ResolveError> {
    if guard.host_allowed(host) {
        return if found.is_empty() {
            Err(ResolveError::NotFound(host.to_owned()))
        } else {
            Ok(found)
        };
    }
    let mut first_denial = None;
    let mut kept = Vec::with_capacity(found.len());
    for addr in found {
        match guard.check_ip(addr.ip()) {
            Ok(()) => kept.push(addr),
            Err(reason) => {
                tracing::debug!(%host, ip = %addr.ip(), reason, "fetch: dropped denied address");
                first_denial.get_or_insert(reason);
            }
        }
    }
    match (kept.is_empty(), first_denial) {
        (false, _) => Ok(kept),
        (true, Some(reason)) => Err(ResolveError::Denied {
            host: host.to_owned(),
            reason,
        }),
        (true, None) => Err(ResolveError::NotFound(host.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AllowRule;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter()
            .map(|ip| SocketAddr::new(ip.parse().expect("test address"), 0))
            .collect()
    }

    #[test]
    fn drops_denied_keeps_public() {
        let guard = Guard::new(&[]);
        let kept = filter(
            &guard,
            "mixed.example",
            addrs(&["10.0.0.1", "8.8.8.8", "::1"]),
        )
        .unwrap();
        assert_eq!(kept, addrs(&["8.8.8.8"]));
    }

    #[test]
    fn all_denied_is_denied() {
        let guard = Guard::new(&[]);
        let err = filter(
            &guard,
            "internal.example",
            addrs(&["10.0.0.1", "::ffff:127.0.0.1"]),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                ResolveError::Denied {
                    reason: "private",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_fetch_error().is_denied());
    }

    #[test]
    fn allowed_host_keeps_everything() {
        let rules: Vec<AllowRule> = vec!["*.internal".parse().unwrap()];
        let guard = Guard::new(&rules);
        let kept = filter(&guard, "origin.internal", addrs(&["10.0.0.1", "::1"])).unwrap();
        assert_eq!(kept.len(), 2);
        assert!(filter(&guard, "origin.internal", Vec::new()).is_err());
    }

    #[test]
    fn allowed_network_keeps_its_addresses() {
        let rules: Vec<AllowRule> = vec!["10.0.0.0/8".parse().unwrap()];
        let guard = Guard::new(&rules);
        let kept = filter(
            &guard,
            "origin.example",
            addrs(&["10.0.0.1", "192.168.0.1"]),
        )
        .unwrap();
        assert_eq!(kept, addrs(&["10.0.0.1"]));
    }
}
