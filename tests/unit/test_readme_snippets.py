"""The README's "Use it with…" snippets are the files the tests run, word for word.

A fenced block whose first line is a comment naming a file under examples/ or deploy/
(`# examples/fastapi_app.py`) must be that file's exact text: the tests that run the file
then exercise what a reader copies.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```[\w-]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
NAMED = re.compile(r"\A(?:#|--|//) ((?:examples|deploy)/[\w./-]+)\n")


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def named_snippets(markdown: str) -> dict[str, str]:
    """{file: block text} for every fenced block that names its file on its first line."""
    found = {}
    for block in FENCE.findall(markdown):
        match = NAMED.match(block)
        if match:
            found[match.group(1)] = block
    return found


def test_named_snippets_are_found_in_fenced_blocks():
    text = "x\n```python\n# examples/a.py\nprint(1)\n```\n```\nplain\n```\n"
    assert named_snippets(text) == {"examples/a.py": "# examples/a.py\nprint(1)\n"}


def test_use_it_with_snippets_are_the_tested_files():
    readme = (ROOT / "README.md").read_text()
    assert len(named_snippets(_section(readme, "Use it with"))) >= 6
    for name, block in named_snippets(readme).items():
        path = ROOT / name
        assert path.is_file(), f"README names {name}, which does not exist"
        assert block == path.read_text(), f"README's copy of {name} differs from the file"
