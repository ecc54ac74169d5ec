"""The compliance overview at county and city scale: 70,000 teachers in ~700 schools, 5 ledger entries each per year
over 5 years (1.75M entries), standings computed through the app's refresh path, then the pages and the export.

Usage: ``.venv/bin/python -m benchmarks.overview [--teachers 70000] [--county-teachers 12000] [--samples 40]
[--server postgresql://postgres@127.0.0.1:5432] [--keep] [--no-write]``

It creates its own database ``yanxun_bench_overview`` on ``--server`` (dropped first, and at the end unless
``--keep``), migrates it with ``flask_migrate.upgrade`` (so with exactly our indexes), loads the rule sets of
``rules/`` and fills the demo city 湘北市 (rule set ``xiangbei-2026``) with COPY: one county of
``--county-teachers`` teachers, the rest spread over five more, 100 teachers a school, and 5 entries per teacher per
year over the five years up to the day measured (hours drawn so that some teachers are ahead, some on pace, some
behind). Then, through the app:

* ``jobs.refresh_standings`` for every teacher (what ``flask credits refresh-standings`` and the nightly beat
  task run), timed;
* the overview page through the Flask test client (a bureau officer at the city, a county officer at the large
  county), ``--samples`` requests each after a warm-up, p50/p95, and the statements each request issues;
* a school's teacher list (p50/p95), and the county's Excel export (every sheet, the teachers sheet with each of
  the county's teachers), timed three times.

Figures go to docs/benchmarks.md ("Compliance overview").
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import random
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from benchmarks.report import write_section
from tests.conftest import IsolatedClient

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "yanxun_bench_overview"
TEACHERS_PER_SCHOOL = 100
COUNTIES = 6
YEARS = 5
ENTRIES_PER_YEAR = 5
CATEGORIES = ("centralized", "online", "school_based", "school_based", "centralized")
#: The day the standings are computed for and the pages show (inside xiangbei-2026's first cycle).
DAY = date(2026, 12, 2)
PASSWORD = "Bench@2026-pass"  # noqa: S105 (a throw-away benchmark account)
PASSWORD_HASH = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$bench"  # noqa: S105 (never matches a password)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000


def _copy(raw, sql: str, lines: list[str]) -> None:
    with raw.cursor() as cur, cur.copy(sql) as copy:
        for start in range(0, len(lines), 50_000):
            copy.write("".join(lines[start:start + 50_000]))


def _school_year(day: date) -> str:
    start = day.year if day.month >= 9 else day.year - 1
    return f"{start}-{start + 1}"


def _semester(day: date) -> str:
    return f"{_school_year(day)}-{1 if day.month >= 9 or day.month == 1 else 2}"


def _fill(conn, n_teachers: int, county_teachers: int, rule_set_id: int,
          per_school: int = TEACHERS_PER_SCHOOL) -> dict:
    """Orgs, teachers, their role assignments and ledger entries, by COPY; returns counts and a few ids."""
    rng = random.Random(2026)
    now = datetime.now(UTC).isoformat()
    orgs, users, roles, entries = [], [], [], []
    org_id = 100  # above the ids the migration-time fixtures could take
    city_id = org_id
    orgs.append(f"{city_id}\tXB\t湘北市\tcity\t\\N\t/{city_id}/\t0\t\\N\t\\N\t\\N\t\\N\tt\t{now}\t{now}\n")
    rest = n_teachers - county_teachers
    sizes = [county_teachers] + [rest // (COUNTIES - 1) + (1 if i < rest % (COUNTIES - 1) else 0)
                                 for i in range(COUNTIES - 1)]
    user_id, entry_id, schools, first_school = 1000, 0, 0, None
    county_ids = []
    start_day = date(DAY.year - YEARS, DAY.month, DAY.day) + timedelta(days=1)
    span = (DAY - start_day).days
    for k, size in enumerate(sizes):
        org_id += 1
        county = org_id
        county_ids.append(county)
        orgs.append(f"{county}\tXB-K{k}\t县区{k + 1}\tcounty\t{city_id}\t/{city_id}/{county}/\t1\t\\N\t\\N\t\\N\t\\N\tt"
                    f"\t{now}\t{now}\n")
        for s in range((size + per_school - 1) // per_school):
            org_id += 1
            schools += 1
            school = org_id
            first_school = first_school or school
            orgs.append(f"{school}\tXB-K{k}-S{s}\t县区{k + 1}第{s + 1}学校\tschool\t{county}\t"
                        f"/{city_id}/{county}/{school}/\t2\tprimary\t\\N\t\\N\t\\N\tt\t{now}\t{now}\n")
            for _ in range(min(per_school, size - s * per_school)):
                user_id += 1
                hired = date(rng.randint(1990, 2025), 9, 1)
                class_teacher = "t" if rng.random() < 0.4 else "f"
                users.append(f"{user_id}\tt{user_id}\t教师{user_id}\t{PASSWORD_HASH}\tt\t{school}\t{hired}\t"
                             f"{class_teacher}\t{now}\t{now}\n")
                roles.append(f"{user_id}\tteacher\t{school}\tt\t{now}\t{now}\n")
                pace = rng.choice((0.4, 0.8, 1.2, 1.6))  # behind, on pace, ahead
                for _ in range(YEARS * ENTRIES_PER_YEAR):
                    entry_id += 1
                    earned = start_day + timedelta(days=rng.randrange(span))
                    hours = round(rng.uniform(6, 22) * pace, 1)
                    category = rng.choice(CATEGORIES)
                    entries.append(f"{entry_id}\t{user_id}\t{school}\t{rule_set_id}\t{category}\t{hours}\t{hours}\t"
                                   f"{hours}\t{hours}\t{earned}\t{_school_year(earned)}\t{_semester(earned)}\t"
                                   f"import\t{now}\n")
    raw = conn.connection.driver_connection
    _copy(raw, "COPY org (id, code, name, type, parent_id, path, depth, stage, kind, valid_from, valid_to, active, "
               "created_at, updated_at) FROM STDIN", orgs)
    _copy(raw, "COPY user_account (id, login, display_name, password_hash, active, org_id, hire_date, "
               "is_class_teacher, created_at, updated_at) FROM STDIN", users)
    _copy(raw, "COPY role_assignment (user_id, role, org_id, active, created_at, updated_at) FROM STDIN", roles)
    _copy(raw, "COPY credit_entry (id, user_id, org_id, rule_set_id, category, hours, credits, counted_hours, "
               "counted_credits, earned_on, school_year, semester, source, recognised_at) FROM STDIN", entries)
    for table in ("org", "user_account", "role_assignment", "credit_entry"):
        conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    return {"city": city_id, "county": county_ids[0], "school": first_school, "schools": schools,
            "teachers": len(users), "entries": len(entries)}


def _timed_get(client, path: str, samples: int) -> tuple[float, float, int, int]:
    """p50, p95 (ms) of GET ``path``; the statements of one request; the response size."""
    from webapp.extensions import db

    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        seen.append(statement)

    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    with client.application.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    client.get(path)
    sa.event.remove(engine, "before_cursor_execute", count)
    timings = []
    for _ in range(samples):
        begin = time.perf_counter()
        response = client.get(path)
        timings.append(time.perf_counter() - begin)
        assert response.status_code == 200
    p50, p95 = _percentiles(timings)
    return p50, p95, len(seen), len(response.data)


def run(server: str, n_teachers: int, county_teachers: int, samples: int, keep: bool) -> dict:
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.config import normalise_database_url
    from webapp.extensions import db
    from webapp.jobs import refresh_standings
    from webapp.models import Org, Role, RuleSet
    from webapp.services import rules
    from webapp.services.passwords import use_cheap_hashing
    from webapp.services.users import assign_role, create_user

    use_cheap_hashing()
    base = normalise_database_url(server.rstrip("/") + "/postgres")
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{DATABASE}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{DATABASE}"')
        server_version = conn.exec_driver_sql("SHOW server_version").scalar()
    url = base.rsplit("/", 1)[0] + f"/{DATABASE}"
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "b" * 40, "REDIS_URL": None})
    results: dict = {"postgres": server_version}
    try:
        with app.app_context():
            upgrade()
            rules.load_rule_files([ROOT / "rules"])
            db.session.commit()
            rule_set_id = db.session.scalar(sa.select(RuleSet.id).where(RuleSet.code == "xiangbei-2026"))
            started = time.perf_counter()
            with db.engine.begin() as conn:
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")  # the generator keeps the keys
                filled = _fill(conn, n_teachers, county_teachers, rule_set_id)
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
            results["fill_seconds"] = time.perf_counter() - started
            results.update(filled)

            city, county = db.session.get(Org, filled["city"]), db.session.get(Org, filled["county"])
            bureau = create_user(login="bench_bureau", password=PASSWORD, display_name="市局", org=city)
            assign_role(bureau, Role.BUREAU_OFFICER, city)
            officer = create_user(login="bench_county", password=PASSWORD, display_name="县区", org=county)
            assign_role(officer, Role.COUNTY_OFFICER, county)
            db.session.commit()

            started = time.perf_counter()
            report = refresh_standings(DAY)
            results["refresh_seconds"] = time.perf_counter() - started
            results["refreshed"] = report.teachers
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE credit_standing")
                results["standing_rows"] = conn.exec_driver_sql("SELECT count(*) FROM credit_standing").scalar()
                for name in ("_totals", "_sums", "_aggregate"):
                    plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + _sql(name, city)).scalars().all()
                    results[name] = "\n".join(plan)
            db.session.remove()

        app.test_client_class = IsolatedClient  # each request in its own app context, as in production
        results["load"] = os.getloadavg()[0]
        for login, org_id, label in (("bench_bureau", filled["city"], "city"),
                                     ("bench_county", filled["county"], "county")):
            client = app.test_client()
            client.login(login, PASSWORD)
            results[f"page {label}"] = _timed_get(client, f"/ledger/overview?org={org_id}", samples)
            results[f"page {label} (one requirement)"] = _timed_get(
                client, f"/ledger/overview?org={org_id}&line=cycle:2026-2030::hours", samples)
            if label == "county":
                results["teachers of a school"] = _timed_get(
                    client, f"/ledger/overview/teachers?org={filled['school']}", samples)
                timings, size = [], 0
                for _ in range(3):
                    begin = time.perf_counter()
                    response = client.get(f"/ledger/overview.xlsx?org={org_id}")
                    timings.append(time.perf_counter() - begin)
                    assert response.status_code == 200
                    size = len(response.data)
                from openpyxl import load_workbook

                rows = sum(1 for _ in load_workbook(io.BytesIO(response.data), read_only=True).worksheets[-1].rows)
                results["export"] = (min(timings), max(timings), size, rows)
        with app.app_context():
            db.engine.dispose()
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        admin.dispose()
    return results


def _sql(name: str, org) -> str:
    """A statement of ``services.compliance`` for ``org`` with its parameters inlined, for EXPLAIN: ``_totals`` and
    ``_sums`` (what the overview of a region reads) or ``_aggregate`` (the figures grouped from every teacher's
    lines)."""
    from webapp.extensions import db
    from webapp.services import compliance

    scope = compliance.Scope(org)
    statement = compliance._sums(scope, None, every_line=False) if name == "_sums" else \
        getattr(compliance, name)(scope)
    return str(statement.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teachers", type=int, default=70_000)
    parser.add_argument("--county-teachers", type=int, default=12_000)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args()
    results = run(args.server, args.teachers, args.county_teachers, args.samples, args.keep)
    rows = []
    for key in ("page city", "page city (one requirement)", "page county", "page county (one requirement)",
                "teachers of a school"):
        p50, p95, statements, size = results[key]
        rows.append(f"| {key} | {p50:.1f} | {p95:.1f} | {statements} | {size // 1024} |")
    low, high, size, sheet_rows = results["export"]
    intro = (
        f"`benchmarks/overview.py`: the compliance overview read from the standings' aggregates. Measured "
        f"{DAY.isoformat()} (the standings' day) on this machine ({platform.machine()}, 2 cores shared with the "
        f"PostgreSQL server), CPython {platform.python_version()}, PostgreSQL {results['postgres']} on 127.0.0.1, "
        f"database `{DATABASE}` created and dropped by the script. Data: 1 city, {COUNTIES} counties (the large "
        f"one {args.county_teachers:,} teachers), {results['schools']:,} schools of {TEACHERS_PER_SCHOOL} teachers, "
        f"{results['teachers']:,} teachers, {results['entries']:,} ledger entries ({ENTRIES_PER_YEAR} per teacher "
        f"per year over {YEARS} years), rule set `xiangbei-2026`; loaded by COPY in {results['fill_seconds']:.1f} s "
        f"(VACUUM ANALYZE included).\n\n"
        f"**Standings** (`jobs.refresh_standings`, the path of `flask credits refresh-standings` and the nightly "
        f"beat task: `ledger.progress_of_many` per 2,000 teachers, rows rewritten, committed per batch): "
        f"{results['refreshed']:,} teachers in **{results['refresh_seconds']:.1f} s** "
        f"({results['standing_rows']:,} rows).")
    body = "\n".join([
        "Pages through the Flask test client, logged in, after one warm-up request; "
        f"{args.samples} requests each; statements counted for one request (session, roles and page included). "
        f"Load average when the timing began: {results['load']:.2f} (the machine is shared with other work).", "",
        "| page | p50 (ms) | p95 (ms) | statements | KiB |", "|---|---:|---:|---:|---:|", *rows, "",
        f"Excel export of the large county (four sheets: schools, requirements, hours by category, and "
        f"{sheet_rows - 1:,} teacher rows): **{low:.2f} s** best, {high:.2f} s worst of 3; {size // 1024} KiB.", "",
        "What the city's overview reads from the schools' sums (`credit_standing_school`), `EXPLAIN (ANALYZE, "
        "BUFFERS)`: the totals per line,", "", "```", results["_totals"], "```", "",
        "and the schools' rows (the teachers' summaries; a chosen requirement adds its line):", "", "```",
        results["_sums"], "```", "",
        "For comparison, the same figures grouped from every teacher's lines (`credit_standing`, "
        f"{results['standing_rows']:,} rows): what each city page would cost without the schools' sums "
        "(a subgroup's overview still groups its members' lines this way):", "", "```", results["_aggregate"], "```"])
    print(intro + "\n\n" + body)
    if not args.no_write:
        write_section(ROOT / "docs" / "benchmarks.md", "Compliance overview", intro, body)


if __name__ == "__main__":
    main()
