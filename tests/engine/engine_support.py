"""Helpers shared by the engine tests (a uniquely named module, so it cannot clash with other conftests)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

from webapp.engine import CompiledDefinition, Report, check_definition

DIAGRAMS = Path(__file__).parent / "diagrams"
ROLES = frozenset({"teacher", "subgroup_leader", "school_officer", "principal", "county_officer"})
TOPICS = frozenset({"credit_check", "credit_rules_check", "notify"})
BEIJING = timezone(timedelta(hours=8))
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=BEIJING)


def diagram(name: str) -> str:
    return (DIAGRAMS / name).read_text(encoding="utf-8")


def check(files: dict[str, str | bytes], *, topics: frozenset[str] = TOPICS,
          form_keys: frozenset[str] = frozenset()) -> Report:
    return check_definition(files, known_roles=ROLES, known_topics=topics, known_form_keys=form_keys)


@lru_cache
def compile_one(*names: str) -> CompiledDefinition:
    """The single executable process of ``names`` (diagram files), compiled once per test session."""
    return compile_text({name: diagram(name) for name in names})


def compile_text(files: dict[str, str]) -> CompiledDefinition:
    report = check(files)
    assert report.ok, [(p.code, p.message) for p in report.errors]
    [definition] = report.definitions.values()
    return definition


def error_codes(report: Report) -> list[str]:
    return sorted(p.code for p in report.errors)
