"""CSV import: encodings, header checks, per-row validation in savepoints, the stored report."""

import csv
import io

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from webapp.models import AuditEvent, Org, User
from webapp.services import imports
from webapp.services.imports import ImportFileError

MAX = 100_000
PASSWORD = "Chushi2025!"


@pytest.fixture(autouse=True)
def english(db):
    with force_locale("en"):
        yield


def csv_bytes(rows, encoding="utf-8"):
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode(encoding)


def run(kind, rows, **kwargs):
    data = rows if isinstance(rows, bytes) else csv_bytes(rows)
    return imports.run(kind, data, filename=f"{kind}.csv", actor=None, max_bytes=MAX, **kwargs)


def outcome(report):
    """{key: (status, [(column, message), ...])} of every row."""
    return {row.key or f"row{row.row}": (row.status, row.errors) for row in report.rows}


def columns(report, key):
    return [column for column, _ in outcome(report)[key][1]]


ORG_HEADER = ["code", "name", "type", "parent_code", "stage", "kind", "valid_from", "valid_to"]


def test_org_rows_are_checked_one_by_one_and_good_ones_kept(db, region):
    report = run("orgs", [
        ORG_HEADER,
        ["K9", "九县", "county", "C1", "", "", "", ""],
        ["K9-S1", "九县一中", "School", "K9", "senior", "", "2025/9/1", ""],
        ["K9-S2", "坏类型", "academy", "K9", "", "", "", ""],
        ["K9-S3", "无父", "school", "NOPE", "", "", "", ""],
        ["K9-S4", "坏日期", "school", "K9", "", "", "2025-02-30", ""],
        ["", "无代码", "school", "K9", "", "", "", ""],
        ["K9-S1-M", "数学备课组", "subgroup", "K9-S1", "senior", "备课组", "", ""],
        ["C1-K1", "重复", "county", "C1", "", "", "", ""],
        ["K9-G", "县下组", "subgroup", "K9", "", "", "", ""],
        ["K9-S2-M", "子组", "subgroup", "K9-S2", "", "", "", ""],
        ["K9-S5", "倒序", "school", "K9", "", "", "2025-09-01", "2025-01-01"],
        ["", "", "", "", "", "", "", ""],
    ])
    result = outcome(report)
    assert {k for k, (status, _) in result.items() if status == "created"} == {"K9", "K9-S1", "K9-S1-M"}
    assert result["K9-S2"][1] == [("type", "Unknown value “academy”; use one of: city, county, school_group, zone, "
                                           "school, subgroup, institute.")]
    assert columns(report, "K9-S3") == ["parent_code"] and "NOPE" in result["K9-S3"][1][0][1]
    assert result["K9-S4"][1] == [("valid_from", "“2025-02-30” is not a date; write it like 2025-09-01.")]
    assert result["row7"][1] == [("code", "A value is required.")]
    assert result["C1-K1"][1] == [("code", "The code C1-K1 is already in use.")]
    assert result["K9-G"][1] == [("parent_code", "An organisation of this type cannot sit under that parent.")]
    assert result["K9-S2-M"][1] == [("parent_code", "The parent K9-S2 was rejected in an earlier row.")]
    assert result["K9-S5"][1] == [("valid_to", "The end date must not be before the start date.")]
    assert [r.row for r in report.rows][-1] == 12, "blank lines are skipped, row numbers are the spreadsheet's"

    school = db.session.scalar(sa.select(Org).where(Org.code == "K9-S1"))
    subgroup = db.session.scalar(sa.select(Org).where(Org.code == "K9-S1-M"))
    assert school.parent.code == "K9" and school.path.startswith(region["city"].path) and school.depth == 2
    assert subgroup.path == f"{school.path}{subgroup.id}/" and subgroup.kind == "备课组"
    assert db.session.scalar(sa.select(Org).where(Org.code == "K9-S2")) is None

    created = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "org.create")).all()
    assert sorted(e.after["code"] for e in created) == ["K9", "K9-S1", "K9-S1-M"]
    assert report.event.action == "org.import"
    assert report.event.after["created"] == 3 and report.event.after["rejected"] == 8


USER_HEADER = ["login", "display_name", "password", "org_code", "roles", "primary_subgroup_code", "hire_date",
               "is_class_teacher", "stage", "backbone_level", "email", "phone"]


def user_row(login, name="某老师", password=PASSWORD, org="C1-K1-S1", roles="", subgroup="", hire="",
             class_teacher="", stage="", backbone="", email="", phone=""):
    return [login, name, password, org, roles, subgroup, hire, class_teacher, stage, backbone, email, phone]


def test_user_rows_are_checked_one_by_one_and_good_ones_kept(db, region, make_user):
    make_user("olduser")
    report = run("users", [
        USER_HEADER,
        user_row("zhang3", "张三", roles="teacher@C1-K1-S1;subgroup_leader@C1-K1-S1-MATH", subgroup="C1-K1-S1-MATH",
                 hire="2018-09-01", class_teacher="是", stage="Senior", backbone="county", email="z3@example.com",
                 phone="138 0000 0000"),
        user_row("li4", "李四", roles="teacher"),
        user_row("ZHANG3", "重名"),
        user_row("olduser", "老用户"),
        user_row("bad1", ""),
        user_row("bad2", roles="teacher@C1-K1-S1;boss@C1-K1-S1"),
        user_row("bad3", org="NOPE", roles="teacher@NOPE2"),
        user_row("bad4", hire="2019/02/30", class_teacher="maybe"),
        user_row("bad5", password="12345678"),
        user_row("bad6", org="C1-K2-S1", subgroup="C1-K1-S1-MATH"),
        user_row("bad7", org="C1-K1-S1-MATH"),
        user_row("bad8", email="not-an-email", phone="call me", backbone="gold"),
        user_row("x", password=""),
    ], password_min_length=8)
    result = outcome(report)
    assert {k for k, (status, _) in result.items() if status == "created"} == {"zhang3", "li4"}
    assert result["ZHANG3"][1] == [("login", "The login name ZHANG3 is already taken.")]
    assert result["olduser"][1] == [("login", "The login name olduser is already taken.")]
    assert result["bad1"][1] == [("display_name", "A value is required.")]
    assert columns(report, "bad2") == ["roles"] and "Unknown role code “boss”" in result["bad2"][1][0][1]
    assert result["bad3"][1] == [("org_code", "No organisation has the code NOPE."),
                                 ("roles", "No organisation has the code NOPE2.")]
    assert columns(report, "bad4") == ["hire_date", "is_class_teacher"]
    assert result["bad5"][1] == [("password", "The password must mix letters with digits or symbols.")]
    assert result["bad6"][1] == [("primary_subgroup_code", "The subgroup C1-K1-S1-MATH does not belong to C1-K2-S1.")]
    assert columns(report, "bad7") == ["org_code"]
    assert columns(report, "bad8") == ["phone", "email", "backbone_level"]
    assert sorted(columns(report, "x")) == ["login", "password"]

    zhang = db.session.scalar(sa.select(User).where(User.login == "zhang3"))
    assert zhang.org_id == region["school"].id and zhang.is_class_teacher and zhang.stage.value == "senior"
    assert zhang.backbone_level.value == "county" and zhang.hire_date.isoformat() == "2018-09-01"
    assert [(m.org.code, m.is_primary) for m in zhang.memberships] == [("C1-K1-S1-MATH", True)]
    li = db.session.scalar(sa.select(User).where(User.login == "li4"))
    held = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "role.assign")).all()
    assert sorted((e.after["user_id"], e.after["role"], e.after["org_id"]) for e in held) == sorted([
        (zhang.id, "teacher", region["school"].id), (zhang.id, "subgroup_leader", region["maths"].id),
        (li.id, "teacher", region["school"].id)])
    assert db.session.scalar(sa.select(User).where(User.login == "bad2")) is None, "a rejected row leaves nothing"
    assert report.event.after["created"] == 2 and report.event.after["rejected"] == 11



def test_training_tier_and_employment_type_columns(db, region):
    header = ["login", "display_name", "password", "org_code", "training_tier", "employment_type"]
    report = run("users", [
        header,
        ["tier1", "一老师", PASSWORD, "C1-K1-S1", "1", "established"],
        ["tier3", "三老师", PASSWORD, "C1-K1-S1", " 3 ", "Contract"],
        ["blank", "空老师", PASSWORD, "C1-K1-S1", "", ""],
        ["badtier", "坏层级", PASSWORD, "C1-K1-S1", "4", "established"],
        ["wordtier", "写汉字", PASSWORD, "C1-K1-S1", "一层级", "private"],
        ["badkind", "坏类型", PASSWORD, "C1-K1-S1", "2", "permanent"],
    ])
    result = outcome(report)
    assert {k for k, (status, _) in result.items() if status == "created"} == {"tier1", "tier3", "blank"}
    assert result["badtier"][1] == [("training_tier", "“4” is not a training tier; write 1, 2 or 3 (for 一层级, "
                                                      "二层级, 三层级), or nothing.")]
    assert columns(report, "wordtier") == ["training_tier"]
    assert result["badkind"][1] == [("employment_type", "Unknown value “permanent”; use one of: established, "
                                                        "contract, substitute, private.")]
    people = {u.login: (u.training_tier, u.employment_type) for u in db.session.scalars(sa.select(User))}
    assert people == {"tier1": (1, "established"), "tier3": (3, "contract"), "blank": (None, None)}, \
        "a rejected row leaves nothing"
    created = {e.after["login"]: e.after for e in db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "user.create"))}
    assert (created["tier3"]["training_tier"], created["tier3"]["employment_type"]) == (3, "contract")


def test_a_bad_training_tier_is_explained_in_chinese(db, region):
    with force_locale("zh_CN"):
        report = run("users", [["login", "display_name", "password", "training_tier"],
                               ["badtier", "坏层级", PASSWORD, "二"]])
    assert outcome(report)["badtier"][1] == [
        ("training_tier", "“二”不是有效的研修层级；请填写 1、2 或 3（分别表示一层级、二层级、三层级），或留空。")]


def test_nobody_and_nothing_is_imported_into_a_deactivated_organisation(db, region):
    from webapp.services.orgs import set_org_active

    for org in (region["chinese"], region["school2"], region["county2"]):
        set_org_active(org, False)
    users = run("users", [
        USER_HEADER,
        user_row("works_there", org="C1-K2-S1"),
        user_row("teaches_there", roles="teacher@C1-K2-S1"),
        user_row("joins_group", subgroup="C1-K1-S1-CHN"),
        user_row("still_fine", roles="teacher", subgroup="C1-K1-S1-MATH"),
    ])
    result = outcome(users)
    assert result["works_there"][1] == [("org_code", "The organisation C1-K2-S1 is deactivated.")]
    assert result["teaches_there"][1] == [("roles", "The organisation C1-K2-S1 is deactivated.")]
    assert result["joins_group"][1] == [("primary_subgroup_code", "The organisation C1-K1-S1-CHN is deactivated.")]
    assert result["still_fine"][0] == "created"
    assert {user.login for user in db.session.scalars(sa.select(User))} == {"still_fine"}
    orgs = run("orgs", [ORG_HEADER, ["K2-S9", "新学校", "school", "C1-K2", "", "", "", ""]])
    assert outcome(orgs)["K2-S9"][1] == [("parent_code", "The organisation C1-K2 is deactivated.")]
    assert db.session.scalar(sa.select(Org).where(Org.code == "K2-S9")) is None

def test_the_stored_report_keeps_no_password_and_gives_back_rejected_rows(db, region):
    report = run("users", [USER_HEADER, user_row("good1"), user_row("bad1", password="short1")])
    stored = report.event.after
    assert "Chushi2025!" not in str(stored) and "short1" not in str(stored)
    text = imports.rejected_csv(stored)
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [r["login"] for r in rows] == ["bad1"] and rows[0]["password"] == ""
    assert rows[0]["error"] == "password: The password must have at least 8 characters."


def test_templates_import_cleanly(db):
    for kind in ("orgs", "users"):
        report = imports.run(kind, imports.template_csv(kind).encode("utf-8"), filename="t.csv", actor=None,
                             max_bytes=MAX)
        assert report.rejected == 0 and report.created == len(imports.KINDS[kind].example), outcome(report)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_utf8_with_or_without_bom_and_gbk_are_read(db, region, encoding):
    report = run("orgs", csv_bytes([ORG_HEADER, ["G1", "广州市第一中学", "school", "C1-K1", "", "", "", ""]],
                                   encoding))
    assert report.created == 1
    assert db.session.scalar(sa.select(Org.name).where(Org.code == "G1")) == "广州市第一中学"
    assert report.encoding == ("gb18030" if encoding.startswith("gb") else "utf-8-sig")


@pytest.mark.parametrize(("data", "message"), [
    (b"", "The file is empty."),
    (b"  \r\n\r\n", "The file is empty."),
    (b"PK\x03\x04\x14\x00\x06\x00", "This is an Excel workbook"),
    ("code,name,type\r\n".encode("utf-16"), "This is not a CSV text file"),
    (b"\x81\x30\xff\xfe\x00abc", "This is not a CSV text file"),
    (b"\x80\x80\x80,\xff\xff", "neither UTF-8 nor GBK"),
    (b"code,name,type\r\n", "The file has a header but no data rows."),
    (b"code,name\r\nX,Y\r\n", "Missing columns: type."),
    (b"code,name,type,colour\r\nX,Y,city,red\r\n", "Unknown columns: colour."),
    (b"code,name,type,name\r\nX,Y,city,Z\r\n", "Columns named twice: name."),
    (b"code;name;type\r\nX;Y;city\r\n", "separated by commas"),
    (b"code,name,type\r\n\"X,Y,city\r\n", "The file is not valid CSV near row 2"),
    (b"code,name,type\r\nX,\"Y\"Z,city\r\n", "The file is not valid CSV near row 2"),
])
def test_unusable_files_are_refused_whole(db, data, message):
    with pytest.raises(ImportFileError) as raised:
        run("orgs", data)
    assert message in str(raised.value) and raised.value.field == "file"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0


def test_oversize_files_are_refused(db):
    with pytest.raises(ImportFileError, match=r"larger than 1 KB"):
        imports.run("orgs", b"x" * 2048, filename="big.csv", actor=None, max_bytes=1024)


def test_header_is_case_and_order_insensitive_and_extra_cells_are_rejected(db, region):
    report = run("orgs", [["Type", " NAME ", "Code", "parent_code"], ["school", "甲校", "A1", "C1-K1"],
                          ["school", "乙校", "A2", "C1-K1", "surplus"]])
    assert outcome(report)["A1"][0] == "created"
    assert outcome(report)["A2"] == ("rejected", [(None, "This row has more cells than the header has columns.")])


def test_rejected_rows_cannot_carry_spreadsheet_formulas(db, region):
    report = run("users", [USER_HEADER, user_row("=HYPERLINK(\"http://evil\")", name="@SUM(1)")])
    rows = list(csv.DictReader(io.StringIO(imports.rejected_csv(report.event.after).lstrip("\ufeff"))))
    assert rows[0]["login"].startswith("'=")
    assert rows[0]["display_name"] == "'@SUM(1)"
