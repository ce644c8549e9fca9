#!/usr/bin/env python3
"""Structural checks over the workspace's Rust sources (crates/*/src, bench/*/src).

1. Import circles: two sibling modules of one crate that reference each other
   (`crate::b`, `super::b`, `use super::{.., b, ..}`, a name a parent re-exports from b,
   or `b::…` after a `use super::*`). A directory module `foo/mod.rs` + `foo/*.rs`
   counts as one module `foo` at its parent's level, and its children are checked among
   themselves. A child using its parent's items and a parent using its child's is the
   ordinary Rust shape and is not reported.
2. Long files: a source file over MAX_LINES lines must say why in a `//` or `//!`
   comment within its first HEADER_LINES lines (one that mentions "long" or "lines").

Test code is left out: files named tests.rs, anything under a tests/ directory inside
src, and inline `#[cfg(test)] mod … { … }` blocks. Prints each violation and exits 1 if
there is any. Standard library only.

Usage: scripts/check-structure.py [workspace root]   (default: the script's parent)
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

MAX_LINES = 600
HEADER_LINES = 15
# How many re-export hops a name is followed through before giving up (guards cycles).
MAX_HOPS = 8

Mod = tuple[str, ...]


@dataclass
class SourceFile:
    path: Path
    module: Mod
    code: str  # comments, strings and inline test modules blanked out, lines kept
    bindings: dict[str, list[str]] = field(default_factory=dict)
    globs: list[list[str]] = field(default_factory=list)  # `use x::*;` sources


def strip_comments_and_strings(text: str) -> str:
    """Blanks comments and string/char literals (keeping newlines) so that paths in
    docs, messages and examples are not taken for references."""
    out: list[str] = []
    i, n = 0, len(text)

    def blank(segment: str) -> str:
        return "".join("\n" if c == "\n" else " " for c in segment)

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(blank(text[i:end]))
            i = end
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(blank(text[i:j]))
            i = j
        elif m := re.match(r'b?r(#*)"', text[i:i + 260]):
            if i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_"):
                out.append(c)
                i += 1
                continue
            close = '"' + m.group(1)
            end = text.find(close, i + m.end())
            end = n if end < 0 else end + len(close)
            out.append(blank(text[i:end]))
            i = end
        elif c == '"' or (c == "b" and text.startswith('b"', i)):
            j = i + (2 if c == "b" else 1)
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(blank(text[i:j + 1]))
            i = j + 1
        elif c == "'":
            # A char literal ('a', '\n', '\u{1F600}'), otherwise a lifetime.
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'\n])'", text[i:i + 12])
            if m:
                out.append(blank(m.group(0)))
                i += m.end()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


TEST_MOD = re.compile(r"#\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{")


def strip_test_modules(code: str) -> str:
    """Blanks inline `#[cfg(test)] mod x { … }` blocks (after comments are gone)."""
    while m := TEST_MOD.search(code):
        depth, j = 1, m.end()
        while j < len(code) and depth:
            depth += {"{": 1, "}": -1}.get(code[j], 0)
            j += 1
        code = code[:m.start()] + "".join(
            "\n" if c == "\n" else " " for c in code[m.start():j]) + code[j:]
    return code


IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\*")


def parse_tree(code: str, i: int) -> tuple[list[tuple[list[str], str | None]], int]:
    """Parses a use tree (or a plain path) starting at `i`. Returns the expanded paths,
    each with its `as` alias (or None), and the index after the tree."""
    def skip_ws(k: int) -> int:
        while k < len(code) and code[k].isspace():
            k += 1
        return k

    prefix: list[str] = []
    i = skip_ws(i)
    while True:
        if i < len(code) and code[i] == "{":
            results: list[tuple[list[str], str | None]] = []
            i += 1
            while True:
                i = skip_ws(i)
                if i < len(code) and code[i] == "}":
                    i += 1
                    break
                sub, i = parse_tree(code, i)
                results.extend((prefix + p, alias) for p, alias in sub)
                i = skip_ws(i)
                if i < len(code) and code[i] == ",":
                    i += 1
                elif i < len(code) and code[i] == "}":
                    i += 1
                    break
                else:
                    break
            return results, i
        m = IDENT.match(code, i)
        if not m:
            return ([(prefix, None)] if prefix else []), i
        prefix.append(m.group(0))
        i = skip_ws(m.end())
        if code.startswith("::", i):
            i = skip_ws(i + 2)
            continue
        alias = None
        if a := re.match(r"as\s+([A-Za-z_][A-Za-z0-9_]*)", code[i:]):
            alias = a.group(1)
            i += a.end()
        return [(prefix, alias)], i


USE = re.compile(r"(?<![\w:])use\s+")
PATH_START = re.compile(r"(?<![\w:$])(crate|super|self)\s*::")


def use_bindings(code: str) -> tuple[dict[str, list[str]], list[list[str]]]:
    """Names bound by the file's `use` declarations, to the path they stand for, and
    the paths it glob-imports."""
    bindings: dict[str, list[str]] = {}
    globs: list[list[str]] = []
    for m in USE.finditer(code):
        paths, _ = parse_tree(code, m.end())
        for path, alias in paths:
            if path and path[-1] == "*":
                globs.append(path[:-1])
                continue
            if path and path[-1] == "self":
                path = path[:-1]
            if path:
                bindings[alias or path[-1]] = path
    return bindings, globs


BARE_START = re.compile(r"(?<![\w:$])([A-Za-z_][A-Za-z0-9_]*)\s*::")


def references(code: str, globbing: bool) -> list[tuple[int, list[str]]]:
    """Every path starting with `crate`, `super` or `self`, with its line number; with
    `globbing` (the file has `use …::*`), every other path too, since its first segment
    may be a sibling module the glob brought in."""
    found = []
    pattern = BARE_START if globbing else PATH_START
    for m in pattern.finditer(code):
        paths, _ = parse_tree(code, m.start())
        line = code.count("\n", 0, m.start()) + 1
        found.extend((line, p) for p, _ in paths)
    return found


class Crate:
    def __init__(self, name: str, src: Path, files: list[Path]):
        self.name = name
        self.src = src
        self.files: dict[Mod, SourceFile] = {}
        for path in files:
            module = module_of(src, path)
            if module is None:
                continue
            raw = path.read_text(encoding="utf-8", errors="replace")
            code = strip_test_modules(strip_comments_and_strings(raw))
            bindings, globs = use_bindings(code)
            self.files[module] = SourceFile(path, module, code, bindings, globs)

    def resolve(self, here: Mod, path: list[str], hops: int = 0) -> Mod | None:
        """The module `path`, written in module `here`, lands in: the deepest module it
        names, following names a module re-exports. None for other crates' paths."""
        segs = list(path)
        if not segs:
            return None
        cur: Mod
        if segs[0] == "crate":
            cur, segs = (), segs[1:]
        elif segs[0] in ("super", "self"):
            cur = here
            while segs and segs[0] in ("super", "self"):
                if segs[0] == "super":
                    if not cur:
                        return None
                    cur = cur[:-1]
                segs = segs[1:]
        elif (here + (segs[0],)) in self.files:
            cur = here
        else:
            # A name a glob import brought in: `use super::*;` then `sibling::f()`.
            globs = self.files[here].globs if here in self.files and hops < MAX_HOPS else []
            for glob in globs:
                source = self.resolve(here, glob, hops + 1)
                if source is not None and source + (segs[0],) in self.files:
                    return self.resolve(here, glob + segs, hops + 1)
            return None
        for seg in segs:
            child = cur + (seg,)
            if child in self.files:
                cur = child
                continue
            binding = self.files[cur].bindings.get(seg) if cur in self.files else None
            if binding and hops < MAX_HOPS and binding != [seg]:
                target = self.resolve(cur, binding, hops + 1)
                if target is not None:
                    return target
            break
        return cur


def module_of(src: Path, path: Path) -> Mod | None:
    rel = path.relative_to(src)
    parts = list(rel.parts)
    if parts[0] == "bin":
        return None  # separate binary crates; none exist today
    stem = parts[-1][:-3]
    if stem == "tests" or "tests" in parts[:-1]:
        return None
    if len(parts) == 1 and stem in ("lib", "main"):
        return ()
    if stem == "mod":
        return tuple(parts[:-1])
    return tuple(parts[:-1]) + (stem,)


def circles(crate: Crate) -> list[str]:
    edges: dict[tuple[Mod, Mod], list[str]] = defaultdict(list)
    for module, sf in crate.files.items():
        for line, path in references(sf.code, bool(sf.globs)):
            target = crate.resolve(module, path)
            if target is None:
                continue
            common = 0
            while (common < min(len(module), len(target))
                   and module[common] == target[common]):
                common += 1
            # Same module, or an ancestor/descendant: the parent-child relationship.
            if common == len(module) or common == len(target):
                continue
            a, b = module[:common + 1], target[:common + 1]
            rel = sf.path.relative_to(crate.src.parent.parent.parent)
            shown = path[:-1] if path[-1] == "self" else path
            edges[(a, b)].append(f"{rel}:{line} ({'::'.join(shown)})")
    def name(m: Mod) -> str:
        return "::".join(("crate",) + m)

    def evidence(a: Mod, b: Mod) -> str:
        why = edges[(a, b)]
        more = f" (+{len(why) - 1} more)" if len(why) > 1 else ""
        return f"    {name(a)} -> {name(b)}: {why[0]}{more}"

    found = []
    for a, b in sorted(edges):
        if a < b and (b, a) in edges:
            found.append(f"{crate.name}: {name(a)} <-> {name(b)}\n"
                         f"{evidence(a, b)}\n{evidence(b, a)}")
    return found


EXPLAINS = re.compile(r"\b(long|lines)\b", re.IGNORECASE)


def long_files(root: Path, files: list[Path]) -> list[str]:
    found = []
    for path in files:
        if module_of(path_src(path), path) is None:
            continue
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        if len(lines) <= MAX_LINES:
            continue
        header = [l.strip() for l in lines[:HEADER_LINES]]
        if any(l.startswith("//") and EXPLAINS.search(l) for l in header):
            continue
        found.append(f"{path.relative_to(root)}: {len(lines)} lines (over {MAX_LINES}) "
                     f"and no comment in the first {HEADER_LINES} lines says why")
    return found


def path_src(path: Path) -> Path:
    for parent in path.parents:
        if parent.name == "src":
            return parent
    raise ValueError(path)


def main() -> int:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    violations: list[str] = []
    all_files: list[Path] = []
    for src in sorted(list(root.glob("crates/*/src")) + list(root.glob("bench/*/src"))):
        files = sorted(src.rglob("*.rs"))
        all_files.extend(files)
        violations.extend(circles(Crate(src.parent.name, src, files)))
    violations.extend(long_files(root, all_files))
    for v in violations:
        print(v)
    if violations:
        print(f"\n{len(violations)} structure violation(s)", file=sys.stderr)
        return 1
    print("structure: no import circles, no unexplained long files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
