"""Inbox queries at scale: 1,000,000 human tasks over 100,000+ users in PostgreSQL, p50/p95 of the inbox.

Usage: ``.venv/bin/python -m benchmarks.inbox [--tasks 1000000] [--baseline-tasks 10000] [--users 100000]
[--samples 200] [--rounds 4] [--no-write] [--database-url postgresql://...]``

It works in two throw-away schemas (migrated with ``flask_migrate.upgrade``, so with exactly the indexes of
our migrations, 0a11ce000006's inbox indexes included), fills the region of ``benchmarks/roles.py`` (10
counties, 2,000 schools x 5 subgroups for 100,000 users), then loads ``--baseline-tasks`` tasks into one and
``--tasks`` into the other (same generator), and times, in interleaved rounds, what the inbox does as the app
is now, for a school officer, a county officer and a teacher:

* the single statements, built by the real ``tasks.inbox_query`` (counts as ``inbox.views.task_counts``
  builds them, lists with the view's ``due`` sort and ``LIMIT 30``, the done list by ``completed_at``);
* the inbox page as ``inbox.views.index`` runs it for the assigned and claimable tabs: a fresh
  ``app.test_request_context()`` per sample with the user logged in by ``flask_login.login_user``, then
  ``task_counts(user)`` (memoised on ``g``, roles from ``security.current_roles()``) and
  the tab's list as the view builds it (the claimable tab from ``tasks.claimable_page``, the assigned tab
  with ``db.paginate(inbox_query(..., pairs=_pairs()), count=False)``), totals from ``task_counts``.

It prints EXPLAIN (ANALYZE, BUFFERS) of the slowest statement at the large size. Figures go to docs/benchmarks.md
("Inbox queries").
"""

from __future__ import annotations

import argparse
import gc
import random
import secrets
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from benchmarks.report import write_section
from benchmarks.roles import _fill as fill_region
from benchmarks.roles import _percentiles

PAGE = 30
STATE_JSON = '{"benchmark": "dummy state: the inbox never reads process_instance.state_json"}'
#: Two process shapes: (key, share of instances, stages). Stage = (bpmn id, who acts).
PROCESSES = (
    ("hours_review", 0.7, (("submit", "teacher"), ("school_review", "school_officer"))),
    ("credit_application", 0.3, (("submit", "teacher"), ("lead_review", "subgroup_leader"),
                                 ("school_review", "school_officer"), ("county_review", "county_officer"))),
)
CLAIMED_SHARE = 0.25      # open group tasks someone has claimed
NAMED_CANDIDATE = 0.03    # open group tasks that also name one teacher as candidate user
NO_DUE_SHARE = 0.10
CANCELLED_SHARE = 0.03    # closed instances cancelled at some stage


def _region(conn) -> dict:
    """Org tree and role holders of the filled region, as plain ids."""
    parent = dict(conn.exec_driver_sql("SELECT id, parent_id FROM org").all())
    kinds = dict(conn.exec_driver_sql("SELECT id, type FROM org").all())
    region: dict = {"parent": parent, "teachers": defaultdict(list), "leader": {}, "officer": {},
                    "county_officers": defaultdict(list), "principal": {}}
    rows = conn.exec_driver_sql(
        "SELECT user_id, role, org_id FROM role_assignment WHERE active AND valid_to IS NULL ORDER BY id").all()
    for user_id, role, org_id in rows:
        if role == "teacher":
            region["teachers"][org_id].append(user_id)
        elif role == "subgroup_leader":
            region["leader"][org_id] = user_id
        elif role == "school_officer":
            region["officer"][org_id] = user_id
        elif role == "county_officer":
            region["county_officers"][org_id].append(user_id)
        elif role == "principal":
            region["principal"][org_id] = user_id
    region["schools"] = sorted(i for i, k in kinds.items() if k == "school")
    region["subgroups_of"] = defaultdict(list)
    for org_id, kind in kinds.items():
        if kind == "subgroup":
            region["subgroups_of"][parent[org_id]].append(org_id)
    return region


def _ts(value: datetime | None) -> str:
    return r"\N" if value is None else value.isoformat()


def _n(value) -> str:
    return r"\N" if value is None else str(value)


def _generate(region: dict, n_tasks: int, open_share: float, seed: int = 11):
    """Rows (as COPY text lines) for process_instance, human_task, task_candidate; and tallies."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    # Expected tasks per closed / running instance, to pick the share of running instances.
    closed_avg = sum(share * len(stages) for _, share, stages in PROCESSES)
    running_avg = sum(share * (len(stages) + 1) / 2 for _, share, stages in PROCESSES)
    running_share = open_share * closed_avg / (1 + open_share * (closed_avg - running_avg))
    instances, tasks_, candidates = [], [], []
    tally: dict[str, int] = defaultdict(int)
    task_id = candidate_id = instance_id = 0
    schools = region["schools"]
    while task_id < n_tasks:
        instance_id += 1
        key, _, stages = PROCESSES[0] if rng.random() < PROCESSES[0][1] else PROCESSES[1]
        school = rng.choice(schools)
        county = region["parent"][school]
        subgroup = rng.choice(region["subgroups_of"][school])
        teacher = rng.choice(region["teachers"][school])
        running = rng.random() < running_share
        if running:
            last, started = rng.randrange(len(stages)), now - timedelta(days=rng.uniform(0, 60))
            status, ended = "running", None
        else:
            started = now - timedelta(days=rng.uniform(60, 4 * 365))
            cancelled = rng.random() < CANCELLED_SHARE
            last = rng.randrange(len(stages)) if cancelled else len(stages) - 1
            status = "cancelled" if cancelled else "completed"
        created = started
        for stage, (bpmn_id, who) in enumerate(stages[:last + 1]):
            if task_id >= n_tasks:
                break
            task_id += 1
            holder = {"teacher": teacher, "subgroup_leader": region["leader"].get(subgroup),
                      "school_officer": region["officer"][school],
                      "county_officer": rng.choice(region["county_officers"][county])}[who]
            scope = {"teacher": None, "subgroup_leader": subgroup, "school_officer": school,
                     "county_officer": county}[who]
            assignee = teacher if who == "teacher" else None
            is_open = running and stage == last
            claimed_by = claimed_at = completed_at = completed_by = None
            due = None if rng.random() < NO_DUE_SHARE else created + timedelta(days=7)
            if is_open:
                task_status = "open"
                tally[f"open {who}"] += 1
                if who == "teacher":
                    pass  # assigned to the initiator; no candidate rows
                else:
                    candidate_id += 1
                    candidates.append(f"{candidate_id}\t{task_id}\t{who}\t{scope}\t\\N\n")
                    if rng.random() < NAMED_CANDIDATE:
                        candidate_id += 1
                        named = rng.choice(region["teachers"][school])
                        candidates.append(f"{candidate_id}\t{task_id}\t\\N\t\\N\t{named}\n")
                        tally["named candidate rows"] += 1
                    if rng.random() < CLAIMED_SHARE:
                        claimed_by, claimed_at = holder, created + timedelta(hours=rng.uniform(1, 48))
                        tally["open claimed"] += 1
            else:
                completed_at = created + timedelta(hours=rng.uniform(1, 120))
                if status == "cancelled" and stage == last:
                    task_status = "cancelled"
                else:
                    task_status, completed_by = "completed", holder
                    if who != "teacher" and rng.random() < 0.5:
                        claimed_by, claimed_at = holder, completed_at - timedelta(minutes=30)
            tally[task_status] += 1
            tasks_.append(
                f"{task_id}\t{instance_id}\t00000000-0000-4000-8000-{task_id:012x}\t{bpmn_id}\t{bpmn_id}\t{who}\t"
                f"{key}\t{subgroup}\t{key}.{bpmn_id}\t{_n(assignee)}\t{_n(claimed_by)}\t{_ts(claimed_at)}\t"
                f"{_ts(due)}\t\\N\t50\t{task_status}\t{_ts(created)}\t{_ts(completed_at)}\t{_n(completed_by)}\n")
            created = (completed_at or created) + timedelta(hours=rng.uniform(1, 24))
        ended = None if running else created
        instances.append(
            f"{instance_id}\t1\t{key}\t{key} {instance_id}\t{subgroup}\t{teacher}\t{status}\t{STATE_JSON}\t"
            f"bench\t\\N\t[]\t{{}}\t{_ts(started)}\t{_ts(ended)}\t1\n")
    tally["instances"] = instance_id
    tally["candidate rows"] = candidate_id
    return instances, tasks_, candidates, dict(tally)


def _copy(raw, sql: str, lines: list[str]) -> None:
    with raw.cursor() as cur, cur.copy(sql) as copy:
        for start in range(0, len(lines), 50_000):
            copy.write("".join(lines[start:start + 50_000]))


def _load_tasks(engine, admin, schema: str, region: dict, n_tasks: int, open_share: float) -> tuple[dict, float]:
    started = time.perf_counter()
    instances, tasks_, candidates, tally = _generate(region, n_tasks, open_share)
    with engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE task_candidate, human_task, process_instance CASCADE")
        # The generator keeps every foreign key consistent; skipping the RI triggers during the load is only speed.
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        raw = conn.connection.driver_connection
        _copy(raw, "COPY process_instance (id, definition_id, process_key, title, subject_org_id, initiator_id, "
                   "status, state_json, serializer_version, next_timer_at, waiting_messages, summary, started_at, "
                   "ended_at, lock_version) FROM STDIN", instances)
        _copy(raw, "COPY human_task (id, instance_id, task_guid, bpmn_id, name, lane, process_key, subject_org_id, "
                   "form_key, assignee_id, claimed_by_id, claimed_at, due_at, follow_up_at, priority, status, "
                   "created_at, completed_at, completed_by_id) FROM STDIN", tasks_)
        _copy(raw, "COPY task_candidate (id, task_id, role, org_id, user_id) FROM STDIN", candidates)
        # The app keeps these copies of the task's state on every candidate row (see TaskCandidate.claimable).
        conn.exec_driver_sql("UPDATE task_candidate c SET claimable = (h.assignee_id IS NULL AND h.claimed_by_id "
                             "IS NULL), due_at = h.due_at FROM human_task h WHERE h.id = c.task_id")
        for table in ("process_instance", "human_task", "task_candidate"):
            conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                 f"(SELECT coalesce(max(id), 1) FROM {table}))")
    with admin.connect() as conn:
        for table in ("process_instance", "human_task", "task_candidate"):
            conn.exec_driver_sql(f'VACUUM ANALYZE "{schema}".{table}')
    return tally, time.perf_counter() - started


def _users(region: dict, samples: int, rng: random.Random) -> dict[str, list[int]]:
    schools = rng.sample(region["schools"], min(samples, len(region["schools"])))
    county_officers = [u for users in region["county_officers"].values() for u in users]
    teachers = [rng.choice(region["teachers"][s]) for s in schools]
    cycle = lambda ids: [ids[i % len(ids)] for i in range(samples)]  # noqa: E731
    return {"school officer": cycle([region["officer"][s] for s in schools]),
            "county officer": cycle(county_officers), "teacher": cycle(teachers)}


def _queries(user) -> dict[str, sa.Select]:
    """The statements the inbox issues for ``user``, built by the real code (roles_of runs here, untimed)."""
    from webapp.inbox.views import SORTS
    from webapp.models import HumanTask
    from webapp.services import tasks

    pairs = tasks.held_pairs(user)

    def count(scope):
        return (tasks.inbox_query(user, scope, pairs=pairs).order_by(None)
                .with_only_columns(sa.func.count(HumanTask.id)))

    def page(scope, sort):
        query = tasks.inbox_query(user, scope, pairs=pairs)
        if sort:
            query = query.order_by(None).order_by(*SORTS[sort])
        return query.limit(PAGE).offset(0)

    # The claimable count and first page are what the app issues: task_candidate's claimable indexes alone.
    return {"count assigned": count(tasks.Scope.ASSIGNED), "count claimable": tasks.claimable_count_query(user, pairs),
            "claimable page 1 (due)": tasks.claimable_ids_query(user, pairs, page=1, per_page=PAGE),
            "assigned page 1 (due)": page(tasks.Scope.ASSIGNED, "due"),
            "done page 1 (completed_at)": page(tasks.Scope.DONE, None)}


Raw = dict[tuple[str, str], tuple[list[float], list[float]]]


def _merge(into: Raw, new: Raw) -> None:
    for key, (timings, rows) in new.items():
        into.setdefault(key, ([], []))
        into[key][0].extend(timings)
        into[key][1].extend(rows)


def _time_queries(users: dict[str, list[int]]) -> Raw:
    """Seconds and row counts of each query for each kind of user, one sample per user; warm session."""
    from webapp.extensions import db
    from webapp.models import User

    results: Raw = {}
    for kind, ids in users.items():
        built = [_queries(db.session.get(User, uid)) for uid in ids]
        for name in built[0]:
            for b in built[:5]:  # warm-up (and psycopg's prepare threshold)
                db.session.execute(b[name]).all()
            timings, rows = [], []
            for b in built:
                db.session.expunge_all()
                begin = time.perf_counter()
                result = db.session.execute(b[name])
                found = result.scalar() if name.startswith("count") else len(result.scalars().all())
                timings.append(time.perf_counter() - begin)
                rows.append(found)
            results[(kind, name)] = (timings, rows)
        db.session.rollback()
    return results


def _inbox_page(app, uid: int, tab: str) -> tuple[float, int, int]:
    """One request's worth of the inbox page for ``tab``, as ``inbox.views.index`` runs it without filters.

    A fresh request context (hence a fresh app context: its own ``g`` and session, as a request has); the user
    is loaded and logged in untimed (flask-login's user loader does the same before the view). Timed:
    ``task_counts`` (the navigation's counts, memoised on ``g``; ``current_roles()`` looks the roles up once)
    and the tab's list: ``inbox_query(..., pairs=_pairs())`` sorted by due, ``db.paginate(count=False)`` with
    the total taken from ``task_counts``, and the items loaded. Returns (seconds, items, total).
    """
    from flask_login import current_user, login_user

    from webapp.extensions import db
    from webapp.inbox.views import SORTS, _pairs, task_counts
    from webapp.models import User
    from webapp.services import tasks

    with app.test_request_context(f"/inbox/?tab={tab}"):
        login_user(db.session.get(User, uid))
        begin = time.perf_counter()
        counts = task_counts(current_user)  # the navigation's counts (context processor)
        if tab == "claimable":  # the view's fast path for the unfiltered claimable tab sorted by due
            items = tasks.claimable_page(current_user, _pairs(), page=1, per_page=PAGE)
        else:
            query = tasks.inbox_query(current_user, tasks.Scope(tab), pairs=_pairs())
            query = query.order_by(None).order_by(*SORTS["due"])
            items = list(db.paginate(query, page=1, per_page=PAGE, error_out=False, count=False).items)
        seconds = time.perf_counter() - begin
        return seconds, len(items), counts[tab]


def _time_pages(app, users: dict[str, list[int]]) -> Raw:
    """The whole inbox page (assigned and claimable tabs) per user, a fresh request context per sample."""
    results: Raw = {}
    for kind, ids in users.items():
        for tab in ("assigned", "claimable"):
            for uid in ids[:3]:  # warm-up
                _inbox_page(app, uid, tab)
            timings, rows = [], []
            for uid in ids:
                seconds, items, _ = _inbox_page(app, uid, tab)
                timings.append(seconds)
                rows.append(items)
            results[(kind, f"inbox page, tab={tab}")] = (timings, rows)
    return results


def _check_pages(app, users: dict[str, list[int]]) -> None:
    """The page's items and total agree with the single statements (so the request path is the real one)."""
    from webapp.extensions import db
    from webapp.models import User

    for ids in users.values():
        for uid in ids[:5]:
            with app.app_context():
                built = _queries(db.session.get(User, uid))
                want = {"assigned": (db.session.scalar(built["count assigned"]),
                                     len(db.session.execute(built["assigned page 1 (due)"]).all())),
                        "claimable": (db.session.scalar(built["count claimable"]),
                                      len(db.session.execute(built["claimable page 1 (due)"]).all()))}
                db.session.remove()
            for tab, (total, items) in want.items():
                _, got_items, got_total = _inbox_page(app, uid, tab)
                assert (got_total, got_items) == (total, items), (uid, tab, got_total, got_items, total, items)


def _explain(statement) -> str:
    from webapp.extensions import db

    sql = str(statement.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}))
    plan = db.session.execute(sa.text("EXPLAIN (ANALYZE, BUFFERS) " + sql)).scalars().all()
    db.session.rollback()
    return sql + "\n\n" + "\n".join(plan)


@dataclass
class Setup:
    """One throw-away schema holding the region and ``size`` tasks, with its own app (search_path)."""

    size: int
    schema: str
    app: object
    tally: dict
    load_seconds: float
    users: dict[str, list[int]]


def _prepare(url: str, admin, schemas: list[str], n_users: int, size: int, samples: int,
             open_share: float) -> Setup:
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.extensions import db

    schema = f"bench_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    schemas.append(schema)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "b" * 40,
                      "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"options": f"-csearch_path={schema}"}}})
    with app.app_context():
        upgrade()
        with db.engine.begin() as conn:
            fill_region(conn, n_users)
            conn.exec_driver_sql(
                "INSERT INTO process_definition (id, key, version, name, content_hash, source_files, bpmn_xml, "
                "spec_json, deployed_at) VALUES (1, 'bench', 1, 'bench', 'bench', '{}', '<definitions/>', "
                "'{}', now())")
            region = _region(conn)
        print(f"loading {size:,} tasks into {schema}...", flush=True)
        tally, seconds = _load_tasks(db.engine, admin, schema, region, size, open_share)
        print(f"  loaded in {seconds:.1f} s: {tally}", flush=True)
        tally["orgs"] = db.session.scalar(sa.text("SELECT count(*) FROM org"))
        tally["users"] = db.session.scalar(sa.text("SELECT count(*) FROM user_account"))
        tally["schools"], tally["counties"] = len(region["schools"]), len(region["county_officers"])
        tally["human_task MB"] = db.session.scalar(sa.text("SELECT pg_total_relation_size('human_task')")) / 2**20
        db.session.remove()
    return Setup(size, schema, app, tally, seconds, _users(region, samples, random.Random(7)))


def _load_average() -> str:
    try:
        return " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def run(database_url: str, n_users: int, small: int, large: int, samples: int, rounds: int, open_share: float,
        keep: bool = False) -> dict:
    from webapp.config import normalise_database_url
    from webapp.extensions import db
    from webapp.models import User

    url = normalise_database_url(database_url)
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    schemas: list[str] = []
    out: dict = {"load_before": _load_average()}
    try:
        setups = {size: _prepare(url, admin, schemas, n_users, size, samples, open_share) for size in (small, large)}
        gc.collect()
        gc.freeze()  # the generated rows and region dicts stay out of the collector's way while timing
        out["setups"] = setups
        with setups[large].app.app_context():
            out["rtt"] = min(_rtt() for _ in range(5))
        for setup in setups.values():
            _check_pages(setup.app, setup.users)
        # Interleaved rounds: every configuration gets a slice of the users in every round, so that load from
        # other processes on this shared machine hits all of them alike.
        configs = [("app", small), ("app", large)]
        raw: dict[tuple[str, int], Raw] = {config: {} for config in configs}
        step = max(1, samples // rounds)
        for r in range(rounds):
            for label, size in configs:
                setup = setups[size]
                users = {kind: ids[r * step:(r + 1) * step] for kind, ids in setup.users.items()}
                with setup.app.app_context():
                    _merge(raw[(label, size)], _time_queries(users))
                    db.session.remove()
                _merge(raw[(label, size)], _time_pages(setup.app, users))  # outside: a request per sample
                print(f"  round {r + 1}/{rounds} {label} @{size:,} done (load {_load_average()})", flush=True)
        out["results"] = {config: {key: (*_percentiles(t), statistics.fmean(rows) if rows else None)
                                   for key, (t, rows) in data.items()} for config, data in raw.items()}
        base = out["results"][("app", large)]
        kind, name = max((k for k in base if not k[1].startswith("inbox page")), key=lambda k: base[k][1])
        setup = setups[large]
        with setup.app.app_context():
            out["explained"] = (kind, name, _explain(_queries(db.session.get(User, setup.users[kind][0]))[name]))
        print(out["explained"][2], flush=True)
        for setup in setups.values():
            with setup.app.app_context():
                db.session.remove()
                db.engine.dispose()
        out["load_after"] = _load_average()
    finally:
        if not keep:
            with admin.connect() as conn:
                for schema in schemas:
                    conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        else:
            print("kept schemas:", schemas)
        admin.dispose()
    return out


def _rtt() -> float:
    from webapp.extensions import db

    begin = time.perf_counter()
    db.session.execute(sa.text("SELECT 1"))
    return (time.perf_counter() - begin) * 1000


def _verdict(p95: float, ratio: float) -> str:
    if p95 < 30 and ratio <= 1.5:
        return "met"
    return "**missed (ratio)**" if p95 < 30 else ("**missed (p95)**" if ratio <= 1.5 else "**missed**")



def _table(res: dict, label: str, small: int, large: int) -> list[str]:
    k = lambda n: f"{n // 1000:,}k"  # noqa: E731
    ts, tl = res[(label, small)], res[(label, large)]
    lines = [f"| user | query | rows @{k(large)} (mean) | p50 @{k(small)} | p95 @{k(small)} | p50 @{k(large)} | "
             f"p95 @{k(large)} | p95 ratio | goal |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for key, (p50, p95, rows) in tl.items():
        s50, s95, _ = ts[key]
        rows_text = "" if rows is None else f"{rows:,.1f}"
        lines.append(f"| {key[0]} | {key[1]} | {rows_text} | {s50:.2f} | {s95:.2f} | {p50:.2f} | {p95:.2f} | "
                     f"{p95 / s95:.2f} | {_verdict(p95, p95 / s95)} |")
    return [*lines, "", "(times in ms; *rows*: count result or items loaded)", ""]


def _report(out: dict, small: int, large: int, samples: int, rounds: int) -> str:
    res = out["results"]
    setup = out["setups"][large]
    t = setup.tally
    k = lambda n: f"{n // 1000:,}k"  # noqa: E731
    n_configs = 2
    lines = [
        f"Measured {date.today().isoformat()} on this machine: 2 cores shared with the PostgreSQL 15 server "
        f"(default `shared_buffers` 128 MB, `work_mem` 4 MB; `SELECT 1` round trip {out['rtt']:.2f} ms); load "
        f"average {out['load_before']} (1/5/15 min) at the start, {out['load_after']} at the end. p95 is noisy on "
        f"a shared 2-core machine; the comparisons are fair because the sizes are timed in interleaved rounds.",
        "",
        f"**Data.** Two throw-away schemas migrated with `flask_migrate.upgrade` (so exactly the indexes of our "
        f"migrations, including 0a11ce000006's `ix_human_task_done`, `ix_human_task_open_unclaimed`, "
        f"`ix_task_candidate_role_org_task` and `ix_task_candidate_user_task`), each with the region of "
        f"`benchmarks/roles.py`: {t['orgs']:,} organisations "
        f"({t['counties']} counties, {t['schools']:,} schools, 5 subgroups each) and {t['users']:,} users with "
        f"their role assignments (47 teachers, 5 subgroup leaders, 1 school officer, 1 principal per school; "
        f"3 county officers per county). Then {large:,} `human_task` rows ({t['human_task MB']:.0f} MB with "
        f"indexes) over {t['instances']:,} process instances (hours_review: submit → school_review, 70 %; "
        f"credit_application: submit → lead_review → school_review → county_review, 30 %), of which "
        f"{t['open']:,} ({t['open'] / large:.1%}) are open; the rest are from past years: {t['completed']:,} "
        f"completed, {t['cancelled']:,} cancelled. Open: {t.get('open teacher', 0):,} `submit` tasks assigned to "
        f"their teacher; {t.get('open subgroup_leader', 0):,} for a subgroup leader, "
        f"{t.get('open school_officer', 0):,} for a school officer, {t.get('open county_officer', 0):,} for a "
        f"county officer, each with the candidate row `sync_tasks` writes (role + the scope org `roles.resolve` "
        f"finds: subgroup, school, county); {t.get('named candidate rows', 0):,} also name one teacher as "
        f"candidate user; {t.get('open claimed', 0):,} are claimed. Closed tasks have no candidate rows (as "
        f"`sync_tasks` does), so `task_candidate` holds {t['candidate rows']:,} rows. `process_instance` rows "
        f"exist only for the foreign keys: one dummy `process_definition`, and a dummy (valid JSON) `state_json` "
        f"— the inbox never reads either. Loaded with COPY (foreign-key triggers off during the load; the "
        f"generator keeps the keys consistent), then `VACUUM ANALYZE`: {setup.load_seconds:.0f} s for "
        f"{large:,} tasks. The {small:,}-task schema uses the same generator, region and users; only the task "
        f"count differs ({out['setups'][small].tally['open']:,} open).",
        "",
        f"**Timing.** {samples} samples per row ({rounds} interleaved rounds of {samples // rounds} over the "
        f"{n_configs} configurations), one warm connection pool per schema, after warm-up; each sample is a "
        f"different user of that kind (the school officers of {samples} random schools, the 30 county officers "
        f"in turn, one teacher of each of those schools). The single statements are the app's own, built by "
        f"`tasks.inbox_query(user, scope, pairs=held_pairs(user))` (counts exactly as `inbox.views.task_counts` "
        f"builds them; lists with the view's `due` sort and `LIMIT 30`, the done list by `completed_at`; the "
        f"claimable count and first page are `tasks.claimable_count_query` / `claimable_ids_query`, read from "
        f"`task_candidate`'s claimable indexes alone); `roles_of` runs while "
        f"building them and is not in these rows. A sample includes SQLAlchemy (cached compile), the round trip "
        f"and loading the rows as `HumanTask` objects (identity map emptied first). The *inbox page* rows are "
        f"what a request for the unfiltered assigned / claimable tab does, in a fresh `app.test_request_context()` "
        f"per sample (its own app context, `g` and session) with the user logged in by `flask_login.login_user` "
        f"(loading the user is untimed, as the user loader runs before the view): `task_counts(current_user)` "
        f"(two counts, memoised on `g`; `current_roles()` looks the roles up once per request) + "
        f"the tab's first 30 items as the view fetches them (claimable: `tasks.claimable_page`; assigned: "
        f"`db.paginate(inbox_query(current_user, tab, pairs=_pairs()) sorted by due, count=False)`), totals "
        f"from the memoised `task_counts`. Not included: `_schools_in_scope` and "
        f"the process filters (`processes.filters()`: no applications exist in these schemas) and "
        f"rendering. The benchmark checks first that the page's items and total match the single statements.",
        "",
        f"Goal: p95 < 30 ms at {large:,} tasks, and p95 at {k(large)} ≤ 1.5 × p95 at {k(small)}.",
        "",
        "*As the app is now (migrations' indexes, current `tasks.py` / `inbox/views.py`):*",
        "",
        *_table(res, "app", small, large),
    ]
    kind, name, plan = out["explained"]
    lines += [f"EXPLAIN (ANALYZE, BUFFERS) at {large:,} tasks of the slowest statement by p95, **{name}** for a "
              f"{kind}:", "", "```", plan, "```"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--baseline-tasks", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--open-share", type=float, default=0.10)
    parser.add_argument("--keep", action="store_true", help="keep the schemas (to explore them in psql)")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    began = time.perf_counter()
    out = run(args.database_url, args.users, args.baseline_tasks, args.tasks, args.samples, args.rounds,
              args.open_share, args.keep)
    text = _report(out, args.baseline_tasks, args.tasks, args.samples, args.rounds)
    text += f"\n\nWhole run (fill of both schemas, checks, rounds, EXPLAIN): {time.perf_counter() - began:.0f} s."
    print(text)
    if not args.no_write:
        write_section(Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md", "Inbox queries",
                      "`benchmarks/inbox.py`: the inbox's count and list queries with 1,000,000 human tasks.", text)


if __name__ == "__main__":
    main()
