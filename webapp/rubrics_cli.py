"""``flask rubrics validate|load PATH…``: checking scoring rubrics and loading them as versions."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from webapp.extensions import db
from webapp.services import rubrics

rubrics_cli = AppGroup("rubrics", help="Validate and load scoring rubrics (YAML files, see rubrics/README.md).")


def _check(paths: tuple[str, ...]) -> list:
    """The valid files; prints every problem and exits 1 when there is any."""
    try:
        valid, problems = rubrics.check_files(paths)
    except rubrics.RubricInvalid as error:
        valid, problems = [], error.problems
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        click.echo(f"{len(problems)} problem(s); nothing loaded.", err=True)
        raise SystemExit(1)
    return valid


@rubrics_cli.command("validate")
@click.argument("paths", nargs=-1, required=True)
def validate(paths: tuple[str, ...]) -> None:
    """Check rubric files (or folders of them) without loading; exits 1 naming the indicator at fault."""
    for path, _text, content in _check(paths):
        click.echo(f"{path}: OK ({content['code']})")


@rubrics_cli.command("load")
@click.argument("paths", nargs=-1, required=True)
def load(paths: tuple[str, ...]) -> None:
    """Load rubric files as new versions (identical content is a no-op); an invalid file loads nothing."""
    valid = _check(paths)
    if not valid:
        click.echo("No rubric files found; nothing to load.")
        return
    stored = rubrics.load_files(paths)
    db.session.commit()
    for path, version, created in stored:
        state = "loaded" if created else "unchanged"
        click.echo(f"{path}: {version.rubric.code} version {version.version} {state}")


def init_app(app: Flask) -> None:
    app.cli.add_command(rubrics_cli)
