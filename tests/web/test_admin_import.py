"""CSV import through the administration pages: upload, report, rejected rows, templates, bad files."""

import csv
import io
import re

import pytest
import sqlalchemy as sa

from webapp.models import AuditEvent, Org, User


def upload(client, kind, data, filename="upload.csv", *, follow_redirects=False):
    """POST the file; with ``follow_redirects``, once the response has gone out (when the import job is handed
    over: without Redis it runs then, in this process) follow it to the job's page and on to the report."""
    response = client.post_form(f"/admin/import/{kind}", {"file": (io.BytesIO(data), filename)},
                                content_type="multipart/form-data")
    if not follow_redirects or response.status_code != 302:
        return response
    response.close()
    return client.get(response.headers["Location"], follow_redirects=True)


def import_events(db):
    return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.object_type == "import")).all()


ORGS = ("code,name,type,parent_code,stage,kind,valid_from,valid_to\r\n"
        "K9,九县,county,C1,,,,\r\n"
        "K9-S1,九县一中,school,K9,senior,,2025-09-01,\r\n"
        "K9-X,坏类型,university,K9,,,,\r\n"
        "K9-Y,无父,school,MISSING,,,,\r\n")


def test_upload_pages_document_the_columns(admin_client):
    page = admin_client.get("/admin/import/users").get_data(as_text=True)
    for column in ("login", "display_name", "password", "org_code", "roles", "primary_subgroup_code"):
        assert f">{column}</td>" in page
    assert "subgroup_leader" in page, "the role codes are listed"
    for column in ("training_tier", "employment_type"):
        assert f">{column}</td>" in page and f"<code translate=\"no\">{column}</code>" in page, column
    assert re.search(r'translate="no">1</td><td>Tier 1</td>', page), "the tiers are listed with their numbers"
    assert 'translate="no">established</td><td>Established post (public school)</td>' in page
    assert "rejected, not updated" in page
    page = admin_client.get("/admin/import/orgs").get_data(as_text=True)
    assert ">parent_code</td>" in page and "school_group" in page
    assert admin_client.get("/admin/import/people").status_code == 404


@pytest.mark.parametrize("kind", ["orgs", "users"])
def test_template_downloads(admin_client, kind):
    response = admin_client.get(f"/admin/import/{kind}/template.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff") and text.lstrip("\ufeff").startswith("code,name" if kind == "orgs" else "login,")
    if kind == "users":
        header = next(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
        assert "training_tier" in header and "employment_type" in header


def test_orgs_import_keeps_good_rows_and_reports_bad_ones(admin_client, db, region):
    response = upload(admin_client, "orgs", ORGS.encode("utf-8"), filename="县区.csv")
    assert response.status_code == 302
    job_url = response.headers["Location"]
    assert "/admin/import/jobs/" in job_url, "the rows are imported in the background"
    response.close()  # the response has gone out: without Redis the import runs now, in this process
    done = admin_client.get(job_url)
    assert done.status_code == 302, "a finished import's page leads to its report"
    result_url = done.headers["Location"]
    page = admin_client.get(result_url).get_data(as_text=True)
    assert "Import finished: 2 created, 2 rejected." in page
    assert "2 rows created" in page and "2 rows rejected" in page and "县区.csv" in page
    assert "Unknown value “university”" in page and "No organisation has the code MISSING" in page
    assert ">type</span>" in page and ">parent_code</span>" in page, "each message names its column"
    assert db.session.scalar(sa.select(Org).where(Org.code == "K9-S1")).parent.code == "K9"
    assert db.session.scalar(sa.select(Org).where(Org.code == "K9-X")) is None

    rejected = admin_client.get(f"{result_url}/rejected.csv")
    assert rejected.status_code == 200 and rejected.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(rejected.get_data().decode("utf-8-sig"))))
    assert [r["code"] for r in rows] == ["K9-X", "K9-Y"]
    assert rows[0]["error"].startswith("type: Unknown value") and rows[1]["error"].startswith("parent_code: ")
    assert rows[0]["name"] == "坏类型"

    [event] = import_events(db)
    assert event.action == "org.import" and event.after["created"] == 2 and event.after["rejected"] == 2
    assert "县区.csv" in admin_client.get("/admin/import").get_data(as_text=True)


def test_gbk_users_file_from_chinese_excel(admin_client, db, region):
    data = ("login,display_name,password,org_code,roles,primary_subgroup_code,is_class_teacher\r\n"
            "wangwu,王五,Chushi2025!,C1-K1-S1,teacher@C1-K1-S1,C1-K1-S1-MATH,是\r\n"
            "zhaoliu,赵六,Chushi2025!,C1-K1-S1,headmaster@C1-K1-S1,,\r\n").encode("gbk")
    response = upload(admin_client, "users", data, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "1 created, 1 rejected" in page and "read as GBK/GB18030" in page
    assert "Unknown role code “headmaster”" in page
    user = db.session.scalar(sa.select(User).where(User.login == "wangwu"))
    assert user.display_name == "王五" and user.is_class_teacher
    assert db.session.scalar(sa.select(User).where(User.login == "zhaoliu")) is None
    actions = sorted(e.action for e in db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action.in_(["user.create", "role.assign", "user.import"]))))
    assert actions == ["role.assign", "user.create", "user.import"]


@pytest.mark.parametrize(("data", "filename", "message"), [
    (b"", "empty.csv", "The file is empty."),
    (b"login,name,pass\r\nx,y,z\r\n", "users.csv",
     "Missing columns: display_name, password. Unknown columns: name, pass."),
    (b"PK\x03\x04\x14\x00\x06\x00\x08\x00", "users.xlsx", "This is an Excel workbook, not a CSV file."),
])
def test_unusable_files_are_explained_and_nothing_is_imported(admin_client, db, data, filename, message):
    response = upload(admin_client, "users", data, filename=filename)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert message in page and "is-invalid" in page
    assert import_events(db) == []


def test_oversize_file_is_refused(admin_client, app, db, monkeypatch):
    monkeypatch.setitem(app.config["YANXUN"], "CSV_IMPORT_MAX_BYTES", 1024)
    data = ORGS.encode("utf-8") + b"X1,x,school,C1,,,,\r\n" * 60
    page = upload(admin_client, "orgs", data).get_data(as_text=True)
    assert "The file is larger than 1 KB. Split it into smaller files." in page
    assert import_events(db) == [] and db.session.scalar(sa.select(Org).where(Org.code == "K9")) is None


def test_a_file_is_required(admin_client):
    page = admin_client.post_form("/admin/import/orgs", {}).get_data(as_text=True)
    assert "Choose a CSV file to upload." in page


def test_result_pages_only_exist_for_imports(admin_client, db):
    login_event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "auth.login"))
    assert admin_client.get(f"/admin/import/results/{login_event.id}").status_code == 404
    assert admin_client.get(f"/admin/import/results/{login_event.id}/rejected.csv").status_code == 404
