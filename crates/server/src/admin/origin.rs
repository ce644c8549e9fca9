//! The origin document of `PUT /buckets/{name}/origin`, read strictly.

use serde::Deserialize;
use serde_json::Value;

/// The body of `PUT /buckets/{name}/origin`. Unknown fields are refused, as in every
/// other body of this API; the stored `OriginSettings` stays lenient so rows written by
/// an older imgd still load.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OriginBody {
    pub source: Value,
    pub miss_ttl_secs: Option<u32>,
}

/// Reads an origin source, refusing fields it does not have. `store::Origin` ignores
/// unknown fields (it is also the stored form), so they are found by writing the parsed
/// value back and comparing names; no second list of fields to keep in step.
pub fn parse_origin_source(raw: &Value) -> Result<store::Origin, String> {
    let origin: store::Origin = serde_json::from_value(raw.clone()).map_err(|e| e.to_string())?;
    let known = serde_json::to_value(&origin).map_err(|e| e.to_string())?;
    if let (Some(given), Some(known)) = (raw.as_object(), known.as_object())
        && let Some(extra) = given.keys().find(|k| !known.contains_key(*k))
    {
        return Err(format!("unknown field `{extra}`"));
    }
    Ok(origin)
}

#[cfg(test)]
mod tests {
    use super::parse_origin_source;
    use serde_json::json;

    #[test]
    fn unknown_source_fields_are_refused() {
        let http = json!({"kind": "http", "base_url": "http://127.0.0.1:9/"});
        assert!(parse_origin_source(&http).is_ok());
        let s3 = json!({"kind": "s3", "endpoint": "http://127.0.0.1:9", "region": "r", "bucket": "b",
                        "access_key": "a", "secret_key": "s"});
        assert!(parse_origin_source(&s3).is_ok(), "prefix is optional");
        let typo = json!({"kind": "http", "base_url": "http://127.0.0.1:9/", "baseurl": "x"});
        assert_eq!(
            parse_origin_source(&typo).unwrap_err(),
            "unknown field `baseurl`"
        );
        assert!(parse_origin_source(&json!({"kind": "ftp"})).is_err());
    }
}
