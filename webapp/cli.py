"""Command-line tools: ``flask --app webapp seed-demo`` and friends."""

from __future__ import annotations

import click
from flask import Flask

from webapp.extensions import db


def init_app(app: Flask) -> None:
    @app.cli.command("seed-demo")
    def seed_demo() -> None:
        """Create the demo region (orgs, ~80 teachers, every role). Running it again changes nothing."""
        from webapp.services.demo import seed_demo as seed

        created = seed()
        db.session.commit()
        if created:
            click.echo(f"Demo data created: {created}.")
        else:
            click.echo("Demo data already present; nothing changed.")

    @app.cli.command("seed-demo-if-empty")
    def seed_demo_if_empty() -> None:
        """Seed the demo region only when the database has no users at all (used by ``make run``)."""
        import sqlalchemy as sa

        from webapp.models import User
        from webapp.services.demo import seed_demo as seed

        if db.session.scalar(sa.select(sa.func.count()).select_from(User)):
            click.echo("Database has users; demo data not added.")
            return
        click.echo(f"Demo data created: {seed()}.")
        db.session.commit()
