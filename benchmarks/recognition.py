"""Closing a school year (年度认定) for a county of 12,000 teachers, and reading the batch's report.

Usage: ``.venv/bin/python -m benchmarks.recognition [--teachers 12000] [--server postgresql://postgres@127.0.0.1:5432]
[--keep] [--no-write]``

It creates its own database ``yanxun_bench_recognition`` (dropped first, and at the end unless ``--keep``), fills
one county of the demo city 湘北市 with the generator of ``benchmarks/overview.py`` (100 teachers a school, 5 ledger
entries per teacher per year over five years, by COPY), then, through the app: ``recognition.close_year`` for the
school year 2025–2026 (every teacher's standing on its last day from the ledger as recorded, summed per school),
timed three times on a copy of the data (each run rolled back), and the batch page through the Flask test client.
Figures go to docs/benchmarks.md ("Yearly recognition").
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import sqlalchemy as sa

from benchmarks.overview import PASSWORD, _fill, _percentiles
from benchmarks.report import write_section
from tests.conftest import IsolatedClient

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "yanxun_bench_recognition"


def run(server: str, teachers: int, keep: bool) -> dict:
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.config import normalise_database_url
    from webapp.extensions import db
    from webapp.models import Org, RecognitionBatch, Role, RuleSet
    from webapp.services import recognition, rules
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
            with db.engine.begin() as conn:
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
                filled = _fill(conn, teachers, teachers, rule_set_id)
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
            results.update(filled)
            county = db.session.get(Org, filled["county"])
            officer = create_user(login="bench_county", password=PASSWORD, display_name="县区", org=county)
            assign_role(officer, Role.COUNTY_OFFICER, county)
            db.session.commit()
            timings = []
            for _ in range(3):
                begin = time.perf_counter()
                batch = recognition.close_year(county, "2025-2026", officer)
                timings.append(time.perf_counter() - begin)
                results["report"] = (batch.teachers, batch.schools, len(batch.report["requirements"]))
                db.session.rollback()
            results["close"] = timings
            batch = recognition.close_year(county, "2025-2026", officer)
            db.session.commit()
            batch_id = batch.id
            results["report_bytes"] = len(str(db.session.get(RecognitionBatch, batch_id).report).encode())
            db.session.remove()
        app.test_client_class = IsolatedClient
        client = app.test_client()
        client.login("bench_county", PASSWORD)
        samples = []
        for i in range(12):
            begin = time.perf_counter()
            response = client.get(f"/recognition/{batch_id}")
            if i >= 2:
                samples.append(time.perf_counter() - begin)
            assert response.status_code == 200
        results["page"] = _percentiles(samples)
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
    parser.add_argument("--teachers", type=int, default=12_000)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    results = run(args.server, args.teachers, args.keep)
    close = results["close"]
    teachers, schools, requirements = results["report"]
    body = (f"| measure | result |\n|---|---|\n"
            f"| close the school year 2025–2026 ({teachers:,} teachers, {schools} schools, {requirements} "
            f"requirement lines) | {min(close):.1f} s fastest, {max(close):.1f} s slowest of 3 |\n"
            f"| the batch page (p50 / p95 of 10) | {results['page'][0]:.0f} ms / {results['page'][1]:.0f} ms |\n"
            f"| the stored report | {results['report_bytes'] / 1024:.0f} KB |")
    intro = (f"`benchmarks/recognition.py`, {platform.machine()} with {os.cpu_count()} cores, PostgreSQL "
             f"{results['postgres']}, load {results['load']:.1f}; one county of {results['teachers']:,} teachers "
             f"and {results['entries']:,} ledger entries (5 a year over five years), loaded by COPY. Closing reads "
             f"every teacher's standing on the year's last day as recorded at closing, 1,000 teachers per round.")
    print(intro)
    print(body)
    if not args.no_write:
        write_section(ROOT / "docs" / "benchmarks.md", "Yearly recognition", intro, body)


if __name__ == "__main__":
    main()
