"""Keep docs/benchmarks.md as one section per benchmark, each replaced when that benchmark runs again."""

from __future__ import annotations

import re
from pathlib import Path

HEADER = "# Benchmarks\n\nFigures written by the scripts in `benchmarks/`; rerun a script to refresh its section.\n"


def write_section(path: Path, title: str, intro: str, body: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    section = f"## {title}\n\n{intro}\n\n{body}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _: section + "\n", text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
