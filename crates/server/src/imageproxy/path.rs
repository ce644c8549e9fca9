//! The imageproxy-py URL shape and its size spec.

/// `/{bucket}/{size}/{sig}/{ext_url}[/proxy]`, split but not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyPath {
    pub bucket: String,
    pub size: String,
    pub sig: String,
    pub ext_url: String,
    pub proxy: bool,
}

pub fn parse_path(path: &str) -> Option<ProxyPath> {
    let parts: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    let proxy = match parts.len() {
        4 => false,
        5 if parts[4] == "proxy" => true,
        _ => return None,
    };
    if parts[..4].iter().any(|p| p.is_empty()) {
        return None;
    }
    Some(ProxyPath {
        bucket: parts[0].to_owned(),
        size: parts[1].to_owned(),
        sig: parts[2].to_owned(),
        ext_url: parts[3].to_owned(),
        proxy,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeSpec {
    Full,
    /// Fit within; at least one side is set.
    Fit {
        height: Option<u32>,
        width: Option<u32>,
    },
}

/// `full` or `{h}x{w}`, height first. Values outside `allowed` are dropped; `None`
/// when nothing allowed remains. Parts after the second are ignored.
pub fn parse_size(spec: &str, allowed: &[u32]) -> Option<SizeSpec> {
    if spec == "full" {
        return Some(SizeSpec::Full);
    }
    let mut parts = spec.split('x');
    let mut side = || {
        parts
            .next()
            .and_then(|p| p.parse::<u32>().ok())
            .filter(|v| allowed.contains(v))
    };
    let height = side();
    let width = side();
    if height.is_none() && width.is_none() {
        return None;
    }
    Some(SizeSpec::Fit { height, width })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOWED: [u32; 3] = [150, 250, 500];

    #[test]
    fn sizes_are_height_first_and_filtered() {
        assert_eq!(parse_size("full", &ALLOWED), Some(SizeSpec::Full));
        assert_eq!(
            parse_size("150x250", &ALLOWED),
            Some(SizeSpec::Fit {
                height: Some(150),
                width: Some(250)
            })
        );
        assert_eq!(
            parse_size("150x", &ALLOWED),
            Some(SizeSpec::Fit {
                height: Some(150),
                width: None
            })
        );
        assert_eq!(
            parse_size("x250", &ALLOWED),
            Some(SizeSpec::Fit {
                height: None,
                width: Some(250)
            })
        );
        assert_eq!(
            parse_size("150x251", &ALLOWED),
            Some(SizeSpec::Fit {
                height: Some(150),
                width: None
            })
        );
        assert_eq!(
            parse_size("150x250x9", &ALLOWED),
            Some(SizeSpec::Fit {
                height: Some(150),
                width: Some(250)
            })
        );
        assert_eq!(parse_size("151x251", &ALLOWED), None);
        assert_eq!(parse_size("abc", &ALLOWED), None);
        assert_eq!(parse_size("", &ALLOWED), None);
    }

    #[test]
    fn paths() {
        let p =
            parse_path("/i/full/gnjO6SJxYbeT9VBz/aHR0cHM6Ly9leGFtcGxlX3VybC9pbWcuanBn").unwrap();
        assert_eq!(p.bucket, "i");
        assert!(!p.proxy);
        let p = parse_path("/i/full/u21SyNepGvwmqYgs/aHR0/proxy").unwrap();
        assert!(p.proxy);
        assert_eq!(parse_path("/i/full/sig"), None);
        assert_eq!(parse_path("/i/full/sig/url/other"), None);
        assert_eq!(parse_path("/i//sig/url"), None);
        assert_eq!(parse_path("/i/full/sig/url/proxy/x"), None);
    }
}
