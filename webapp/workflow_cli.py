"""``flask workflows validate|deploy PATH…`` and ``flask timers tick``: operating the engine from a shell."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from webapp import jobs
from webapp.engine import Report
from webapp.extensions import db
from webapp.services import definitions

DIAGRAM_SUFFIXES = {".bpmn", ".dmn"}

workflows_cli = AppGroup("workflows", help="Validate and deploy BPMN/DMN made in Camunda Modeler.")
timers_cli = AppGroup("timers", help="Fire due workflow timers.")


def uploads(paths: Iterable[str]) -> list[tuple[str, dict[str, bytes]]]:
    """Group the given paths into uploads: each folder's diagrams together, loose files together."""
    groups: list[tuple[str, dict[str, bytes]]] = []
    loose: dict[str, bytes] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            folders = sorted({p.parent for p in path.rglob("*") if p.suffix.lower() in DIAGRAM_SUFFIXES})
            for folder in folders:
                files = {p.name: p.read_bytes() for p in sorted(folder.iterdir())
                         if p.is_file() and p.suffix.lower() in DIAGRAM_SUFFIXES}
                groups.append((str(folder), files))
        elif path.is_file():
            loose[path.name] = path.read_bytes()
        else:
            raise click.BadParameter(f"{raw}: no such file or folder")
    if loose:
        groups.append((", ".join(sorted(loose)), loose))
    return groups


def print_report(label: str, report: Report) -> None:
    for problem in report.problems:
        where = f"{problem.file}:{problem.line}" if problem.line else problem.file
        element = f" {problem.element_id}" if problem.element_id else ""
        if problem.element_name:
            element += f" ({_one_line(problem.element_name)})"
        click.echo(f"{where}: {problem.severity}: [{problem.code}]{element}: {_one_line(problem.message)}",
                   err=problem.severity == "error")
    status = "OK" if not report.errors else f"{len(report.errors)} error(s)"
    click.echo(f"{label}: {status}, {len(report.problems) - len(report.errors)} warning(s)")


@workflows_cli.command("validate")
@click.argument("paths", nargs=-1, required=True)
def validate(paths: tuple[str, ...]) -> None:
    """Check diagrams without deploying them; exits 1 when any has an error."""
    failed = False
    for label, files in uploads(paths):
        report = definitions.check(files)
        print_report(label, report)
        failed = failed or bool(report.errors)
    if failed:
        raise SystemExit(1)


@workflows_cli.command("deploy")
@click.argument("paths", nargs=-1, required=True)
def deploy(paths: tuple[str, ...]) -> None:
    """Deploy diagrams as new versions (identical content is a no-op); a folder with an error deploys nothing."""
    groups = uploads(paths)
    if not groups:
        click.echo("No .bpmn or .dmn files found; nothing to deploy.")
        return
    failed = False
    for label, files in groups:
        try:
            result = definitions.deploy(files, None)
        except definitions.DeployRejected as rejected:
            db.session.rollback()
            print_report(label, rejected.report)
            failed = True
            continue
        db.session.commit()
        for definition in result.definitions:
            state = "deployed" if definition.key in result.created else "unchanged"
            click.echo(f"{label}: {definition.key} version {definition.version} {state}")
    if failed:
        raise SystemExit(1)


@timers_cli.command("tick")
@click.option("--at", "at", help="Act as if it were this ISO 8601 time (default: now).")
def tick(at: str | None) -> None:
    """Fire every timer due now (or at --at), each instance in its own transaction."""
    report = jobs.tick_timers(_parse_moment(at) if at else None)
    for instance_id, error in report.failures:
        click.echo(f"instance {instance_id}: {error}", err=True)
    click.echo(f"{report.ticked} instance(s) ticked, {report.fired} timer(s) fired, {len(report.failures)} failed.")


def _one_line(text: str) -> str:
    """One problem, one line: a name typed with line breaks in the Modeler would break 'file:line: ...'."""
    return " ".join(text.split())


def _parse_moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 time") from error
    if moment.tzinfo is None:
        raise click.BadParameter("give a time zone, e.g. 2026-03-05T08:00:00+08:00")
    return moment


def init_app(app: Flask) -> None:
    app.cli.add_command(workflows_cli)
    app.cli.add_command(timers_cli)
