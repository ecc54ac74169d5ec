"""Command-line tools: ``flask --app webapp seed-demo`` and friends."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from webapp.extensions import db

credits_cli = AppGroup("credits", help="The credit ledger's derived data.")


@credits_cli.command("refresh-standings")
@click.option("--on", "on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The day to compute the standings for (YYYY-MM-DD; default today).")
def refresh_standings(on) -> None:
    """Recompute every teacher's standing (the compliance overviews read them), in batches, each committed."""
    import time

    from webapp.jobs import refresh_standings as run

    started = time.perf_counter()
    report = run(on.date() if on else None)
    click.echo(f"Standings of {report.teachers} teachers computed in {time.perf_counter() - started:.1f} s; "
               f"{report.pruned} rows of former teachers dropped.")


def init_app(app: Flask) -> None:
    from webapp import rubrics_cli, rules_cli, workflow_cli

    workflow_cli.init_app(app)
    rules_cli.init_app(app)
    rubrics_cli.init_app(app)
    app.cli.add_command(credits_cli)

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

    @app.cli.command("create-admin")
    @click.option("--login", required=True, help="Login name of the new administrator.")
    @click.option("--name", "display_name", required=True, help="Display name, e.g. 系统管理员.")
    @click.option("--org-code", required=True, help="Code of the organisation the role covers (usually the city).")
    @click.option("--org-name", help="Create the organisation as a new top-level city with this name if missing.")
    @click.password_option(help="Password (asked for when not given).")
    def create_admin(login: str, display_name: str, org_code: str, org_name: str | None, password: str) -> None:
        """Create the first administrator on a new installation (and the top organisation if asked)."""
        import sqlalchemy as sa

        from webapp.models import Org, OrgType, Role
        from webapp.services import audit
        from webapp.services.errors import ServiceError
        from webapp.services.orgs import create_org
        from webapp.services.users import assign_role, check_password_strength, create_user

        try:
            check_password_strength(password, app.config["YANXUN"]["PASSWORD_MIN_LENGTH"])
            org = db.session.scalar(sa.select(Org).where(Org.code == org_code))
            if org is None:
                if not org_name:
                    raise click.UsageError(f"No organisation has the code {org_code!r}; give --org-name to create it.")
                org = create_org(code=org_code, name=org_name, type=OrgType.CITY)
            user = create_user(login=login, password=password, display_name=display_name, org=org)
            assign_role(user, Role.ADMIN, org)
            audit.record("user.create", actor=None, obj=user, after={"login": login, "role": "admin"})
        except ServiceError as error:
            raise click.ClickException(str(error)) from error
        db.session.commit()
        click.echo(f"Administrator {login} created for {org.name}.")
