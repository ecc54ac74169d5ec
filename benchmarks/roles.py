"""Role resolution at scale: 100,000 users in PostgreSQL, p50/p95 of ``resolve`` and ``roles_of``.

Usage: ``.venv/bin/python -m benchmarks.roles [--users 100000] [--database-url postgresql://...]``
It works in a throw-away schema and writes its figures into docs/benchmarks.md (section "Role resolution").
"""

from __future__ import annotations

import argparse
import random
import secrets
import statistics
import time
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa

from benchmarks.report import write_section

SUBGROUPS_PER_SCHOOL = 5
TEACHERS_PER_SCHOOL = 50


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.95) - 1] * 1000


def _fill(conn, n_users: int) -> dict[str, list[int]]:
    """Bulk-insert a city with counties, schools, subgroups and users; return ids by kind."""
    from webapp.models import Org, Role, RoleAssignment, User

    schools = max(1, n_users // TEACHERS_PER_SCHOOL)
    counties = max(1, schools // 200)
    now = sa.func.now()
    orgs, org_id = [], 0

    def add_org(kind: str, parent: dict | None, code: str) -> dict:
        nonlocal org_id
        org_id += 1
        row = {"id": org_id, "code": code, "name": code, "type": kind, "parent_id": parent and parent["id"],
               "path": f"{parent['path'] if parent else '/'}{org_id}/", "depth": parent["depth"] + 1 if parent else 0,
               "active": True}
        orgs.append(row)
        return row

    city = add_org("city", None, "CITY")
    county_rows = [add_org("county", city, f"K{k}") for k in range(counties)]
    school_rows, subgroup_rows = [], []
    for s in range(schools):
        school = add_org("school", county_rows[s % counties], f"S{s}")
        school_rows.append(school)
        subgroup_rows.extend(add_org("subgroup", school, f"S{s}-G{g}") for g in range(SUBGROUPS_PER_SCHOOL))
    conn.execute(sa.insert(Org.__table__), orgs)

    users, assignments = [], []
    uid = 0
    hash_ = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$bench"

    def add_user(org: dict) -> int:
        nonlocal uid
        uid += 1
        users.append({"id": uid, "login": f"u{uid}", "display_name": f"u{uid}", "password_hash": hash_,
                      "active": True, "org_id": org["id"], "is_class_teacher": False})
        return uid

    def assign(user_id: int, role: Role, org: dict, valid_to: date | None = None) -> None:
        assignments.append({"user_id": user_id, "role": role.value, "org_id": org["id"], "active": True,
                            "valid_from": None, "valid_to": valid_to})

    for index, school in enumerate(school_rows):
        for _ in range(TEACHERS_PER_SCHOOL - 3):
            assign(add_user(school), Role.TEACHER, school)
        for g in range(SUBGROUPS_PER_SCHOOL):
            leader = add_user(school)
            assign(leader, Role.TEACHER, school)
            assign(leader, Role.SUBGROUP_LEADER, subgroup_rows[index * SUBGROUPS_PER_SCHOOL + g])
            if g == 0:  # an expired predecessor
                assign(add_user(school), Role.SUBGROUP_LEADER, subgroup_rows[index * SUBGROUPS_PER_SCHOOL],
                       valid_to=date.today() - timedelta(days=30))
        assign(add_user(school), Role.SCHOOL_OFFICER, school)
        assign(add_user(school), Role.PRINCIPAL, school)
    for county in county_rows:
        for _ in range(3):
            assign(add_user(county), Role.COUNTY_OFFICER, county)
    for start in range(0, len(users), 10_000):
        conn.execute(sa.insert(User.__table__), users[start:start + 10_000])
    for start in range(0, len(assignments), 10_000):
        conn.execute(sa.insert(RoleAssignment.__table__), assignments[start:start + 10_000])
    for table in ("org", "user_account", "role_assignment"):
        conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    conn.exec_driver_sql("ANALYZE")
    del now
    return {"subgroups": [o["id"] for o in subgroup_rows], "users": list(range(1, uid + 1))}


def run(database_url: str, n_users: int, samples: int) -> dict[str, tuple[float, float]]:
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.config import normalise_database_url
    from webapp.extensions import db
    from webapp.models import Org, Role, User
    from webapp.services import roles

    url = normalise_database_url(database_url)
    schema = f"bench_{secrets.token_hex(4)}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "b" * 40,
                      "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"options": f"-csearch_path={schema}"}}})
    results: dict[str, tuple[float, float]] = {}
    try:
        with app.app_context():
            upgrade()
            started = time.perf_counter()
            with db.engine.begin() as conn:
                ids = _fill(conn, n_users)
            fill_seconds = time.perf_counter() - started
            total_users = db.session.scalar(sa.select(sa.func.count()).select_from(User))
            rng = random.Random(7)
            for role in (Role.SUBGROUP_LEADER, Role.SCHOOL_OFFICER, Role.COUNTY_OFFICER):
                timings = []
                for org_id in rng.sample(ids["subgroups"], samples):
                    db.session.expire_all()
                    subject = db.session.get(Org, org_id)
                    begin = time.perf_counter()
                    found = roles.resolve(role, subject)
                    timings.append(time.perf_counter() - begin)
                    assert found.users, f"nobody holds {role} above org {org_id}"
                results[f"resolve({role.value})"] = _percentiles(timings)
            timings = []
            for user_id in rng.sample(ids["users"], samples):
                db.session.expire_all()
                user = db.session.get(User, user_id)
                begin = time.perf_counter()
                roles.roles_of(user)
                timings.append(time.perf_counter() - begin)
            results["roles_of(user)"] = _percentiles(timings)
            db.session.remove()
            db.engine.dispose()
        results["_meta"] = (float(total_users), fill_seconds)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    results = run(args.database_url, args.users, args.samples)
    total_users, fill_seconds = results.pop("_meta")
    lines = [
        f"Measured {date.today().isoformat()} on this machine (2 cores), PostgreSQL, {int(total_users):,} users, "
        f"{args.samples} random subject organisations per row (subgroups), each call on a cold session "
        f"(`expire_all`), fill took {fill_seconds:.1f} s.",
        "",
        "| call | p50 (ms) | p95 (ms) |",
        "|---|---:|---:|",
        *[f"| `{name}` | {p50:.2f} | {p95:.2f} |" for name, (p50, p95) in results.items()],
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md", "Role resolution",
                      "`benchmarks/roles.py`: who holds role R for subject org S, walking up the tree.", text)


if __name__ == "__main__":
    main()
