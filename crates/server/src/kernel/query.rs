//! The query string, parsed once per request.
//!
//! Names and values are percent-decoded, with `+` as a space (form encoding, which
//! Python's `requests` and browsers write). Pairs keep their order; a name without `=`
//! has an empty value. The raw string stays available for signature checks, which sign
//! what arrived on the wire.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    raw: String,
    pairs: Vec<(String, String)>,
}

fn decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let raw = raw.unwrap_or("");
        let pairs = raw
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(k), decode(v))
            })
            .collect();
        Query {
            raw: raw.to_owned(),
            pairs,
        }
    }

    pub fn of(uri: &http::Uri) -> Query {
        Query::parse(uri.query())
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// Whether any of `names` is present.
    pub fn has_any(&self, names: &[&str]) -> bool {
        self.pairs.iter().any(|(k, _)| names.contains(&k.as_str()))
    }

    /// Decoded pairs in their order on the wire.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The query exactly as it arrived (no `?`).
    pub fn raw(&self) -> &str {
        &self.raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode_in_order_with_plus_as_space() {
        let q = Query::parse(Some(
            "x-oss-process=image%2Fresize%2Cw_100&objectMeta&a=b+c&Signature=x%2By%3D&a=2",
        ));
        assert_eq!(
            q.pairs(),
            [
                ("x-oss-process".to_owned(), "image/resize,w_100".to_owned()),
                ("objectMeta".to_owned(), String::new()),
                ("a".to_owned(), "b c".to_owned()),
                ("Signature".to_owned(), "x+y=".to_owned()),
                ("a".to_owned(), "2".to_owned()),
            ]
        );
        assert_eq!(q.get("a"), Some("b c"));
        assert!(q.has("objectMeta") && !q.has("object"));
        assert!(q.has_any(&["nope", "Signature"]));
        assert!(Query::parse(None).pairs().is_empty());
        assert_eq!(Query::parse(Some("&&")).pairs().len(), 0);
    }
}
