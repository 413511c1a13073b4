#!/usr/bin/env python3
"""Lines of test setup per integration test, and the duplication that inflates them.

Usage: scripts/test-setup-lines.py [--rev REV] [--only PATH_PART] [--top N] [DIR]
(DIR defaults to tests/it; --only counts the tests of matching files, e.g. --only pull.rs;
--top N also lists the N tests with the most setup lines, and the files by total)

Definitions (plain on purpose, so a before/after comparison is easy to check by hand):
- A test is a `#[test]` function under DIR, outside DIR/support.
- An invocation is a line that runs imagectl: a direct marker (`imagectl(`, `.imagectl()`,
  `imagectl_with_home(`, `imagectl_process(`, `imagectl_bin(`, or the library entry points
  the copy tests drive: `Copier::`, `RegistryClient::`), or a call of any function defined
  under DIR whose body (transitively) contains one (a method by `.name(ARGS)`, an
  associated function of `impl Type` by `Type::name(`, e.g. run.rs's `Daemon::start(`).
- Setup lines of a test: the non-blank, non-comment lines of its body before its first
  invocation. Tests that never invoke imagectl (pure fixture checks) are left out and
  counted apart.
Also printed: occurrences of `Registry::start` and `.output().unwrap()`, and definitions of
the helpers the issue found duplicated (stdout/stderr/text writers, policy writers, blob
probes), with how many files define each.

With --rev, the files are read from that git revision instead of the work tree.
"""

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

DIRECT = re.compile(
    r"\bimagectl\(|\.imagectl\(\)|\bimagectl_with_home\(|\bimagectl_process\(|"
    r"\bimagectl_bin\(|\bCopier::|\bRegistryClient::"
)
FN_DEF = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?fn\s+([A-Za-z_][A-Za-z0-9_]*)")
WATCHED = [
    "stdout", "stderr", "text", "out_text", "ok", "write_policy", "write", "policy",
    "blob_present", "blob_exists", "has_blob", "blob_files", "blob_bytes", "blob_path",
]


def read_files(root, rev):
    """{relative path: text} of the .rs files under root."""
    if rev is None:
        return {
            str(p.relative_to(root)): p.read_text()
            for p in sorted(Path(root).rglob("*.rs"))
        }
    names = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", rev, "--", root],
        check=True, capture_output=True, text=True,
    ).stdout.split()
    out = {}
    for n in names:
        if n.endswith(".rs"):
            text = subprocess.run(
                ["git", "show", f"{rev}:{n}"], check=True, capture_output=True, text=True
            ).stdout
            out[str(Path(n).relative_to(root))] = text
    return out


def strip_code(text):
    """The text with comments, string and char literals blanked (newlines kept), so
    braces and markers are only counted in code."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:]) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r"r(#*)\"", text[i:]).group(1)
            end = '"' + hashes
            j = text.find(end, i + 2 + len(hashes))
            j = n if j < 0 else j + len(end)
            out.append('""' + re.sub(r"[^\n]", " ", text[i + 2:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j += 1
            out.append('""' + re.sub(r"[^\n]", " ", text[i + 2:j]))
            i = j
        elif c == "'":
            m = re.match(r"'(\\.[^']*|[^\\'])'", text[i:])
            if m:
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


IMPL = re.compile(r"^impl(?:<[^>]*>)?\s+(?:[A-Za-z_][A-Za-z0-9_:]*\s+for\s+)?([A-Za-z_][A-Za-z0-9_]*)")


def functions(code):
    """(name, start line, body lines, is_test, impl type or None) for every fn with a body."""
    lines = code.split("\n")
    found = []
    i = 0
    impl = None
    while i < len(lines):
        im = IMPL.match(lines[i])
        if im:
            impl = im.group(1)
        elif lines[i][:1] not in ("", " ", "\t", "}"):
            impl = None
        m = FN_DEF.match(lines[i])
        if not m:
            i += 1
            continue
        is_test = any("#[test]" in lines[k] for k in range(max(0, i - 3), i))
        # Find the opening brace of the body (a `;` first means a declaration).
        depth, j, started, body_start = 0, i, False, None
        while j < len(lines):
            line = lines[j]
            for ch in line:
                if not started and ch == ";":
                    break
                if ch == "{":
                    if not started:
                        started, body_start = True, j
                    depth += 1
                elif ch == "}":
                    depth -= 1
            if (not started and ";" in line) or (started and depth == 0):
                break
            j += 1
        if started:
            owner = impl if lines[i][:1].isspace() else None
            found.append((m.group(1), i, lines[body_start + 1:j], is_test, owner))
        i = j + 1 if started else i + 1
    return found


def body_indent(code, start):
    """Whether the fn starting at line `start` is indented (a method)."""
    line = code.split("\n")[start]
    return line[:1].isspace()


def call_pattern(invoking):
    alts = [DIRECT.pattern]
    for is_method, f, owner in sorted(invoking, key=lambda k: (k[0], k[1], k[2] or "")):
        if owner:
            alts.append(rf"\b{re.escape(owner)}::{re.escape(f)}\s*\(")
        if is_method:
            alts.append(rf"\.{re.escape(f)}\(\s*[^)\s]")
        else:
            alts.append(rf"(?<![A-Za-z0-9_.:]){re.escape(f)}\s*(::<[^>]*>)?\(")
    return re.compile("|".join(alts))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", nargs="?", default="tests/it")
    ap.add_argument("--rev")
    ap.add_argument("--only", help="count only tests in files whose path contains this")
    ap.add_argument("--top", type=int, default=0, help="list the N heaviest tests and files")
    args = ap.parse_args()
    files = read_files(args.dir, args.rev)
    code = {path: strip_code(text) for path, text in files.items()}
    fns = {path: functions(c) for path, c in code.items()}

    # Functions that run imagectl, transitively. Names are global (a coarse but even rule);
    # a free function (defined at column 0) is matched by a bare call `name(`, a method
    # (indented, inside an impl) by `.name(ARGS)` with at least one argument, so that
    # `Registry::start()` or `result.ok()` never count as running imagectl.
    invoking = set()  # (is_method, name, impl type or None)
    bodies = [
        ((body_indent(code[path], start), name, owner), "\n".join(body))
        for path, fl in fns.items()
        for name, start, body, t, owner in fl
        if not t
    ]
    changed = True
    while changed:
        changed = False
        pattern = call_pattern(invoking)
        for key, body in bodies:
            if key in invoking:
                continue
            if pattern.search(body):
                invoking.add(key)
                changed = True
    call = call_pattern(invoking)

    setups, none, ranked = [], [], []
    for path, fl in fns.items():
        if path.startswith("support/") or (args.only and args.only not in path):
            continue
        for name, _, body, is_test, _ in fl:
            if not is_test:
                continue
            count = 0
            for line in body:
                if call.search(line):
                    break
                if line.strip():
                    count += 1
            else:
                none.append(f"{path}::{name}")
                continue
            setups.append(count)
            ranked.append((count, f"{path}::{name}"))

    raw = "\n".join(code.values())
    print(f"tests invoking imagectl: {len(setups)} (left out, never invoke it: {len(none)})")
    print(f"setup lines per test: mean {statistics.mean(setups):.1f}, "
          f"median {statistics.median(setups):.0f}, total {sum(setups)}")
    starts = len(re.findall(r"Registry::start\(\)", raw))
    outputs = len(re.findall(r"\.output\(\)\s*\.unwrap\(\)", raw))
    print(f"Registry::start() calls: {starts}")
    print(f".output().unwrap() calls: {outputs}")
    defs = {}
    for path, fl in fns.items():
        for name, *_ in fl:
            if name in WATCHED:
                defs.setdefault(name, set()).add(path)
    total = sum(len(v) for v in defs.values())
    dup = {k: sorted(v) for k, v in defs.items() if len(v) > 1}
    print(f"watched helper definitions: {total} "
          f"(defined in more than one file: {', '.join(f'{k} x{len(v)}' for k, v in sorted(dup.items())) or 'none'})")
    if args.top:
        print(f"heaviest {args.top} tests (setup lines):")
        for count, test in sorted(ranked, key=lambda r: (-r[0], r[1]))[: args.top]:
            print(f"  {count:4} {test}")
        per_file = {}
        for count, test in ranked:
            per_file.setdefault(test.split("::")[0], []).append(count)
        print(f"heaviest {args.top} files (total setup lines, tests):")
        for path, counts in sorted(per_file.items(), key=lambda kv: (-sum(kv[1]), kv[0]))[: args.top]:
            print(f"  {sum(counts):4} {len(counts):3} {path}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # piped into head
        sys.exit(0)
