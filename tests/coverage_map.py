#!/usr/bin/env python3
"""The coverage map: everything imgd defines that a user can set or call, and the tests that
name it.

Items come from the program itself, not from a hand-kept list:
- CLI commands and flags: `imgd --help`, walked recursively through every subcommand;
  `[env: IMGD_X]` markers in that help are variables too.
- Configuration keys and their variables: `imgd config keys` (`<toml key>\\t<IMGD_VARIABLE>`
  lines). The configuration file's own refusal of unknown fields ("expected one of ...")
  adds what that command leaves out: the fields of `[[buckets]]` and `[[secrets]]` entries.
- Other variables: `"IMGD_*"` string literals in the crates' non-test code.
- Admin endpoints: the `paths:` of docs/openapi.yaml with their methods.

An item is "named by a test" when:
- variable: the literal `IMGD_X` appears in a string of a test (Python integration tests,
  Rust tests; docstrings and comments do not count);
- config key: its variable is named, or the key is assigned in TOML text inside a test;
- command: its words appear as CLI arguments (`"cache", "purge"` or `"cache purge"`);
- flag: the literal `--flag` appears in a string of a test file that also names its command;
- admin endpoint: a string in a test matches the path (`{param}` = any segment) and the
  enclosing call or tuple names the method (`requests.get(...)`, `call(s, "PUT", path)`).

Usage: coverage_map.py [--bin PATH] [--list]. Exit status 1 when something is uncovered.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The map and its own test name everything; they must not count as coverage.
SELF_FILES = {"coverage_map.py", "test_coverage_map.py"}
HTTP_METHODS = ("get", "put", "post", "delete", "head", "patch", "options")
# clap adds these to every command; the map itself runs `--help` on each.
AUTO_FLAGS = {"--help"}
AUTO_COMMANDS = {"help"}


def default_bin() -> str:
    return os.environ.get("IMGD_BIN", str(ROOT / "target" / "release" / "imgd"))


# ---------------------------------------------------------------------------------------
# Sources of truth
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class HelpPage:
    commands: list[str]
    flags: list[str]
    env_vars: list[str]


def parse_help(text: str) -> HelpPage:
    """Reads clap's help: subcommands under "Commands:", long flags under "Options:"."""
    commands, flags, env_vars = [], [], []
    section = None
    for line in text.splitlines():
        if line and not line[0].isspace():
            head = line.split(":", 1)[0].strip().lower()
            section = head if line.rstrip().endswith(":") else None
            continue
        if section == "commands":
            # Entries sit at two spaces; wrapped descriptions are indented further.
            m = re.match(r"^ {2}([a-z][a-z0-9-]*)(?:\s|,|$)", line)
            if m and m.group(1) not in AUTO_COMMANDS:
                commands.append(m.group(1))
        elif section == "options":
            m = re.match(r"^ {2,6}(?:-[A-Za-z0-9], )?(--[a-z0-9][a-z0-9-]*)", line)
            if m and m.group(1) not in AUTO_FLAGS:
                flags.append(m.group(1))
        env_vars += re.findall(r"\[env: (IMGD_[A-Z0-9_]+)", line)
    return HelpPage(commands, flags, env_vars)


def run_bin(binary: str, *args: str) -> subprocess.CompletedProcess:
    # A clean environment: the test run's own IMGD_* variables (IMGD_BIN, ...) must not
    # change what the program reports about itself.
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGD_")}
    return subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=60)


def walk_cli(binary: str) -> tuple[dict[tuple[str, ...], list[str]], list[str]]:
    """Every command path (() is `imgd` itself) with its own flags, and the help's variables.

    A flag that the root defines (global, e.g. `--config`) is listed once, on the root."""
    tree: dict[tuple[str, ...], list[str]] = {}
    env_vars: list[str] = []
    root_flags: set[str] = set()
    todo: list[tuple[str, ...]] = [()]
    while todo:
        path = todo.pop(0)
        r = run_bin(binary, *path, "--help")
        if r.returncode != 0:
            raise RuntimeError(f"imgd {' '.join(path)} --help failed: {r.stderr}")
        page = parse_help(r.stdout)
        if not path:
            root_flags = set(page.flags)
            tree[path] = page.flags
        else:
            tree[path] = [f for f in page.flags if f not in root_flags]
        env_vars += page.env_vars
        todo += [path + (c,) for c in page.commands]
        if len(tree) > 500:
            raise RuntimeError("the command tree does not end")
    return tree, sorted(set(env_vars))


def parse_config_keys(text: str) -> list[tuple[str, str]]:
    """`<toml key path>\\t<IMGD_VARIABLE>` lines (the variable may be empty: no variable)."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        key = parts[0].strip()
        var = parts[1].strip() if len(parts) > 1 else ""
        if len(parts) > 2 or not re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)*", key) or (
            var and not re.fullmatch(r"IMGD_[A-Z0-9_]+", var)
        ):
            raise ValueError(f"config keys line {n} is not '<key>\\t<IMGD_VAR>': {line!r}")
        out.append((key, var))
    return out


def config_keys(binary: str) -> tuple[list[tuple[str, str]], str | None]:
    """The program's configuration keys, or an explanation of why they are unavailable."""
    r = run_bin(binary, "config", "keys")
    if r.returncode != 0:
        first = (r.stderr.strip().splitlines() or [""])[0][:200]
        return [], f"`imgd config keys` failed (exit {r.returncode}): {first}"
    keys = parse_config_keys(r.stdout)
    if not keys:
        return [], "`imgd config keys` printed nothing"
    return keys, None


PROBE_FIELD = "imgd_coverage_probe"


def probe_fields(binary: str, header: str) -> list[str] | None:
    """The fields the program accepts in one table of the configuration file, read from its
    refusal of an unknown one (serde's "unknown field `x`, expected one of `a`, `b`"); None
    when the table does not take fields. Runs in a scratch directory, since a file that
    loads would let the command go on to use its data_dir."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = pathlib.Path(tmp) / "probe.toml"
        data = pathlib.Path(tmp) / "data"
        cfg.write_text(f"data_dir = {json.dumps(str(data))}\n{header}\n{PROBE_FIELD} = 1\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("IMGD_")}
        r = subprocess.run([binary, "--config", str(cfg), "credentials"], env=env, cwd=tmp,
                           capture_output=True, text=True, timeout=60)
    return parse_unknown_field_error(r.stderr)


def parse_unknown_field_error(stderr: str) -> list[str] | None:
    m = re.search(rf"unknown field `{PROBE_FIELD}`, expected (.*)", stderr)
    if not m:
        return None
    return re.findall(r"`([a-z0-9_]+)`", m.group(1))


def probe_config_tree(binary: str, known: set[str] = frozenset()) -> tuple[list[str], list[str]]:
    """(keys of the top level and its sections, fields of its arrays of tables), derived
    from the program's own refusals of unknown fields. Top-level keys in `known` (already
    listed, themselves or their fields) are not probed further."""
    top = probe_fields(binary, "")
    if not top:
        raise RuntimeError("the configuration file does not refuse unknown keys; cannot list them")
    plain, entries = [], []
    for key in top:
        if key in known:
            continue
        section = probe_fields(binary, f"[{key}]")
        if section:
            plain += [f"{key}.{f}" for f in section]
            continue
        entry = probe_fields(binary, f"[[{key}]]")
        if entry:
            entries += [f"{key}.{f}" for f in entry]
            continue
        plain.append(key)
    return sorted(plain), sorted(entries)


def toml_key_paths(doc: dict, prefix: str = "") -> set[str]:
    """Dotted key paths of a parsed TOML document; arrays of tables contribute their
    entries' fields (`buckets.name`)."""
    out = set()
    for k, v in doc.items():
        path = f"{prefix}{k}"
        out.add(path)
        if isinstance(v, dict):
            out |= toml_key_paths(v, path + ".")
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for item in v:
                out |= toml_key_paths(item, path + ".")
    return out


def variable_of(key: str) -> str:
    """The README's rule: `[storage] backend` is IMGD_STORAGE_BACKEND."""
    return "IMGD_" + key.replace(".", "_").upper()


def code_variables(code: dict[str, str]) -> dict[str, list[str]]:
    """`"IMGD_*"` string literals in the crates' non-test code, with where they occur."""
    found: dict[str, list[str]] = {}
    for name, text in code.items():
        for var in re.findall(r'"(IMGD_[A-Z0-9_]+)"', text):
            found.setdefault(var, []).append(name)
    return found


def parse_openapi_paths(text: str) -> list[tuple[str, str]]:
    """(METHOD, path) pairs under `paths:`: paths at two spaces, methods at four."""
    out = []
    in_paths = False
    current = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            in_paths = line.rstrip() == "paths:"
            current = None
            continue
        if not in_paths:
            continue
        m = re.match(r"^ {2}(/[^:\s]*)\s*:\s*$", line) or re.match(r"^ {2}['\"](/[^'\"]*)['\"]\s*:\s*$", line)
        if m:
            current = m.group(1)
            continue
        m = re.match(r"^ {4}([a-z]+)\s*:", line)
        if m and current and m.group(1) in HTTP_METHODS:
            out.append((m.group(1).upper(), current))
    return out


# ---------------------------------------------------------------------------------------
# What the tests name
# ---------------------------------------------------------------------------------------

HOLE = "\x00"  # stands for an f-string's {expression}


def flat_string(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for v in node.values:
            if isinstance(v, ast.Constant) and isinstance(v.value, str):
                parts.append(v.value)
            else:
                parts.append(HOLE)
        return "".join(parts)
    return None


@dataclasses.dataclass
class PyTest:
    name: str
    strings: list[str]
    # (path-like string, methods named by the call or tuple around it)
    calls: list[tuple[str, set[str]]]
    # positional arguments of every call and elements of every list/tuple (None: not a string)
    arg_seqs: list[list[str | None]]


def methods_around(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> set[str]:
    """HTTP methods named by the nearest call or tuple/list holding this string."""
    methods: set[str] = set()
    cur = node
    for _ in range(4):
        cur = parents.get(cur)
        if cur is None:
            break
        if isinstance(cur, ast.Call):
            func = cur.func
            if isinstance(func, ast.Attribute) and func.attr in HTTP_METHODS:
                methods.add(func.attr.upper())
            for a in cur.args + [k.value for k in cur.keywords]:
                s = flat_string(a)
                if s and s.lower() in HTTP_METHODS and s.isupper():
                    methods.add(s)
            break
        if isinstance(cur, (ast.Tuple, ast.List)):
            for a in cur.elts:
                s = flat_string(a)
                if s and s.lower() in HTTP_METHODS and s.isupper():
                    methods.add(s)
            if methods:
                break
    return methods


def load_python_test(path: pathlib.Path) -> PyTest:
    text = path.read_text(errors="replace")
    tree = ast.parse(text)
    parents = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    strings, calls = [], []
    for node in ast.walk(tree):
        # The parts of an f-string are visited through the f-string itself; docstrings and
        # other bare string statements are prose, not something the test passes.
        if isinstance(parents.get(node), (ast.JoinedStr, ast.Expr)):
            continue
        s = flat_string(node)
        if s is None:
            continue
        strings.append(s)
        calls.append((s, methods_around(node, parents)))
    arg_seqs = []
    for node in ast.walk(tree):
        elems = node.args if isinstance(node, ast.Call) else node.elts if isinstance(node, (ast.List, ast.Tuple)) else None
        if elems:
            arg_seqs.append([flat_string(e) for e in elems])
    return PyTest(path.name, strings, calls, arg_seqs)


def rust_string_literals(code: str) -> list[str]:
    """String literals of Rust code, unescaped enough for TOML text (`\\n`, `\\"`, raw)."""
    out = []
    for m in re.finditer(r'r(#*)"(.*?)"\1|"((?:[^"\\]|\\.)*)"', code, flags=re.S):
        if m.group(2) is not None:
            out.append(m.group(2))
        else:
            s = m.group(3)
            s = re.sub(r"\\\n\s*", "", s)
            s = s.replace('\\"', '"').replace("\\n", "\n").replace("\\t", "\t").replace("\\\\", "\\")
            out.append(s)
    return out


def rust_block_end(code: str, start: int) -> int:
    """Index just past the `{ ... }` block opening at or after `start`, skipping braces in
    strings, chars and comments."""
    i, depth, n = code.index("{", start), 0, len(code)
    while i < n:
        c = code[i]
        if code.startswith("//", i):
            i = code.find("\n", i)
            i = n if i < 0 else i
        elif code.startswith("/*", i):
            end = code.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        elif (m := re.match(r'r(#*)"', code[i:i + 260])) and (i == 0 or not code[i - 1].isalnum()):
            end = code.find('"' + m.group(1), i + len(m.group(0)))
            i = n if end < 0 else end + 1 + len(m.group(1))
            continue
        elif c == '"':
            i += 1
            while i < n and code[i] != '"':
                i += 2 if code[i] == "\\" else 1
        elif c == "'" and (code[i + 1:i + 2] == "\\" or code[i + 2:i + 3] == "'"):
            i = code.find("'", i + 3) if code[i + 1] == "\\" else i + 2
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return n


def split_rust_tests(path: pathlib.Path) -> tuple[str, str, list[pathlib.Path]]:
    """(non-test code, inline `#[cfg(test)] mod x { ... }` code, files of `#[cfg(test)] mod x;`)."""
    code = path.read_text(errors="replace")
    tests, files, keep, pos = [], [], [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*([;{])", code):
        if m.start() < pos:
            continue
        keep.append(code[pos:m.start()])
        if m.group(2) == ";":
            base = path.parent if path.name in ("mod.rs", "lib.rs", "main.rs") else path.with_suffix("")
            files += [f for f in (base / f"{m.group(1)}.rs", base / m.group(1) / "mod.rs") if f.exists()]
            pos = m.end()
        else:
            end = rust_block_end(code, m.end() - 1)
            tests.append(code[m.start():end])
            pos = end
    keep.append(code[pos:])
    return "".join(keep), "".join(tests), files


def rust_sources(root: pathlib.Path = ROOT) -> tuple[dict[str, str], dict[str, str]]:
    """(non-test code, test code) of the crates, by file. Test code: `tests/*.rs`, inline
    `#[cfg(test)]` modules, and the files of `#[cfg(test)] mod x;` declarations."""
    code, tests = {}, {}
    for path in sorted((root / "crates").glob("*/tests/**/*.rs")):
        tests[str(path.relative_to(root))] = path.read_text(errors="replace")
    test_files: set[pathlib.Path] = set()
    sources = sorted((root / "crates").glob("*/src/**/*.rs"))
    for path in sources:
        plain, inline, files = split_rust_tests(path)
        test_files |= set(files)
        code[str(path.relative_to(root))] = plain
        if inline:
            tests[str(path.relative_to(root))] = inline
    for path in test_files:
        rel = str(path.relative_to(root))
        code.pop(rel, None)
        tests[rel] = path.read_text(errors="replace")
    return code, tests


def toml_assigned_keys(strings: list[str]) -> set[str]:
    """Key paths assigned by the strings that are TOML documents (config text in a test)."""
    keys: set[str] = set()
    for s in strings:
        if "\n" not in s or "=" not in s:
            continue
        try:
            doc = tomllib.loads(s.replace(HOLE, "0"))
        except tomllib.TOMLDecodeError:
            continue
        keys |= toml_key_paths(doc)
    return keys


def command_named(words: tuple[str, ...], test: PyTest) -> bool:
    """The words appear in order as the CLI arguments of a call or a list (`"cache", "purge"`),
    or begin one such argument (`"cache purge --bucket b"`, `"imgd cache purge"`)."""
    n = len(words)
    for seq in test.arg_seqs:
        for i in range(len(seq) - n + 1):
            if tuple(seq[i:i + n]) == words:
                return True
        for s in seq:
            parts = s.split() if s else []
            if parts[:n] == list(words) or parts[:n + 1] == ["imgd", *words]:
                return True
    return False


def flag_named(flag: str, strings: list[str]) -> bool:
    """The flag, whole, in a string the test passes (`"--none"`, `f"--miss-ttl={n}"`)."""
    rx = re.compile(r"(?<![A-Za-z0-9_-])" + re.escape(flag) + r"(?![A-Za-z0-9_-])")
    return any(rx.search(s) for s in strings)


def variable_named(var: str, strings: list[str]) -> bool:
    rx = re.compile(rf"\b{re.escape(var)}\b")
    return any(rx.search(s) for s in strings)


def path_regex(path: str) -> re.Pattern:
    parts = [r"[^/?#\s]+" if re.fullmatch(r"\{[^}]+\}", seg) else re.escape(seg)
             for seg in path.strip("/").split("/")]
    return re.compile("^" + "/".join(parts) + r"/?(?:\?.*)?$", re.S)


def admin_relative(s: str) -> str | None:
    """The part of a string after `/_imgd/admin/`, or the string itself when it is a bare
    relative path (as passed to a test's own admin helper)."""
    if "/_imgd/admin/" in s:
        return s.split("/_imgd/admin/", 1)[1]
    if "://" in s or s.startswith("/") or " " in s:
        return None
    return s


# ---------------------------------------------------------------------------------------
# The map
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class Item:
    group: str
    name: str
    covered_by: list[str]


GROUPS = ("config keys", "environment variables", "CLI commands", "CLI flags", "admin endpoints", "errors")


def build(binary: str, root: pathlib.Path = ROOT) -> list[Item]:
    py_tests = [load_python_test(p) for p in sorted((root / "tests" / "integration").glob("*.py"))
                if p.name not in SELF_FILES]
    rust_code, rust_tests = rust_sources(root)
    items: list[Item] = []

    rust_strings = {name: rust_string_literals(code) for name, code in rust_tests.items()}

    def var_files(var: str) -> list[str]:
        return ([t.name for t in py_tests if variable_named(var, t.strings)]
                + [n for n, strings in rust_strings.items() if variable_named(var, strings)])

    assigned: dict[str, set[str]] = {t.name: toml_assigned_keys(t.strings) for t in py_tests}
    for name, strings in rust_strings.items():
        assigned[name] = toml_assigned_keys(strings)

    # Configuration keys (and the variable of each). `config keys` is the authority for
    # variables; the probe adds what it leaves out (the fields of `[[buckets]]` entries).
    keys, problem = config_keys(binary)
    if problem:
        items.append(Item("errors", f"configuration keys unavailable: {problem}", []))
    listed = {k for k, _ in keys}
    plain, entries = probe_config_tree(binary, {k.split(".")[0] for k in listed})
    if problem:
        keys = [(k, variable_of(k)) for k in plain]
    keys += [(k, "") for k in sorted(set(plain + entries) - listed - {k for k, _ in keys})]
    all_vars: set[str] = set()
    for key, var in keys:
        files = sorted({n for n, ks in assigned.items() if key in ks} | set(var_files(var) if var else []))
        label = f"{key} ({var})" if var else key
        items.append(Item("config keys", label, files))
        if var:
            all_vars.add(var)

    # Variables that are not configuration keys: clap `env =` and literals in the code.
    tree, help_vars = walk_cli(binary)
    for var in sorted((set(help_vars) | set(code_variables(rust_code))) - all_vars):
        items.append(Item("environment variables", var, sorted(set(var_files(var)))))

    # Commands and flags.
    for path, flags in sorted(tree.items()):
        if path:
            files = [t.name for t in py_tests if command_named(path, t)]
            items.append(Item("CLI commands", "imgd " + " ".join(path), files))
        else:
            files = [t.name for t in py_tests]
        for flag in flags:
            ffiles = [t.name for t in py_tests if t.name in files and flag_named(flag, t.strings)]
            items.append(Item("CLI flags", " ".join(("imgd", *path, flag)), ffiles))

    # Admin endpoints.
    for method, path in parse_openapi_paths((root / "docs" / "openapi.yaml").read_text()):
        rx = path_regex(path)
        files = sorted({t.name for t in py_tests for s, methods in t.calls
                        if method in methods and (rel := admin_relative(s)) is not None and rx.match(rel)})
        items.append(Item("admin endpoints", f"{method} {path}", files))
    return items


def report(items: list[Item], listing: bool) -> str:
    lines = []
    if listing:
        for group in GROUPS:
            members = [i for i in items if i.group == group]
            if not members:
                continue
            lines.append(f"{group} ({len(members)}):")
            for i in members:
                by = ", ".join(i.covered_by) if i.covered_by else "-- NOT TESTED --"
                lines.append(f"  {i.name}: {by}")
        lines.append("")
    missing = [i for i in items if not i.covered_by]
    if not missing:
        lines.append(f"coverage map: all {len(items)} items are named by a test")
        return "\n".join(lines)
    lines.append(f"coverage map: {len(missing)} of {len(items)} items are named by no test")
    for group in GROUPS:
        members = [i for i in missing if i.group == group]
        if members:
            lines.append(f"  {group} ({len(members)}):")
            lines += [f"    {i.name}" for i in members]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=default_bin(), help="the imgd binary (default: $IMGD_BIN or target/release/imgd)")
    ap.add_argument("--list", action="store_true", help="print every item with the test files that name it")
    args = ap.parse_args(argv)
    items = build(args.bin)
    print(report(items, args.list))
    return 0 if all(i.covered_by for i in items) else 1


if __name__ == "__main__":
    sys.exit(main())
