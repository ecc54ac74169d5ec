"""The designer guide's "Element reference" table is true: each row's diagram gets the row's verdict.

The table is read from ``docs/designer-guide.md``. A row names its diagrams (under ``tests/engine/diagrams/``),
uploaded together, and has text in exactly one of three columns:

* *Runs as in Camunda 7*: the upload deploys without any problem (a ⚠ row too: it deploys, its cell says how it
  still differs); with *(to the end)*, an instance also runs to its end (user tasks completed with no data);
* *Refused at deploy*: the first code in the cell is among the upload's errors;
* *Ignored with a warning*: the upload deploys, and the first code in the cell is among its warnings.

Changing a verdict = editing the row (and its diagram). Every diagram under ``diagrams/reference/`` belongs to
a row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from engine_support import DIAGRAMS, T0, check

from webapp.engine import ServiceRegistry, WorkflowRuntime

GUIDE = Path(__file__).parents[2] / "docs" / "designer-guide.md"
FORM_KEYS = frozenset({"credit.review"})
START_DATA = {"ready": True}


@dataclass(frozen=True)
class Row:
    line: int
    element: str
    verdict: str
    code: str | None
    diagrams: tuple[str, ...]
    to_the_end: bool

    def __str__(self) -> str:
        return f"designer-guide.md:{self.line} {self.element}"


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def table_rows() -> list[Row]:
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index("\n## Element reference\n") + 1
    lines = text[start:].split("\n")
    rows, in_table = [], False
    first_line = text[:start].count("\n") + 1
    for offset, line in enumerate(lines[1:], start=1):
        if line.startswith("## "):
            break
        if not line.startswith("|"):
            if in_table:
                break
            continue
        if not in_table:  # the header and the |---| line
            assert _cells(line) == ["Element or attribute", "Runs as in Camunda 7", "Refused at deploy",
                                    "Ignored with a warning", "Test diagram"], line
            in_table = True
            continue
        cells = _cells(line)
        if set("".join(cells)) <= set("-"):
            continue
        assert len(cells) == 5, f"line {first_line + offset}: {line}"
        element, runs, refused, ignored, diagrams = cells
        filled = [verdict for verdict, cell in (("runs", runs), ("refused", refused), ("ignored", ignored)) if cell]
        assert len(filled) == 1, f"line {first_line + offset}: exactly one verdict column must be filled: {line}"
        verdict = filled[0]
        code = None
        if verdict != "runs":
            match = re.match(r"`([a-z0-9_]+)`", refused or ignored)
            assert match, f"line {first_line + offset}: the cell must start with the `code`: {line}"
            code = match.group(1)
        names = tuple(re.findall(r"`([^`]+\.(?:bpmn|dmn))`", diagrams))
        assert names, f"line {first_line + offset}: no test diagram: {line}"
        rows.append(Row(first_line + offset, element, verdict, code, names, "(to the end)" in diagrams))
    return rows


ROWS = table_rows()


def upload(row: Row) -> dict[str, str]:
    files = {}
    for name in row.diagrams:
        path = DIAGRAMS / name
        assert path.is_file(), f"{row}: {name} is not under tests/engine/diagrams/"
        files[path.name] = path.read_text(encoding="utf-8")
    return files


@pytest.mark.parametrize("row", ROWS, ids=[f"{r.line}-{r.element}" for r in ROWS])
def test_the_row_tells_the_truth(row: Row) -> None:
    report = check(upload(row), form_keys=FORM_KEYS)
    found = [(p.severity, p.code, p.message) for p in report.problems]
    if row.verdict == "runs":
        assert report.ok and not report.problems, f"{row}: should deploy without problems, got {found}"
    elif row.verdict == "refused":
        assert row.code in {p.code for p in report.errors}, f"{row}: should be refused with {row.code}, got {found}"
        assert not report.definitions
    else:
        assert report.ok, f"{row}: should deploy (with warning {row.code}), got {found}"
        assert row.code in {p.code for p in report.warnings}, f"{row}: no warning {row.code}, got {found}"
    if row.to_the_end:
        assert len(report.definitions) >= 1
        [main] = [d for d in report.definitions.values() if d.file_name == Path(row.diagrams[0]).name][:1]
        runtime = WorkflowRuntime(ServiceRegistry())
        workflow = runtime.start(main.spec_json, dict(START_DATA), initiator="t42", now=T0)
        for _ in range(10):
            ready = runtime.ready_user_tasks(workflow)
            if not ready:
                break
            for task in ready:
                runtime.complete_user_task(workflow, task.task_id, {}, now=T0)
        assert runtime.is_completed(workflow), f"{row}: the instance did not reach its end"


def test_every_reference_diagram_belongs_to_a_row() -> None:
    used = {name for row in ROWS for name in row.diagrams}
    unused = sorted(f"reference/{p.name}" for p in (DIAGRAMS / "reference").iterdir()
                    if f"reference/{p.name}" not in used)
    assert not unused, f"diagrams no row of the Element reference names: {unused}"


def test_every_refusal_code_of_the_table_is_explained_in_the_guide() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    codes_table = text[text.index("## What the deploy check rejects"):]
    missing = sorted({row.code for row in ROWS if row.code and f"`{row.code}`" not in codes_table})
    assert not missing, f"codes missing from 'What the deploy check rejects': {missing}"
