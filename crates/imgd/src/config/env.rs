//! `IMGD_*` variables: which names exist, how a value is read, and the refusal of any
//! other `IMGD_*` name, so that a misspelled variable cannot be ignored in silence.
//!
//! The key list is derived from [`Config::default`] (serialized, so keys whose default is
//! unset appear too); nothing here lists configuration keys by hand.

use super::{BucketConfig, CloudflareAccountConfig, Config, SecretConfig};
use anyhow::{Context, Result, bail};
use serde_json::Value as Json;

pub const PREFIX: &str = "IMGD_";

/// The tracing filter that overrides `log_level`.
pub const LOG_VAR: &str = "IMGD_LOG";

/// Variables imgd reads that are not configuration keys. The CLI's `env = "..."`
/// attributes must name only these (a unit test in `cli` checks it).
pub const NON_CONFIG_VARS: [(&str, &str); 4] = [
    ("IMGD_CONFIG", "the configuration file (--config)"),
    (LOG_VAR, "a tracing filter that overrides log_level"),
    ("IMGD_SIGN_SECRET", "imgd sign --secret"),
    (
        "IMGD_ORIGIN_S3_SECRET_KEY",
        "imgd bucket origin --s3-secret-key",
    ),
];

/// How a variable's text becomes a TOML value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Int,
    Bool,
    StrList,
    IntList,
    /// Arrays of tables (`[[buckets]]`) and their fields: configuration file only.
    FileOnly,
}

#[derive(Debug, Clone)]
pub struct Key {
    /// `storage.backend`, `buckets.name`.
    pub path: String,
    /// `IMGD_STORAGE_BACKEND`; `None` for file-only keys.
    pub var: Option<String>,
    section: Option<String>,
    name: String,
    pub kind: Kind,
}

/// Entries of arrays of tables, whose fields cannot be read off an empty default list.
fn table_array_entry(name: &str) -> Result<Option<Json>> {
    let entry = match name {
        "buckets" => serde_json::to_value(BucketConfig::default()),
        "secrets" => serde_json::to_value(SecretConfig::default()),
        "cloudflare_accounts" => serde_json::to_value(CloudflareAccountConfig::default()),
        _ => return Ok(None),
    };
    Ok(Some(entry.context("serializing an entry's defaults")?))
}

/// Every configuration key, sorted by path.
pub fn keys() -> Result<Vec<Key>> {
    let defaults = serde_json::to_value(Config::default()).context("serializing defaults")?;
    let Json::Object(top) = defaults else {
        bail!("the defaults are not a table");
    };
    let mut out = Vec::new();
    for (name, value) in &top {
        if let Some(entry) = table_array_entry(name)? {
            for field in entry.as_object().into_iter().flat_map(|o| o.keys()) {
                out.push(Key {
                    path: format!("{name}.{field}"),
                    var: None,
                    section: None,
                    name: name.clone(),
                    kind: Kind::FileOnly,
                });
            }
        } else if let Json::Object(section) = value {
            for (field, default) in section {
                out.push(key(Some(name), field, default));
            }
        } else {
            out.push(key(None, name, value));
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn key(section: Option<&str>, name: &str, default: &Json) -> Key {
    let path = match section {
        Some(s) => format!("{s}.{name}"),
        None => name.to_owned(),
    };
    let kind = kind_of(section, name, default);
    Key {
        var: (kind != Kind::FileOnly)
            .then(|| format!("{PREFIX}{}", path.replace('.', "_").to_ascii_uppercase())),
        path,
        section: section.map(str::to_owned),
        name: name.to_owned(),
        kind,
    }
}

/// The kind follows the default's type; an unset default (`null`) or an empty list says
/// nothing, so each candidate type is tried against the real `Config` deserializer.
fn kind_of(section: Option<&str>, name: &str, default: &Json) -> Kind {
    match default {
        Json::String(_) => Kind::Str,
        Json::Number(_) => Kind::Int,
        Json::Bool(_) => Kind::Bool,
        Json::Array(items) if !items.is_empty() => {
            if items.first().is_some_and(Json::is_number) {
                Kind::IntList
            } else {
                Kind::StrList
            }
        }
        Json::Array(_) => [
            (Kind::StrList, toml::Value::Array(vec!["x".into()])),
            (Kind::IntList, toml::Value::Array(vec![0.into()])),
        ]
        .into_iter()
        .find(|(_, probe)| accepts(section, name, probe.clone()))
        .map_or(Kind::FileOnly, |(k, _)| k),
        _ => [
            (Kind::Str, toml::Value::from("x")),
            (Kind::Int, toml::Value::from(0)),
            (Kind::Bool, toml::Value::from(false)),
        ]
        .into_iter()
        .find(|(_, probe)| accepts(section, name, probe.clone()))
        .map_or(Kind::FileOnly, |(k, _)| k),
    }
}

fn accepts(section: Option<&str>, name: &str, value: toml::Value) -> bool {
    let mut table = toml::Table::new();
    match section {
        Some(s) => {
            let mut inner = toml::Table::new();
            inner.insert(name.to_owned(), value);
            table.insert(s.to_owned(), toml::Value::Table(inner));
        }
        None => {
            table.insert(name.to_owned(), value);
        }
    }
    toml::Value::Table(table).try_into::<Config>().is_ok()
}

/// Puts every `IMGD_*` variable of `env` into `table` (the parsed file, possibly empty),
/// refusing names that are neither a key's variable nor one of [`NON_CONFIG_VARS`].
pub fn apply(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<()> {
    let keys = keys()?;
    let mut unknown = Vec::new();
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(name, _)| name.starts_with(PREFIX))
        .collect();
    vars.sort();
    for (name, raw) in vars {
        if NON_CONFIG_VARS.iter().any(|(v, _)| *v == name) {
            continue;
        }
        let found = keys
            .iter()
            .find(|k| k.var.as_deref() == Some(name.as_str()));
        let Some(key) = found else {
            if let Some(entry) = keys.iter().find(|k| {
                k.kind == Kind::FileOnly
                    && name == format!("{PREFIX}{}", k.name.to_ascii_uppercase())
            }) {
                bail!(
                    "{name}: [[{}]] can only be set in the configuration file",
                    entry.name
                );
            }
            unknown.push(unknown_message(&name, &keys));
            continue;
        };
        let value = typed(&name, &raw, key.kind)?;
        let target = match &key.section {
            Some(s) => table
                .entry(s.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .with_context(|| format!("[{s}] in the configuration file is not a table"))?,
            None => &mut *table,
        };
        target.insert(key.name.clone(), value);
    }
    if !unknown.is_empty() {
        bail!("{} (`imgd config keys` lists them all)", unknown.join("; "));
    }
    Ok(())
}

fn typed(name: &str, raw: &str, kind: Kind) -> Result<toml::Value> {
    let int = |p: &str| -> Result<i64> {
        p.trim()
            .parse()
            .with_context(|| format!("{name} must be an integer, got {raw:?}"))
    };
    let list = || raw.split(',').map(str::trim).filter(|p| !p.is_empty());
    Ok(match kind {
        Kind::Str => toml::Value::String(raw.to_owned()),
        Kind::Int => toml::Value::Integer(int(raw)?),
        Kind::Bool => toml::Value::Boolean(
            raw.trim()
                .parse()
                .with_context(|| format!("{name} must be true or false, got {raw:?}"))?,
        ),
        Kind::StrList => toml::Value::Array(list().map(toml::Value::from).collect()),
        Kind::IntList => toml::Value::Array(
            list()
                .map(|p| int(p).map(toml::Value::Integer))
                .collect::<Result<_>>()
                .with_context(|| format!("{name} is a comma-separated list of integers"))?,
        ),
        Kind::FileOnly => bail!("{name} can only be set in the configuration file"),
    })
}

/// "unknown variable X; did you mean Y?" when a known name is close enough to be the
/// intended one (compared without case, so `IMGD_Listen` suggests `IMGD_LISTEN`).
fn unknown_message(name: &str, keys: &[Key]) -> String {
    let wanted = name[PREFIX.len()..].to_ascii_uppercase();
    let candidates = keys
        .iter()
        .filter_map(|k| k.var.as_deref())
        .chain(NON_CONFIG_VARS.iter().map(|(v, _)| *v));
    let best = candidates
        .map(|v| (edit_distance(&wanted, &v[PREFIX.len()..]), v))
        .min();
    match best {
        Some((d, v)) if d <= (wanted.len() / 4).max(2) => {
            format!("unknown variable {name}; did you mean {v}?")
        }
        _ => format!("unknown variable {name}"),
    }
}

/// Levenshtein distance over bytes (variable names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != cb);
            cur.push(substitute.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance() {
        assert_eq!(edit_distance("CACHE_ENABLD", "CACHE_ENABLED"), 1);
        assert_eq!(edit_distance("", "ABC"), 3);
        assert_eq!(edit_distance("KITTEN", "SITTING"), 3);
    }

    #[test]
    fn keys_cover_unset_defaults_with_their_types() {
        let keys = keys().unwrap();
        let find = |p: &str| keys.iter().find(|k| k.path == p).unwrap();
        assert_eq!(find("clock_start").kind, Kind::Int);
        assert_eq!(find("clock_start").var.as_deref(), Some("IMGD_CLOCK_START"));
        assert_eq!(find("access_key").kind, Kind::Str);
        assert_eq!(find("cache.dir").kind, Kind::Str);
        assert_eq!(find("cache.enabled").kind, Kind::Bool);
        assert_eq!(find("fetch.allow").kind, Kind::StrList);
        assert_eq!(find("imageproxy.sizes").kind, Kind::IntList);
        assert_eq!(
            find("storage.backend").var.as_deref(),
            Some("IMGD_STORAGE_BACKEND")
        );
        assert_eq!(find("buckets.origin").var, None);
        assert_eq!(find("secrets.value").var, None);
        assert_eq!(find("cloudflare_accounts.account_hash").var, None);
        assert_eq!(find("cloudflare.remote_bucket").kind, Kind::Str);
        // Every default-empty list outside [[...]] entries must be settable.
        assert!(
            keys.iter().all(|k| k.kind != Kind::FileOnly
                || k.path.starts_with("buckets.")
                || k.path.starts_with("secrets.")
                || k.path.starts_with("cloudflare_accounts.")),
            "{keys:?}"
        );
        let mut sorted = keys.clone();
        sorted.sort_by(|a, b| a.path.cmp(&b.path));
        assert!(
            sorted
                .iter()
                .map(|k| &k.path)
                .eq(keys.iter().map(|k| &k.path))
        );
    }

    #[test]
    fn unknown_names_get_the_closest_suggestion() {
        let keys = keys().unwrap();
        assert_eq!(
            unknown_message("IMGD_CACHE_ENABLD", &keys),
            "unknown variable IMGD_CACHE_ENABLD; did you mean IMGD_CACHE_ENABLED?"
        );
        assert_eq!(
            unknown_message("IMGD_Listen", &keys),
            "unknown variable IMGD_Listen; did you mean IMGD_LISTEN?"
        );
        assert_eq!(
            unknown_message("IMGD_LOGG", &keys),
            "unknown variable IMGD_LOGG; did you mean IMGD_LOG?"
        );
        assert_eq!(
            unknown_message("IMGD_UNRELATED", &keys),
            "unknown variable IMGD_UNRELATED"
        );
    }
}
