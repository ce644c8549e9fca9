use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_without_file_or_env() {
    let c = Config::load(None, env(&[])).unwrap();
    assert_eq!(c.listen, "127.0.0.1:8080");
    assert_eq!(c.data_dir, PathBuf::from("./data"));
    assert_eq!(c.region, "us-east-1");
    assert!(c.access_key.is_none());
}

#[test]
fn env_overrides_file_for_top_level_and_section_keys() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("imgd.toml");
    std::fs::write(
        &f,
        "listen = \"127.0.0.1:9000\"\nregion = \"eu-west-1\"\nmax_connections = 10\n[storage]\nbackend = \"fs\"\n",
    )
    .unwrap();
    let c = Config::load(
        Some(&f),
        env(&[
            ("IMGD_LISTEN", "0.0.0.0:7000"),
            ("IMGD_ACCESS_KEY", "12345"),
            ("IMGD_SECRET_KEY", "s"),
            ("IMGD_MAX_CONNECTIONS", "77"),
            ("IMGD_STORAGE_S3_ROOT", "/imgd"),
            ("IMGD_DATABASE_PATH", "/tmp/x.db"),
            ("IMGD_CLOCK_START", "1700000000"),
            ("IMGD_FETCH_ALLOW", "10.0.0.0/8, 127.0.0.1"),
            ("IMGD_IMAGEPROXY_SIZES", "100,200"),
            ("IMGD_CACHE_ENABLED", "false"),
            // imgd's own variables that are not keys, and others' variables.
            ("IMGD_LOG", "debug"),
            ("IMGD_CONFIG", "/elsewhere.toml"),
            ("PATH", "/bin"),
        ]),
    )
    .unwrap();
    assert_eq!(c.listen, "0.0.0.0:7000");
    assert_eq!(c.region, "eu-west-1");
    assert_eq!(c.access_key.as_deref(), Some("12345"));
    assert_eq!(c.max_connections, 77);
    assert_eq!(c.storage.s3_root, "/imgd");
    assert_eq!(c.db_path(), PathBuf::from("/tmp/x.db"));
    assert_eq!(c.clock_start, Some(1_700_000_000));
    assert_eq!(c.fetch.allow, ["10.0.0.0/8", "127.0.0.1"]);
    assert_eq!(c.imageproxy.sizes, [100, 200]);
    assert!(!c.cache.enabled);
}

#[test]
fn bad_values_are_refused_with_the_variable_named() {
    let err = Config::load(None, env(&[("IMGD_MAX_CONNECTIONS", "many")])).unwrap_err();
    assert!(format!("{err:#}").contains("IMGD_MAX_CONNECTIONS"));
    assert!(Config::load(None, env(&[("IMGD_LISTEN", "nope")])).is_err());
    assert!(Config::load(None, env(&[("IMGD_ACCESS_KEY", "only-one")])).is_err());
}

#[test]
fn unknown_file_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("imgd.toml");
    std::fs::write(&f, "lisen = \"typo\"\n").unwrap();
    let err = Config::load(Some(&f), env(&[])).unwrap_err();
    assert!(
        format!("{err:#}").contains("unknown field `lisen`"),
        "{err:#}"
    );
    std::fs::write(&f, "[cache]\nenabld = false\n").unwrap();
    let err = Config::load(Some(&f), env(&[])).unwrap_err();
    assert!(
        format!("{err:#}").contains("unknown field `enabld`"),
        "{err:#}"
    );
}

#[test]
fn unknown_variables_are_refused_with_the_closest_name() {
    let err = Config::load(None, env(&[("IMGD_CACHE_ENABLD", "false")])).unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        "unknown variable IMGD_CACHE_ENABLD; did you mean IMGD_CACHE_ENABLED? \
         (`imgd config keys` lists them all)"
    );
    let err = Config::load(None, env(&[("IMGD_UNRELATED", "x")])).unwrap_err();
    assert!(format!("{err:#}").starts_with("unknown variable IMGD_UNRELATED ("));
    // Every unknown name is reported at once.
    let err = Config::load(None, env(&[("IMGD_B", "1"), ("IMGD_A", "2")])).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("IMGD_A") && msg.contains("IMGD_B"), "{msg}");
    // Names are case-sensitive, like the environment.
    assert!(Config::load(None, env(&[("IMGD_Listen", "127.0.0.1:1")])).is_err());
}

#[test]
fn entries_have_no_variable() {
    let err = Config::load(None, env(&[("IMGD_BUCKETS", "photos")])).unwrap_err();
    assert!(
        format!("{err:#}").contains("[[buckets]] can only be set in the configuration file"),
        "{err:#}"
    );
}

#[test]
fn weekly_is_no_delivery_scheme() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("imgd.toml");
    std::fs::write(
        &f,
        "[[buckets]]\nname = \"photos\"\ndelivery = \"signed\"\nschemes = [\"weekly\"]\n",
    )
    .unwrap();
    let err = Config::load(Some(&f), env(&[])).unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        "[[buckets]] photos: scheme \"weekly\" is not one of cloudflare, ixmage"
    );
}

#[test]
fn unknown_origin_fields_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("imgd.toml");
    let write = |origin: &str| {
        std::fs::write(
            &f,
            format!("[[buckets]]\nname = \"photos\"\norigin = {origin}\n"),
        )
        .unwrap();
    };
    write(r#"{ kind = "http", base_url = "http://127.0.0.1:9/", revalidate_after_secs = 5 }"#);
    let err = Config::load(Some(&f), env(&[])).unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        "[[buckets]] photos: origin: unknown field `revalidate_after_secs`"
    );
    write(r#"{ kind = "http", base_url = "http://127.0.0.1:9/" }"#);
    let c = Config::load(Some(&f), env(&[])).unwrap();
    assert!(c.buckets[0].origin.is_some());
}
