"""The coverage map (tests/coverage_map.py): every configuration key, variable, CLI command
and flag, and admin endpoint that imgd defines is named by some test.

The first tests check the map's own readers on fixed inputs, so that a reader that finds
nothing cannot make the real check pass by listing nothing."""
import sys

import pytest

from conftest import BIN, ROOT

sys.path.insert(0, str(ROOT / "tests"))
import coverage_map as cm  # noqa: E402

CLAP_ROOT = """A self-hosted image service with an S3-compatible API

Usage: imgd [OPTIONS] <COMMAND>

Commands:
  serve        Run the server
  bucket       Manage buckets
  sign         Print a signed link: `imgd sign --scheme cloudflare --secret S URL`, with a long
               description that wraps onto a second line
  help         Print this message or the help of the given subcommand(s)

Options:
      --config <CONFIG>  TOML configuration file. Every key can also be set as an IMGD_* variable
                         [env: IMGD_CONFIG=]
  -h, --help             Print help
  -V, --version          Print version
"""

CLAP_SUB = """Set where misses go

Usage: imgd bucket origin [OPTIONS] <NAME>

Arguments:
  <NAME>

Options:
      --http <HTTP>
          `GET <url>/<key>` on a miss
      --s3-secret-key <S3_SECRET_KEY>
          [env: IMGD_ORIGIN_S3_SECRET_KEY]
      --none
          Remove the origin: misses are 404 again --not-a-flag
      --config <CONFIG>
          TOML configuration file
  -h, --help
          Print help (see a summary with '-h')
"""

OPENAPI = """openapi: 3.0.3
info:
  title: t
paths:
  /buckets:
    get:
      summary: x
  /buckets/{bucket}/policy:
    parameters:
      - {name: bucket, in: path}
    get:
      summary: y
    put:
      requestBody: {}
  "/variants/purge":
    post:
      summary: z
components:
  schemas:
    get:
      type: object
"""


def test_clap_help_is_read_as_commands_flags_and_variables():
    page = cm.parse_help(CLAP_ROOT)
    assert page.commands == ["serve", "bucket", "sign"]
    assert page.flags == ["--config", "--version"]
    assert page.env_vars == ["IMGD_CONFIG"]
    sub = cm.parse_help(CLAP_SUB)
    assert sub.commands == []
    assert sub.flags == ["--http", "--s3-secret-key", "--none", "--config"]
    assert sub.env_vars == ["IMGD_ORIGIN_S3_SECRET_KEY"]


def test_config_keys_format_is_parsed_and_malformed_lines_refused():
    stub = "cache.enabled\tIMGD_CACHE_ENABLED\nlisten\tIMGD_LISTEN\nstorage.s3_root\tIMGD_STORAGE_S3_ROOT\n\n"
    assert cm.parse_config_keys(stub) == [
        ("cache.enabled", "IMGD_CACHE_ENABLED"), ("listen", "IMGD_LISTEN"), ("storage.s3_root", "IMGD_STORAGE_S3_ROOT"),
    ]
    assert cm.parse_config_keys("buckets.origin\t\n") == [("buckets.origin", "")]
    for bad in ("listen IMGD_LISTEN\n", "Listen\tIMGD_LISTEN\n", "listen\tLISTEN\n", "a\tIMGD_A\textra\n"):
        with pytest.raises(ValueError):
            cm.parse_config_keys(bad)


def test_unknown_field_refusals_give_the_accepted_fields():
    err = ("imgd: invalid configuration: unknown field `imgd_coverage_probe`, expected one of "
           "`name`, `public`, `origin_miss_ttl_secs`\n")
    assert cm.parse_unknown_field_error(err) == ["name", "public", "origin_miss_ttl_secs"]
    assert cm.parse_unknown_field_error("unknown field `imgd_coverage_probe`, expected `value` or `bucket`") == [
        "value", "bucket"]
    assert cm.parse_unknown_field_error("invalid type: map, expected a string") is None
    assert cm.variable_of("storage.s3_root") == "IMGD_STORAGE_S3_ROOT"


def test_openapi_paths_and_methods():
    assert cm.parse_openapi_paths(OPENAPI) == [
        ("GET", "/buckets"), ("GET", "/buckets/{bucket}/policy"), ("PUT", "/buckets/{bucket}/policy"),
        ("POST", "/variants/purge"),
    ]


def py_test(tmp_path, source: str) -> cm.PyTest:
    p = tmp_path / "test_sample.py"
    p.write_text(source)
    return cm.load_python_test(p)


def test_what_a_test_names(tmp_path):
    t = py_test(tmp_path, '''
"""Docstring: imgd cache stats and IMGD_DOCUMENTED are mentioned here only."""
def test_x(imgd, b):
    # --mentioned in a comment
    env = {"IMGD_PASSED": "1"}
    imgd.cli("cache", "purge", "--bucket", b)
    subprocess.run([BIN, "bucket", "origin", b, "--none"])
    run("imgd secret list --bucket x")
    call(admin, "PUT", f"buckets/{b}/policy", {"process": "p", "key": "k"})
    requests.get(f"{imgd.endpoint}/_imgd/admin/variants", timeout=5)
    r.json()["buckets"]
    for method, path in [("POST", "secrets"), ("GET", "secrets/abc/revoke")]:
        pass
    cfg.write_text(f'listen = "127.0.0.1:{port}"\\n[cache]\\nenabled = false\\n[[buckets]]\\nname = "b"\\n'
                   'origin = { kind = "http", base_url = "http://x" }\\n')
    assert "access_key = " in out
''')
    assert cm.command_named(("cache", "purge"), t)
    assert cm.command_named(("bucket", "origin"), t)
    assert cm.command_named(("secret", "list"), t)
    assert not cm.command_named(("cache", "stats"), t)  # only in the docstring
    assert not cm.command_named(("process",), t)  # a dict key, not an argument
    assert not cm.command_named(("key",), t)
    assert cm.flag_named("--none", t.strings) and not cm.flag_named("--no", t.strings)
    assert cm.flag_named("--bucket", t.strings)  # inside "imgd secret list --bucket x"
    assert not cm.flag_named("--mentioned", t.strings)  # only in a comment
    assert cm.variable_named("IMGD_PASSED", t.strings) and not cm.variable_named("IMGD_DOCUMENTED", t.strings)
    assert not cm.variable_named("IMGD_PASS", t.strings)
    found = {(m, s) for s, methods in t.calls for m in methods}
    assert ("PUT", "buckets/\x00/policy") in found
    assert ("GET", f"{cm.HOLE}/_imgd/admin/variants") in found
    assert ("POST", "secrets") in found and ("GET", "secrets/abc/revoke") in found
    assert not any(s == "buckets" for _, s in found)
    keys = cm.toml_assigned_keys(t.strings)
    assert {"listen", "cache.enabled", "buckets.name", "buckets.origin", "buckets.origin.kind"} <= keys
    assert "access_key" not in keys


def test_admin_paths_match_with_wildcards():
    rx = cm.path_regex("/buckets/{bucket}/policy")
    assert rx.match(cm.admin_relative("http://127.0.0.1:1/_imgd/admin/buckets/b1/policy"))
    assert rx.match(cm.admin_relative(f"buckets/{cm.HOLE}/policy"))
    assert not rx.match("buckets/b1/policy/extra")
    assert not rx.match("buckets/policy")
    assert cm.admin_relative("/photos/a.jpg") is None
    assert cm.path_regex("/variants").match("variants?x=1")


def test_rust_test_strings_are_read_as_toml():
    code = r'''
    std::fs::write(&f, "listen = \"127.0.0.1:9000\"\nregion = \"eu-west-1\"\n[storage]\nbackend = \"fs\"\n").unwrap();
    let raw = r#"[[secrets]]
value = "abcdefgh"
"#;
    '''
    keys = cm.toml_assigned_keys(cm.rust_string_literals(code))
    assert {"listen", "region", "storage.backend", "secrets.value"} <= keys


@pytest.fixture(scope="module")
def items():
    return cm.build(BIN)


def test_the_map_lists_what_imgd_defines_and_finds_the_tests(items):
    """Sanity of the real inputs: the map must see the commands, flags, keys and endpoints
    that are known to exist, and credit tests known to name some of them."""
    names = {i.group: set() for i in items}
    for i in items:
        names[i.group].add(i.name)
    assert {"imgd serve", "imgd bucket create", "imgd cache purge", "imgd sign"} <= names["CLI commands"]
    assert {"imgd --config", "imgd bucket origin --none", "imgd bucket policy --clear-public-styles"} <= names["CLI flags"]
    assert {"GET /buckets", "POST /variants/purge", "PUT /buckets/{bucket}/origin"} <= names["admin endpoints"]
    config = {n.split(" ")[0] for n in names["config keys"]}
    assert {"listen", "storage.backend", "cache.enabled", "buckets.origin", "buckets.referers",
            "buckets.public_styles", "secrets.value"} <= config
    by_name = {i.name: i for i in items}
    assert "test_cli.py" in by_name["imgd bucket create"].covered_by
    assert "test_signed.py" in by_name["imgd sign --expires-in"].covered_by


def test_a_test_removed_is_a_gap_reported(tmp_path):
    """The whole map over a tree whose only test names two things: those two are covered,
    their neighbours are not, and the report names the gaps."""
    root = tmp_path / "tree"
    (root / "tests" / "integration").mkdir(parents=True)
    for name in ("crates", "docs", "README.md"):
        (root / name).symlink_to(ROOT / name)
    (root / "tests" / "integration" / "test_only.py").write_text(
        'def test_it(imgd):\n'
        '    imgd.cli("cache", "stats", "--server", imgd.endpoint)\n'
        '    requests.post(f"{imgd.endpoint}/_imgd/admin/variants/purge", json={})\n'
        '    Imgd(d, env={"IMGD_REGION": "eu-west-3"})\n')
    # Rust tests of the real crates count too; only the Python side is under test here.
    got = {i.name: [f for f in i.covered_by if f.endswith(".py")] for i in cm.build(BIN, root=root)}
    assert got["imgd cache stats"] == ["test_only.py"] and got["imgd cache stats --server"] == ["test_only.py"]
    assert got["imgd cache purge"] == [] and got["imgd cache purge --server"] == []
    assert got["POST /variants/purge"] == ["test_only.py"] and got["GET /variants"] == []
    assert got["region (IMGD_REGION)"] == ["test_only.py"]
    assert got["listen (IMGD_LISTEN)"] == []
    text = cm.report(cm.build(BIN, root=root), listing=False)
    assert "imgd cache purge --server" in text and "GET /variants" in text and "imgd cache stats\n" not in text


def test_every_item_is_named_by_a_test(items):
    if any(not i.covered_by for i in items):
        pytest.fail(cm.report(items, listing=False), pytrace=False)



def test_rust_test_modules_are_told_apart_from_code(tmp_path):
    (tmp_path / "extra.rs").write_text('fn t() { let _ = "IMGD_IN_TEST_FILE"; }\n')
    src = tmp_path / "lib.rs"
    src.write_text('''
const A: &str = "IMGD_REAL";
#[cfg(test)]
mod extra;
#[cfg(test)]
mod tests {
    const B: char = '{';
    const C: char = '\\'';
    // a } in a comment
    fn f() { let s = "}{\\""; let r = r#"[x]"}"#; let _ = "IMGD_IN_TESTS"; }
}
fn after() -> &'static str { "IMGD_AFTER" }
''')
    plain, inline, files = cm.split_rust_tests(src)
    assert "IMGD_REAL" in plain and "IMGD_AFTER" in plain and "IMGD_IN_TESTS" not in plain
    assert "IMGD_IN_TESTS" in inline and "IMGD_AFTER" not in inline
    assert files == [tmp_path / "extra.rs"]


def test_config_keys_agree_with_what_the_config_file_accepts():
    """`imgd config keys` and the file loader's own refusals list the same keys, and every
    variable follows the documented naming rule."""
    keys, problem = cm.config_keys(BIN)
    assert problem is None, problem
    plain, entries = cm.probe_config_tree(BIN)
    assert {k for k, _ in keys} == set(plain) | set(entries)
    assert [k for k, _ in keys] == sorted(k for k, _ in keys)
    for key, var in keys:
        assert var == ("" if key in entries else cm.variable_of(key)), key
