#!/usr/bin/env python3
"""Checks that docs/guide.md (and README.md) show the guide's example programs exactly as they are.

Every ```cpp block of docs/guide.md whose first line is a marker

    // file: examples/guide/NN_name.cpp

must continue with that file's contents, byte for byte (the marker line is not part of the
file). Every examples/guide/*.cpp must be shown by at least one such block, so a new example
cannot be left out of the guide either. README.md's marked blocks (its short program) are checked
the same way.

    python3 tests/guide_sync.py [REPO_ROOT]            check (exit status 1 on a mismatch)
    python3 tests/guide_sync.py [REPO_ROOT] --update   rewrite the blocks from the files
"""
import difflib
import pathlib
import re
import sys

MARKER = re.compile(r"^// file: (examples/guide/[0-9A-Za-z_]+\.cpp)$")
BLOCK = re.compile(r"^```cpp\n(// file: [^\n]*)\n(.*?)^```$", re.S | re.M)


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    update = "--update" in argv
    root = pathlib.Path(args[0] if args else pathlib.Path(__file__).resolve().parent.parent)
    problems, shown = [], set()

    def sync(doc_rel):
        doc_path = root / doc_rel
        guide = doc_path.read_text(encoding="utf-8")

        def check(match):
            marker, body = match.group(1), match.group(2)
            m = MARKER.match(marker)
            if not m:
                problems.append(f"{doc_rel}: malformed marker {marker!r}")
                return match.group(0)
            rel = m.group(1)
            path = root / rel
            if not path.is_file():
                problems.append(f"{doc_rel} shows {rel}, which does not exist")
                return match.group(0)
            if doc_rel == "docs/guide.md":
                shown.add(rel)
            text = path.read_text(encoding="utf-8")
            if not text.endswith("\n"):
                text += "\n"
            if body != text:
                if update:
                    return f"```cpp\n{marker}\n{text}```"
                diff = difflib.unified_diff(text.splitlines(), body.splitlines(), rel, doc_rel, lineterm="", n=1)
                problems.append(f"{doc_rel}'s copy of {rel} differs from the file:\n" + "\n".join(list(diff)[:40]))
            return match.group(0)

        new_guide = BLOCK.sub(check, guide)
        for line_no, line in enumerate(guide.splitlines(), 1):  # a marker outside a ```cpp block's first line
            if line.startswith("// file:") and not any(m.group(1) == line for m in BLOCK.finditer(guide)):
                problems.append(f"{doc_rel}:{line_no}: marker not at the top of a ```cpp block: {line}")
        if update and new_guide != guide:
            doc_path.write_text(new_guide, encoding="utf-8")
            print(f"updated {doc_path}")

    sync("docs/guide.md")
    sync("README.md")
    for path in sorted((root / "examples" / "guide").glob("*.cpp")):
        rel = path.relative_to(root).as_posix()
        if rel not in shown:
            problems.append(f"{rel} is not shown in docs/guide.md (add a ```cpp block starting with '// file: {rel}')")
    if update:
        problems = [p for p in problems if "differs from the file" not in p]
    if not shown:
        problems.append("docs/guide.md shows no example files")
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        return 1
    print(f"docs/guide.md shows {len(shown)} example files, each exactly as it is")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
