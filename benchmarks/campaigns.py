"""Launching a semester-summary campaign over a county (300 schools, 12,000 teachers), and its progress board.

Usage: ``.venv/bin/python -m benchmarks.campaigns [--schools 300] [--per-school 40]
[--server postgresql://postgres@127.0.0.1:5432] [--keep] [--no-write]``

It creates its own database ``yanxun_bench_campaigns`` (dropped first, and at the end unless ``--keep``), fills one
county of the demo city 湘北市 with the generator of ``benchmarks/overview.py`` (teachers, their role assignments and
ledger entries by COPY) plus four subgroups per school, each led by one of its teachers, deploys ``workflows/`` and
then, through the app as a county officer would: ``campaigns.launch`` over every school of the county, and the
launch job (``jobs.run_campaign``, what the worker runs) until the campaign is open, reading its progress after
every round as the board does. The board is then read through the Flask test client, unfiltered and filtered, and
its statements counted. Figures go to docs/benchmarks.md ("Campaign launch").
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa

from benchmarks.overview import PASSWORD, _copy, _fill, _timed_get
from benchmarks.report import write_section
from tests.conftest import IsolatedClient

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "yanxun_bench_campaigns"
SUBGROUPS = ("语文组", "数学组", "英语组", "综合组")


def _subgroups(conn, county_id: int) -> int:
    """Four subgroups under every school of the county, each led by one of the school's teachers (by COPY)."""
    now = datetime.now(UTC).isoformat()
    schools = conn.execute(sa.text("SELECT id, path FROM org WHERE parent_id = :county AND type = 'school' "
                                   "ORDER BY id"), {"county": county_id}).all()
    teachers: dict[int, list[int]] = {}
    for user_id, org_id in conn.execute(sa.text("SELECT id, org_id FROM user_account WHERE org_id IN "
                                                "(SELECT id FROM org WHERE parent_id = :county) ORDER BY id"),
                                        {"county": county_id}):
        teachers.setdefault(org_id, []).append(user_id)
    next_id = conn.execute(sa.text("SELECT max(id) FROM org")).scalar() + 1
    orgs, roles, members = [], [], []
    for school_id, path in schools:
        staff = teachers.get(school_id, [])
        for k, name in enumerate(SUBGROUPS):
            group_id, next_id = next_id, next_id + 1
            orgs.append(f"{group_id}\tSG{group_id}\t{name}\tsubgroup\t{school_id}\t{path}{group_id}/\t3\t\\N\t\\N\t"
                        f"\\N\t\\N\tt\t{now}\t{now}\n")
            share = staff[k::len(SUBGROUPS)]
            if share:
                roles.append(f"{share[0]}\tsubgroup_leader\t{group_id}\tt\t{now}\t{now}\n")
            members += [f"{user_id}\t{group_id}\tt\n" for user_id in share]
    raw = conn.connection.driver_connection
    _copy(raw, "COPY org (id, code, name, type, parent_id, path, depth, stage, kind, valid_from, valid_to, active, "
               "created_at, updated_at) FROM STDIN", orgs)
    _copy(raw, "COPY role_assignment (user_id, role, org_id, active, created_at, updated_at) FROM STDIN", roles)
    _copy(raw, "COPY membership (user_id, org_id, is_primary) FROM STDIN", members)
    conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('org', 'id'), (SELECT max(id) FROM org))")
    return len(orgs)


def run(server: str, schools: int, per_school: int, keep: bool) -> dict:
    from flask_migrate import upgrade

    from webapp import create_app, jobs
    from webapp.config import normalise_database_url
    from webapp.extensions import db
    from webapp.models import Campaign, HumanTask, Org, OrgType, Role, RuleSet, TaskStatus
    from webapp.services import campaigns, definitions, rules
    from webapp.services.passwords import use_cheap_hashing
    from webapp.services.users import assign_role, create_user
    from webapp.workflow_cli import uploads

    use_cheap_hashing()
    base = normalise_database_url(server.rstrip("/") + "/postgres")
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{DATABASE}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{DATABASE}"')
        server_version = conn.exec_driver_sql("SHOW server_version").scalar()
    url = base.rsplit("/", 1)[0] + f"/{DATABASE}"
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "b" * 40, "REDIS_URL": None})
    teachers = schools * per_school
    results: dict = {"postgres": server_version}
    try:
        with app.app_context():
            upgrade()
            rules.load_rule_files([ROOT / "rules"])
            for _label, files in uploads((str(ROOT / "workflows"),)):
                definitions.deploy(files, None)
            db.session.commit()
            rule_set_id = db.session.scalar(sa.select(RuleSet.id).where(RuleSet.code == "xiangbei-2026"))
            with db.engine.begin() as conn:
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
                filled = _fill(conn, teachers, teachers, rule_set_id, per_school=per_school)
                results["subgroups"] = _subgroups(conn, filled["county"])
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
            results.update(filled)
            county = db.session.get(Org, filled["county"])
            officer = create_user(login="bench_county", password=PASSWORD, display_name="县区", org=county)
            assign_role(officer, Role.COUNTY_OFFICER, county)
            for school in db.session.scalars(sa.select(Org).where(Org.parent_id == county.id,
                                                                  Org.type == OrgType.SCHOOL)).all()[:1]:
                head = create_user(login="bench_officer", password=PASSWORD, display_name="专干", org=school)
                assign_role(head, Role.SCHOOL_OFFICER, school)
            db.session.commit()
            targets = db.session.scalars(sa.select(Org).where(Org.parent_id == county.id,
                                                              Org.type == OrgType.SCHOOL)).all()
            today = date.today()
            begin = time.perf_counter()
            campaign = campaigns.launch(
                "semester_summary", title="2026–2027 学年第一学期总结", period="2026-2027-1",
                period_start=date(2026, 9, 1), period_end=date(2027, 1, 31), org=county, schools=targets,
                deadlines=campaigns.default_deadlines("semester_summary"), actor=officer)
            db.session.commit()
            results["launch_request"] = time.perf_counter() - begin
            campaign_id = campaign.id
            rounds = []
            while True:
                status, _ = jobs.run_campaign(campaign_id, "start", budget_seconds=10)
                row = db.session.get(Campaign, campaign_id)
                db.session.refresh(row)
                rounds.append((round(time.perf_counter() - begin, 1), row.started, row.failed))
                if status != "continue":
                    break
            results["launch"] = time.perf_counter() - begin
            results["rounds"] = rounds
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")  # as autovacuum does after a launch's 12,000 new rows
            row = db.session.get(Campaign, campaign_id)
            results["started"], results["failed"], results["status"] = row.started, row.failed, row.status.value
            results["open_tasks"] = db.session.scalar(sa.select(sa.func.count()).select_from(HumanTask).where(
                HumanTask.status == TaskStatus.OPEN))
            results["today"] = today.isoformat()
            db.session.remove()
        with admin.connect() as conn:
            results["db_size"] = conn.exec_driver_sql(f"SELECT pg_database_size('{DATABASE}')").scalar()
        app.test_client_class = IsolatedClient
        client = app.test_client()
        client.login("bench_county", PASSWORD)
        results["board"] = _timed_get(client, f"/campaigns/{campaign_id}", 20)
        results["board_late"] = _timed_get(client, f"/campaigns/{campaign_id}?state=late&stage=personal", 20)
        begin = time.perf_counter()
        response = client.get(f"/campaigns/{campaign_id}.xlsx")
        results["xlsx"] = (time.perf_counter() - begin, len(response.data), response.status_code)
        results["load"] = os.getloadavg()[0]
        with app.app_context():
            db.engine.dispose()
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        admin.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schools", type=int, default=300)
    parser.add_argument("--per-school", type=int, default=40)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    results = run(args.server, args.schools, args.per_school, args.keep)
    board, late, (xlsx_seconds, xlsx_bytes, xlsx_status) = results["board"], results["board_late"], results["xlsx"]
    progress = ", ".join(f"{at} s: {started}" for at, started, _failed in results["rounds"][:6])
    body = (f"| measure | result |\n|---|---|\n"
            f"| launch request (checks, {results['schools']} pending schools recorded) | "
            f"{results['launch_request'] * 1000:.0f} ms |\n"
            f"| launch job: every school's instance started ({results['started']} started, {results['failed']} "
            f"failed, {results['open_tasks']:,} open tasks) | {results['launch']:.1f} s |\n"
            f"| progress as the board shows it (seconds: schools started) | {progress} … |\n"
            f"| board, 300 schools (p50 / p95 of 20; statements; size) | {board[0]:.0f} ms / {board[1]:.0f} ms; "
            f"{board[2]}; {board[3] / 1024:.0f} KB |\n"
            f"| board filtered to late personal summaries (p50 / p95 of 20; statements) | {late[0]:.0f} ms / "
            f"{late[1]:.0f} ms; {late[2]} |\n"
            f"| the board as Excel (HTTP {xlsx_status}) | {xlsx_seconds * 1000:.0f} ms, {xlsx_bytes / 1024:.0f} KB |")
    intro = (f"`benchmarks/campaigns.py`, {platform.machine()} with {os.cpu_count()} cores, PostgreSQL "
             f"{results['postgres']}, load {results['load']:.1f}; one county of {results['schools']} schools and "
             f"{results['teachers']:,} teachers ({results['subgroups']:,} subgroups, each led by one of its "
             f"teachers), loaded by COPY; the semester summary (`workflows/semester_summary`) launched over every "
             f"school as the worker runs it, 10 s per job round. Each school's instance opens one personal-summary "
             f"task per teacher; the statistics are refreshed after the launch (ANALYZE), as autovacuum does after "
             f"that many new rows.")
    print(intro)
    print(body)
    if not args.no_write:
        write_section(ROOT / "docs" / "benchmarks.md", "Campaign launch", intro, body)


if __name__ == "__main__":
    main()
