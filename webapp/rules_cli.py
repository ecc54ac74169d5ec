"""``flask rules validate|load PATH…``: checking credit rule sets and loading them as versions."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import AppGroup

from webapp.extensions import db
from webapp.models import Org
from webapp.services import rules

rules_cli = AppGroup("rules", help="Validate and load credit rule sets (YAML files, see rules/README.md).")


def _check(paths: tuple[str, ...]) -> list[rules.Resolved]:
    """The resolved rule sets; prints every problem and exits 1 when there is any."""
    try:
        resolved, problems = rules.check_files(paths)
    except rules.RuleFileError as error:
        resolved, problems = [], error.problems
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        click.echo(f"{len(problems)} problem(s); nothing loaded.", err=True)
        raise SystemExit(1)
    return resolved


def _note_unknown_jurisdictions(resolved: list[rules.Resolved]) -> None:
    codes = {r.jurisdiction for r in resolved}
    known = set(db.session.scalars(sa.select(Org.code).where(Org.code.in_(codes)))) if codes else set()
    waiting = sorted(f"{r.code} ({r.jurisdiction})" for r in resolved if r.jurisdiction not in known)
    if waiting:
        click.echo(f"note: no organisation has the jurisdiction code yet, so these apply once it exists: "
                   f"{', '.join(waiting)}")


@rules_cli.command("validate")
@click.argument("paths", nargs=-1, required=True)
def validate(paths: tuple[str, ...]) -> None:
    """Check rule files (or folders of them) without loading; exits 1 naming the file and key at fault."""
    resolved = _check(paths)
    for rule in resolved:
        click.echo(f"{rule.file}: OK ({rule.code}, {rule.jurisdiction}, from {rule.effective_from.isoformat()})")
    if not resolved:
        click.echo("No rule files found.")


@rules_cli.command("load")
@click.argument("paths", nargs=-1, required=True)
def load(paths: tuple[str, ...]) -> None:
    """Load rule files as new versions (identical content is a no-op); an invalid file loads nothing."""
    resolved = _check(paths)
    if not resolved:
        click.echo("No rule files found; nothing to load.")
        return
    _note_unknown_jurisdictions(resolved)
    stored = []
    for rule in rules.parents_first(resolved):
        rule_set, created = rules.store(rule)
        stored.append((rule, rule_set, created))
    db.session.commit()
    for rule, rule_set, created in stored:
        state = "loaded" if created else "unchanged"
        click.echo(f"{rule.file}: {rule_set.code} version {rule_set.version} {state}")


def init_app(app: Flask) -> None:
    app.cli.add_command(rules_cli)
