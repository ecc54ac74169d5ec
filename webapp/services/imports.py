"""CSV import of organisations and users.

Each data row is checked column by column, then created inside its own SAVEPOINT
(``db.session.begin_nested()``): a bad row is rejected and reported while the good rows around it
are kept, and the caller commits once. An import only adds: a code or login name that already
exists is rejected, never updated (edit existing records on their pages).

Files may be UTF-8 (with or without BOM) or GB18030/GBK, as Chinese Excel writes them. The report is
stored in the import's audit event, so the result page and the CSV of rejected rows survive the
redirect; passwords are never stored in it.

From the administration pages an import runs in the background (:func:`queue`, then :func:`advance` chunk
by chunk in a job): hashing one initial password takes about 0.1 s, so a county's teachers would outlast
any web request. The file is checked as a whole before it is queued; its rows are imported by the job.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l

from webapp.extensions import db
from webapp.models import (
    TRAINING_TIERS,
    AuditEvent,
    BackboneLevel,
    EmploymentType,
    ImportJob,
    ImportJobStatus,
    Org,
    OrgType,
    Role,
    SchoolStage,
    User,
)
from webapp.models.base import utcnow
from webapp.services import audit
from webapp.services import orgs as org_service
from webapp.services import users as user_service
from webapp.services.errors import ServiceError
from webapp.services.spreadsheet import safe_cell

CREATED = "created"
REJECTED = "rejected"
ENCODINGS = ("utf-8-sig", "gb18030")
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M")
TRUE_WORDS = {"1", "true", "yes", "y", "是", "√"}
FALSE_WORDS = {"", "0", "false", "no", "n", "否"}
ROLE_SEPARATORS = re.compile(r"[;；,，]")
PHONE_PATTERN = re.compile(r"^[0-9+\-() ]+$")
MAX_LENGTHS = {"code": 64, "name": 200, "kind": 40, "login": 64, "display_name": 100, "password": 128,
               "phone": 32, "email": 254, "subject": 40, "title": 40}


@dataclass(frozen=True)
class ImportKind:
    """One kind of import: its columns (in template order), which must have a value, and an example."""

    name: str
    audit_action: str
    columns: tuple[str, ...]
    required: tuple[str, ...]
    #: The column naming the record a row creates (shown in the report).
    key: str
    example: tuple[tuple[str, ...], ...]
    #: Columns never kept in the report (and left empty in the CSV of rejected rows).
    secret: tuple[str, ...] = ()
    #: Service error fields mapped to the column the user should look at.
    field_columns: dict[str, str] = field(default_factory=dict)


ORGS = ImportKind(
    name="orgs", audit_action="org.import",
    columns=("code", "name", "type", "parent_code", "stage", "kind", "valid_from", "valid_to"),
    required=("code", "name", "type"), key="code",
    example=(("C01", "示例市", "city", "", "", "", "", ""),
             ("C01-K01", "示例县", "county", "C01", "", "", "", ""),
             ("C01-K01-S001", "示例县第一中学", "school", "C01-K01", "senior", "", "2025-09-01", ""),
             ("C01-K01-S001-MATH", "高一数学备课组", "subgroup", "C01-K01-S001", "senior", "备课组", "", "")),
    field_columns={"parent": "parent_code", "type": "type", "code": "code", "valid_to": "valid_to"},
)

USERS = ImportKind(
    name="users", audit_action="user.import",
    columns=("login", "display_name", "password", "phone", "email", "org_code", "subject", "stage", "title",
             "hire_date", "is_class_teacher", "backbone_level", "training_tier", "employment_type", "roles",
             "primary_subgroup_code"),
    required=("login", "display_name", "password"), key="login",
    example=(("zhangsan", "张三", "Chushi2025!", "13800000000", "zhangsan@example.com", "C01-K01-S001", "数学",
              "senior", "一级教师", "2018-09-01", "1", "county", "2", "established", "teacher@C01-K01-S001",
              "C01-K01-S001-MATH"),
             ("lisi", "李四", "Chushi2025!", "", "", "C01-K01-S001", "数学", "senior", "高级教师", "2009-09-01", "0",
              "", "3", "contract", "teacher@C01-K01-S001;subgroup_leader@C01-K01-S001-MATH", "C01-K01-S001-MATH")),
    secret=("password",),
    field_columns={"login": "login", "password": "password", "display_name": "display_name",
                   "training_tier": "training_tier", "employment_type": "employment_type",
                   "subgroup": "primary_subgroup_code", "org": "roles", "role": "roles", "valid_to": "roles"},
)

KINDS = {kind.name: kind for kind in (ORGS, USERS)}
E = TypeVar("E")


class ImportFileError(ServiceError):
    """The file as a whole cannot be read (too big, empty, not CSV, wrong header); nothing was imported."""

    def __init__(self, message: object) -> None:
        super().__init__(message, field="file")


@dataclass
class RowResult:
    #: The row number as a spreadsheet shows it: the header is row 1.
    row: int
    key: str
    values: dict[str, str]
    status: str = CREATED
    #: (column or None for the whole row, message) pairs.
    errors: list[tuple[str | None, str]] = field(default_factory=list)

    def error(self, column: str | None, message: object) -> None:
        self.errors.append((column, str(message)))
        self.status = REJECTED


@dataclass
class ImportReport:
    kind: str
    filename: str
    encoding: str
    columns: list[str]
    rows: list[RowResult] = field(default_factory=list)
    event: AuditEvent | None = None

    @property
    def created(self) -> int:
        return sum(1 for row in self.rows if row.status == CREATED)

    @property
    def rejected(self) -> int:
        return sum(1 for row in self.rows if row.status == REJECTED)

    def to_json(self) -> dict[str, Any]:
        kind = KINDS[self.kind]
        return _report_json(kind, self.filename, self.encoding, self.columns, [_row_json(kind, r) for r in self.rows])


def _row_json(kind: ImportKind, row: RowResult) -> dict[str, Any]:
    """One row's outcome as the report keeps it (a rejected row keeps its values, secrets blanked)."""
    return {"row": row.row, "key": row.key, "status": row.status, "errors": [list(e) for e in row.errors],
            **({"values": {k: ("" if k in kind.secret else v) for k, v in row.values.items()}}
               if row.status == REJECTED else {})}


def _report_json(kind: ImportKind, filename: str, encoding: str, columns: list[str],
                 rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": kind.name, "filename": filename, "encoding": encoding, "columns": columns,
            "created": sum(1 for r in rows if r["status"] == CREATED),
            "rejected": sum(1 for r in rows if r["status"] == REJECTED), "rows": rows}


# Reading the file -------------------------------------------------------------------------------------


def _size_text(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{max(size // 1024, 1)} KB"


def decode(data: bytes) -> tuple[str, str]:
    """The file's text and the encoding that read it: UTF-8 (BOM or not) first, then GB18030 (GBK)."""
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise ImportFileError(_l("This is an Excel workbook, not a CSV file. In Excel choose “Save as” with the "
                                 "type “CSV UTF-8 (comma delimited)” and upload that file."))
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data:
        raise ImportFileError(_l("This is not a CSV text file. Save it as “CSV UTF-8 (comma delimited)” and "
                                 "upload it again."))
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise ImportFileError(_l("The file is neither UTF-8 nor GBK text. Save it as “CSV UTF-8 (comma delimited)” "
                             "and upload it again."))


def _check_header(header: list[str], kind: ImportKind) -> None:
    if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
        raise ImportFileError(_l("The columns must be separated by commas, not semicolons or tabs. Save the file "
                                 "as “CSV UTF-8 (comma delimited)”."))
    problems = []
    duplicates = sorted({name for name in header if name and header.count(name) > 1})
    missing = [name for name in kind.required if name not in header]
    unknown = [name or "?" for name in header if name not in kind.columns]
    if duplicates:
        problems.append(str(_l("Columns named twice: %(names)s.", names=", ".join(duplicates))))
    if missing:
        problems.append(str(_l("Missing columns: %(names)s.", names=", ".join(missing))))
    if unknown:
        problems.append(str(_l("Unknown columns: %(names)s.", names=", ".join(unknown))))
    if problems:
        raise ImportFileError(" ".join([
            str(_l("The first row must name the columns.")), *problems,
            str(_l("Allowed columns: %(names)s.", names=", ".join(kind.columns)))]))


def read_rows(data: bytes, kind: ImportKind, max_bytes: int) -> tuple[str, list[str], list[RowResult]]:
    """Check and parse the file: (encoding, header, one result per non-blank data row, values stripped)."""
    if len(data) > max_bytes:
        raise ImportFileError(_l("The file is larger than %(size)s. Split it into smaller files.",
                                 size=_size_text(max_bytes)))
    if not data.strip():
        raise ImportFileError(_l("The file is empty."))
    text, encoding = decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        records = list(reader)
    except csv.Error as error:
        raise ImportFileError(_l("The file is not valid CSV near row %(row)d (%(detail)s). Check the quotation "
                                 "marks there.", row=reader.line_num, detail=str(error))) from error
    if not records or not any(cell.strip() for cell in records[0]):
        raise ImportFileError(_l("The first row must name the columns."))
    header = [cell.strip().lstrip("\ufeff").lower() for cell in records[0]]
    _check_header(header, kind)
    rows = []
    for number, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue
        values = {name: (record[i].strip() if i < len(record) else "") for i, name in enumerate(header)}
        result = RowResult(row=number, key=values.get(kind.key, ""), values=values)
        if any(cell.strip() for cell in record[len(header):]):
            result.error(None, _l("This row has more cells than the header has columns."))
        rows.append(result)
    if not rows:
        raise ImportFileError(_l("The file has a header but no data rows."))
    return encoding, header, rows


# Reading one cell -------------------------------------------------------------------------------------


def _check_common(row: RowResult, kind: ImportKind) -> None:
    for name in kind.required:
        if not row.values.get(name):
            row.error(name, _l("A value is required."))
    for name, limit in MAX_LENGTHS.items():
        if len(row.values.get(name, "")) > limit:
            row.error(name, _l("At most %(n)d characters.", n=limit))


def _date(row: RowResult, column: str) -> date | None:
    raw = row.values.get(column, "")
    if not raw:
        return None
    for pattern in DATE_FORMATS:
        try:
            return datetime.strptime(raw, pattern).date()
        except ValueError:
            continue
    row.error(column, _l("“%(value)s” is not a date; write it like 2025-09-01.", value=raw))
    return None


def _choice(row: RowResult, column: str, enum_type: Callable[[str], E], allowed: list[str]) -> E | None:
    raw = row.values.get(column, "").lower()
    if not raw:
        return None
    try:
        return enum_type(raw)
    except ValueError:
        row.error(column, _l("Unknown value “%(value)s”; use one of: %(choices)s.", value=raw,
                             choices=", ".join(allowed)))
        return None


def _tier(row: RowResult, column: str) -> int | None:
    raw = row.values.get(column, "")
    if not raw:
        return None
    if raw not in {str(tier) for tier in TRAINING_TIERS}:
        row.error(column, _l("“%(value)s” is not a training tier; write 1, 2 or 3 (for 一层级, 二层级, 三层级), or "
                             "nothing.", value=raw))
        return None
    return int(raw)


def _flag(row: RowResult, column: str) -> bool:
    raw = row.values.get(column, "").lower()
    if raw in TRUE_WORDS:
        return True
    if raw not in FALSE_WORDS:
        row.error(column, _l("Write 1 for yes or 0 (or nothing) for no."))
    return False


def _org(row: RowResult, column: str, code: str | None = None) -> Org | None:
    code = row.values.get(column, "") if code is None else code
    if not code:
        return None
    org = org_service.find_by_code(code)
    if org is None:
        row.error(column, _l("No organisation has the code %(code)s.", code=code))
    elif not org.active:
        row.error(column, _l("The organisation %(code)s is deactivated.", code=code))
        return None
    return org


def _service_error(row: RowResult, kind: ImportKind, error: ServiceError) -> None:
    row.error(kind.field_columns.get(error.field or "", error.field), error.message)


# Organisations ----------------------------------------------------------------------------------------


def _import_org(row: RowResult, rejected_codes: set[str], actor: User | None, ip: str | None) -> None:
    values = row.values
    _check_common(row, ORGS)
    code = values.get("code", "")
    if re.search(r"\s", code):
        row.error("code", _l("The code cannot contain spaces."))
    elif code and org_service.find_by_code(code) is not None:
        row.error("code", _l("The code %(code)s is already in use.", code=code))
    org_type = _choice(row, "type", OrgType, [t.value for t in OrgType])
    parent_code = values.get("parent_code", "")
    parent = org_service.find_by_code(parent_code) if parent_code else None
    if parent_code and parent is None:
        if parent_code in rejected_codes:
            row.error("parent_code", _l("The parent %(code)s was rejected in an earlier row.", code=parent_code))
        else:
            row.error("parent_code", _l("No organisation has the code %(code)s, neither saved nor in an earlier "
                                        "row of this file.", code=parent_code))
    elif parent is not None and not parent.active:
        row.error("parent_code", _l("The organisation %(code)s is deactivated.", code=parent_code))
    stage = _choice(row, "stage", SchoolStage, [s.value for s in SchoolStage])
    valid_from, valid_to = _date(row, "valid_from"), _date(row, "valid_to")
    if row.status == REJECTED or org_type is None:
        return
    try:
        with db.session.begin_nested():
            org = org_service.create_org(code=code, name=values["name"], type=org_type, parent=parent, stage=stage,
                                         kind=values.get("kind"), valid_from=valid_from, valid_to=valid_to)
            audit.record("org.create", actor=actor, obj=org, ip=ip,
                         after=audit.snapshot(org, org_service.SNAPSHOT_FIELDS))
    except ServiceError as error:
        _service_error(row, ORGS, error)
    except sa.exc.IntegrityError:  # created by someone else between the check and the insert
        row.error("code", _l("An organisation with the code %(code)s already exists.", code=values.get("code")))


# Users ------------------------------------------------------------------------------------------------


def _roles(row: RowResult, org: Org | None) -> list[tuple[Role, Org]]:
    """``teacher@ORGCODE;subgroup_leader@ORGCODE``; a role without ``@`` is held at the user's org_code."""
    wanted: list[tuple[Role, Org]] = []
    for item in (part.strip() for part in ROLE_SEPARATORS.split(row.values.get("roles", ""))):
        if not item:
            continue
        code, _, org_code = (s.strip() for s in item.partition("@"))
        try:
            role = Role(code.lower())
        except ValueError:
            row.error("roles", _l("Unknown role code “%(value)s”; use one of: %(choices)s.", value=code,
                                  choices=", ".join(r.value for r in Role)))
            continue
        if not org_code and org is None:
            row.error("roles", _l("Name the organisation of the role %(role)s, as in %(role)s@CODE.", role=code))
            continue
        scope = _org(row, "roles", org_code) if org_code else org
        if scope is not None and (role, scope) not in wanted:
            wanted.append((role, scope))
    return wanted


def _import_user(row: RowResult, actor: User | None, ip: str | None, password_min_length: int) -> None:
    values = row.values
    _check_common(row, USERS)
    for name, check in (("login", user_service.check_login),
                        ("password", lambda value: user_service.check_password_strength(value, password_min_length))):
        if values.get(name):
            try:
                check(values[name])
            except ServiceError as error:
                row.error(name, error.message)
    if values.get("phone") and not PHONE_PATTERN.match(values["phone"]):
        row.error("phone", _l("Use digits, spaces, +, - or ()."))
    if values.get("email"):
        try:
            validate_email(values["email"], check_deliverability=False)
        except EmailNotValidError:
            row.error("email", _l("Enter a valid email address."))
    org = _org(row, "org_code")
    if org is not None and org.type is OrgType.SUBGROUP:
        row.error("org_code", _l("A person works in a school, institute or bureau; put subgroups in "
                                 "primary_subgroup_code."))
    stage = _choice(row, "stage", SchoolStage, [s.value for s in SchoolStage])
    backbone = _choice(row, "backbone_level", BackboneLevel, [b.value for b in BackboneLevel])
    tier = _tier(row, "training_tier")
    employment = _choice(row, "employment_type", EmploymentType, [k.value for k in EmploymentType])
    hire_date = _date(row, "hire_date")
    is_class_teacher = _flag(row, "is_class_teacher")
    roles = _roles(row, org)
    subgroup = _org(row, "primary_subgroup_code")
    if subgroup is not None:
        if subgroup.type is not OrgType.SUBGROUP:
            row.error("primary_subgroup_code", _l("%(code)s is not a subgroup.", code=subgroup.code))
        elif org is not None and not org_service.is_within(subgroup, org):
            row.error("primary_subgroup_code", _l("The subgroup %(code)s does not belong to %(org)s.",
                                                  code=subgroup.code, org=org.code))
    if row.status == REJECTED:
        return
    try:
        with db.session.begin_nested():
            user = user_service.create_user(
                login=values["login"], password=values["password"], display_name=values["display_name"],
                phone=values.get("phone"), email=values.get("email"), org=org, subject=values.get("subject"),
                stage=stage, title=values.get("title"), hire_date=hire_date, is_class_teacher=is_class_teacher,
                backbone_level=backbone, training_tier=tier,
                employment_type=employment.value if employment else None)
            if subgroup is not None:
                user_service.set_primary_subgroup(user, subgroup)
            audit.record("user.create", actor=actor, obj=user, ip=ip,
                         after={**audit.snapshot(user, user_service.PROFILE_FIELDS),
                                "primary_subgroup_id": subgroup.id if subgroup else None})
            for role, scope in roles:
                user_service.check_assignment(user, role, scope, valid_from=None, valid_to=None)
                assignment = user_service.assign_role(user, role, scope)
                audit.record("role.assign", actor=actor, obj=assignment, ip=ip,
                             after=audit.snapshot(assignment, user_service.ASSIGNMENT_FIELDS))
    except ServiceError as error:
        _service_error(row, USERS, error)
    except sa.exc.IntegrityError:  # created by someone else between the check and the insert
        row.error("login", _l("The login name %(login)s is already taken.", login=values.get("login")))


# Running an import ------------------------------------------------------------------------------------


def run(kind_name: str, data: bytes, *, filename: str, actor: User | None, max_bytes: int,
        password_min_length: int = 8, ip: str | None = None) -> ImportReport:
    """Import every good row of the file; raise ``ImportFileError`` (nothing imported) when the file is unusable.

    Writes one audit event per created record and one for the whole import, holding the report.
    """
    kind = KINDS[kind_name]
    encoding, header, rows = read_rows(data, kind, max_bytes)
    report = ImportReport(kind=kind.name, filename=filename[:200], encoding=encoding, columns=header, rows=rows)
    _import_rows(kind, rows, set(), actor, ip, password_min_length)
    report.event = audit.record(kind.audit_action, actor=actor, object_type="import", object_id=kind.name,
                                after=report.to_json(), ip=ip)
    db.session.flush()
    return report


def _import_rows(kind: ImportKind, rows: list[RowResult], rejected_codes: set[str], actor: User | None,
                 ip: str | None, password_min_length: int) -> None:
    """Import ``rows`` in order; ``rejected_codes`` (keys rejected so far) grows as rows are rejected."""
    for row in rows:
        if row.status != REJECTED:
            if kind is ORGS:
                _import_org(row, rejected_codes, actor, ip)
            else:
                _import_user(row, actor, ip, password_min_length)
        if row.status == REJECTED and row.key:
            rejected_codes.add(row.key)


# Imports in the background ----------------------------------------------------------------------------

#: A committed chunk of a background import ends after this many rows or seconds, whichever comes first:
#: about 20 users (hashing a password takes ~0.1 s) or hundreds of organisations, and progress every 2 s.
CHUNK_ROWS = 500
CHUNK_SECONDS = 2.0
#: A running import whose last chunk is older than this lost its worker: the sweep resumes it.
STALE_AFTER = timedelta(minutes=5)


def queue(kind_name: str, data: bytes, *, filename: str, actor: User | None, max_bytes: int, locale: str,
          password_min_length: int = 8, ip: str | None = None) -> ImportJob:
    """Check the file now (a problem with the file as a whole raises ``ImportFileError``) and queue its rows.

    The job imports them in the background (:func:`advance`); nothing is imported here.
    """
    kind = KINDS[kind_name]
    _, _, rows = read_rows(data, kind, max_bytes)
    job = ImportJob(kind=kind.name, filename=filename[:200], data=data, total_rows=len(rows), processed_rows=0,
                    results=[], actor_id=actor.id if actor else None, ip=ip, locale=locale,
                    password_min_length=password_min_length, status=ImportJobStatus.QUEUED)
    db.session.add(job)
    db.session.flush()
    return job


def lock_job(job_id: int) -> ImportJob | None:
    """The unfinished job, locked; None when it is finished or another worker is importing a chunk of it."""
    return db.session.scalar(sa.select(ImportJob).where(
        ImportJob.id == job_id, ImportJob.status.in_([ImportJobStatus.QUEUED, ImportJobStatus.RUNNING]))
        .with_for_update(skip_locked=True).execution_options(populate_existing=True))


def mark_running(job: ImportJob) -> None:
    job.status, job.updated_at = ImportJobStatus.RUNNING, utcnow()
    db.session.flush()


def parse(job: ImportJob) -> tuple[str, list[str], list[RowResult]]:
    """The job's file read again: (encoding, header, rows); checked when it was queued."""
    return read_rows(job.data, KINDS[job.kind], len(job.data))


def advance(job: ImportJob, max_rows: int = CHUNK_ROWS, max_seconds: float = CHUNK_SECONDS,
            parsed: tuple[str, list[str], list[RowResult]] | None = None) -> bool:
    """Import the next rows of the (locked) ``job``, at most ``max_rows`` and for about ``max_seconds`` (one
    row at least); True once every row is done. ``parsed``: :func:`parse` of the job, when the caller runs
    several chunks (the file is then neither loaded nor read again for each).

    The rows' outcomes and ``processed_rows`` change in the caller's transaction, with the rows themselves:
    committed together, a resumed job starts exactly after the last committed chunk. When the last row is
    done the report is written as the import's audit event and the uploaded file is dropped (it holds the
    users' initial passwords).
    """
    kind = KINDS[job.kind]
    encoding, header, rows = parsed or parse(job)
    results = list(job.results or [])
    rejected_codes = {r["key"] for r in results if r["status"] == REJECTED and r["key"]}
    chunk: list[RowResult] = []
    started = time.monotonic()
    for row in rows[job.processed_rows:job.processed_rows + max_rows]:
        if chunk and time.monotonic() - started >= max_seconds:
            break
        _import_rows(kind, [row], rejected_codes, job.actor, job.ip, job.password_min_length)
        chunk.append(row)
    job.results = results + [_row_json(kind, row) for row in chunk]
    job.processed_rows += len(chunk)
    job.status, job.updated_at = ImportJobStatus.RUNNING, utcnow()
    if job.processed_rows < len(rows):
        db.session.flush()
        return False
    event = audit.record(kind.audit_action, actor=job.actor, object_type="import", object_id=kind.name,
                         after=_report_json(kind, job.filename, encoding, header, job.results), ip=job.ip)
    db.session.flush()
    job.event_id, job.status, job.finished_at, job.data = event.id, ImportJobStatus.DONE, utcnow(), b""
    db.session.flush()
    return True


def fail(job_id: int, error: BaseException) -> None:
    """Give up on a job (after the failed chunk was rolled back): the rows committed before stay imported,
    and a report of them is written (marked failed), so they are listed under the recent imports."""
    job = db.session.get(ImportJob, job_id)
    if job is None or job.status is ImportJobStatus.DONE:
        return
    kind = KINDS[job.kind]
    try:
        encoding, header, _ = read_rows(job.data, kind, len(job.data))
    except ServiceError:
        encoding, header = "", []
    job.status, job.finished_at, job.data = ImportJobStatus.FAILED, utcnow(), b""
    job.error = safe_error(error)
    report = {**_report_json(kind, job.filename, encoding, header, list(job.results or [])),
              "failed": job.error, "total_rows": job.total_rows}
    job.event = audit.record(kind.audit_action, actor=job.actor, object_type="import", object_id=kind.name,
                             after=report, ip=job.ip)
    db.session.flush()


def safe_error(error: BaseException) -> str:
    """What an administrator may read of an error: a database error's first line only (never the statement
    or its parameters, which can hold a password hash)."""
    if isinstance(error, sa.exc.DBAPIError):
        first = str(error.orig).strip().splitlines()[0] if error.orig is not None else ""
        return f"{type(error.orig or error).__name__}: {first}"[:500]
    return f"{type(error).__name__}: {error}"[:2000]


def pending_job_ids(now: datetime | None = None, stale_after: timedelta = STALE_AFTER) -> list[int]:
    """Jobs nobody has worked on for ``stale_after``: queued (their message was lost, or is stuck behind
    a long queue) or running with a dead worker."""
    stale = (now or utcnow()) - stale_after
    return list(db.session.scalars(sa.select(ImportJob.id).where(
        ImportJob.status.in_([ImportJobStatus.QUEUED, ImportJobStatus.RUNNING]), ImportJob.updated_at < stale)
        .order_by(ImportJob.id)))


def unfinished_jobs() -> list[ImportJob]:
    """Imports still queued or running, oldest first (the import page lists them)."""
    return list(db.session.scalars(sa.select(ImportJob).where(
        ImportJob.status.in_([ImportJobStatus.QUEUED, ImportJobStatus.RUNNING])).order_by(ImportJob.id)))


def template_csv(kind_name: str) -> str:
    """A CSV with the header and example rows, with a BOM so Excel opens the Chinese text correctly."""
    kind = KINDS[kind_name]
    return _csv([list(kind.columns), *map(list, kind.example)])


def rejected_csv(report: dict[str, Any]) -> str:
    """The rejected rows of a stored report, as uploaded, with an ``error`` column naming each problem."""
    columns = list(report["columns"])
    lines = [[*columns, "error"]]
    for row in report["rows"]:
        if row["status"] != REJECTED:
            continue
        messages = "; ".join(f"{column}: {message}" if column else message for column, message in row["errors"])
        lines.append([*(safe_cell(row.get("values", {}).get(name, "")) for name in columns), safe_cell(messages)])
    return _csv(lines)


def _csv(lines: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(lines)
    return "\ufeff" + buffer.getvalue()


def recent_imports(limit: int = 10) -> list[AuditEvent]:
    return list(db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action.in_([k.audit_action for k in KINDS.values()]))
        .order_by(AuditEvent.id.desc()).limit(limit)))
