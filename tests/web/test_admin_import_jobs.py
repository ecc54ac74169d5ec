"""CSV imports in the background: committed chunks, progress, resuming after a lost worker, failures."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.conftest import PG_URL, TEST_PASSWORD
from tests.web.test_admin_import import upload
from webapp import jobs
from webapp.models import AuditEvent, ImportJob, ImportJobStatus, User
from webapp.models.base import utcnow
from webapp.services import imports as import_service

HEADER = "login,display_name,password,org_code,roles\r\n"


def users_csv(count: int, bad: tuple[int, ...] = ()) -> bytes:
    lines = [HEADER]
    for n in range(count):
        role = "dean@C1-K1-S1" if n in bad else "teacher@C1-K1-S1"
        lines.append(f"bulk{n:03d},批量{n},Chushi2025!,C1-K1-S1,{role}\r\n")
    return "".join(lines).encode("utf-8")


def the_job(db) -> ImportJob:
    (job,) = db.session.scalars(sa.select(ImportJob).execution_options(populate_existing=True))
    return job


def test_an_upload_is_queued_and_the_page_shows_progress_until_the_report(admin_client, db, region):
    response = upload(admin_client, "users", users_csv(7, bad=(3,)), filename="教师.csv")
    job_url = response.headers["Location"]
    job = the_job(db)
    assert (job.status, job.total_rows, job.processed_rows) == (ImportJobStatus.QUEUED, 7, 0)
    assert db.session.scalar(sa.select(User).where(User.login == "bulk000")) is None, "nothing imported yet"
    page = admin_client.get(job_url).get_data(as_text=True)
    assert "Waiting to start" in page and 'hx-trigger="every 1s"' in page
    assert "教师.csv" in admin_client.get("/admin/import").get_data(as_text=True), "listed as in progress"

    assert import_service.advance(job, 3) is False
    db.session.commit()
    poll = admin_client.get(job_url, headers={"HX-Request": "true"})
    assert poll.status_code == 200 and "3 of 7 rows imported" in poll.get_data(as_text=True)
    assert "<html" not in poll.get_data(as_text=True), "the poll gets the progress block only"

    assert jobs.run_import(job.id, chunk_rows=3) == "done"
    done = admin_client.get(job_url, headers={"HX-Request": "true"})
    assert done.status_code == 204 and done.headers["HX-Redirect"].startswith("/admin/import/results/")
    report = admin_client.get(done.headers["HX-Redirect"]).get_data(as_text=True)
    assert "Import finished: 6 created, 1 rejected." in report and "Unknown role code “dean”" in report
    job = the_job(db)
    assert job.status is ImportJobStatus.DONE and job.data == b"", "the file with its passwords is dropped"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User).where(User.login.like("bulk%"))) == 6


def test_a_job_whose_worker_died_resumes_after_its_last_chunk(admin_client, db, region):
    upload(admin_client, "users", users_csv(5), filename="resume.csv")
    job = the_job(db)
    import_service.advance(import_service.lock_job(job.id), 2)
    db.session.commit()  # the worker died after committing its first chunk
    assert import_service.pending_job_ids() == [], "running and recent: someone is on it"
    later = utcnow() + import_service.STALE_AFTER + timedelta(seconds=1)
    assert import_service.pending_job_ids(later) == [job.id]
    assert jobs.run_pending_imports(later) == 1
    job = the_job(db)
    assert [row["row"] for row in job.results] == [2, 3, 4, 5, 6], "every row once, in order"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User).where(User.login.like("bulk%"))) == 5
    (event,) = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "user.import"))
    assert (event.after["created"], event.after["rejected"]) == (5, 0)


def test_a_time_budget_hands_the_rest_to_a_new_job(admin_client, db, region):
    upload(admin_client, "users", users_csv(4), filename="budget.csv")
    job = the_job(db)
    assert jobs.run_import(job.id, chunk_rows=2, budget_seconds=0) == "continue"
    assert the_job(db).processed_rows == 2
    assert jobs.run_import(job.id, chunk_rows=2) == "done"
    assert jobs.run_import(job.id) == "skipped", "a finished job is not run again"


@pytest.mark.committed
@pytest.mark.skipif(not PG_URL, reason="the failed chunk's rollback needs real commits (PostgreSQL)")
def test_an_unexpected_error_fails_the_job_and_says_so(app, committed, monkeypatch):
    from webapp.models import Role
    from webapp.services.orgs import create_org
    from webapp.services.users import assign_role, create_user

    city = create_org(code="IMPF-C", name="导入市", type="city")
    create_org(code="C1-K1-S1", name="导入学校", type="school", parent=city)
    assign_role(create_user(login="impf_admin", password=TEST_PASSWORD, display_name="管理员"), Role.ADMIN, city)
    committed.session.commit()
    client = app.test_client()
    client.login("impf_admin")
    client.post_form("/auth/language", {"locale": "en"})
    response = upload(client, "users", users_csv(3), filename="broken.csv")
    job_id = committed.session.scalar(sa.select(ImportJob.id))
    committed.session.remove()

    real_import_user = import_service._import_user

    def broken(row, *args, **kwargs):
        if row.key == "bulk002":
            raise RuntimeError("disk on fire")
        return real_import_user(row, *args, **kwargs)

    monkeypatch.setattr(import_service, "_import_user", broken)
    assert jobs.run_import(job_id, chunk_rows=2) == "failed"
    job = committed.session.get(ImportJob, job_id)
    assert job.status is ImportJobStatus.FAILED and "disk on fire" in job.error and job.data == b""
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "stopped after 2 of 3 rows" in page and "disk on fire" in page
    assert "hx-trigger" not in page, "a finished job stops polling"
    report = client.get(f"/admin/import/results/{job.event_id}").get_data(as_text=True)
    assert "stopped after 2 of 3 rows because of an error" in report and "bulk001" in report
    assert "stopped by an error" in client.get("/admin/import").get_data(as_text=True)
    assert committed.session.scalar(sa.select(sa.func.count()).select_from(User).where(
        User.login.like("bulk%"))) == 2, "the first chunk stays imported"


def test_unknown_job_is_404_and_admins_only(admin_client, app, db, make_user, region):
    assert admin_client.get("/admin/import/jobs/999").status_code == 404
    make_user("plain1", roles=(("teacher", region["school"]),))
    other = app.test_client()
    other.login("plain1")
    assert other.get("/admin/import/jobs/1").status_code == 403


def test_the_report_shows_rejected_rows_first_and_pages_the_rest(admin_client, db, region):
    response = upload(admin_client, "users", users_csv(130, bad=(7,)), filename="大批.csv", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Import finished: 129 created, 1 rejected." in page
    assert "Rejected rows (1)" in page and "All rows (130)" in page
    assert page.count('class="table-danger"') == 1 and "bulk007" in page and "bulk008" not in page
    result_url = response.request.path
    everything = admin_client.get(f"{result_url}?show=all").get_data(as_text=True)
    assert "bulk000" in everything and "bulk099" in everything and "bulk100" not in everything
    assert "130 in all" in everything, "100 rows a page, with pagination"
    second = admin_client.get(f"{result_url}?show=all&page=2").get_data(as_text=True)
    assert "bulk100" in second and "bulk129" in second and "bulk000" not in second


def test_a_login_taken_meanwhile_rejects_that_row_only_and_no_secret_is_shown(admin_client, db, region,
                                                                              monkeypatch):
    from webapp.services import users as user_service

    real_create = user_service.create_user

    def racing(**values):
        if values["login"] == "bulk001":  # someone created it between the check and the insert
            raise sa.exc.IntegrityError("INSERT INTO user_account ...", {"password_hash": "$argon2id$secret"},
                                        Exception("duplicate key value violates unique constraint"))
        return real_create(**values)

    monkeypatch.setattr(user_service, "create_user", racing)
    page = upload(admin_client, "users", users_csv(3), follow_redirects=True).get_data(as_text=True)
    assert "Import finished: 2 created, 1 rejected." in page
    assert "The login name bulk001 is already taken." in page and "argon2" not in page

    error = sa.exc.IntegrityError("INSERT INTO user_account (password_hash) VALUES (%(password_hash)s)",
                                  {"password_hash": "$argon2id$secret"}, Exception("duplicate key\nDETAIL: x"))
    assert import_service.safe_error(error) == "Exception: duplicate key", "first line, no statement or values"


def test_the_embedded_sweep_runs_a_queued_import_at_once(admin_client, db, region):
    """Without Redis one process does all the work, and its round (``jobs.embedded_round``) sweeps with no
    grace period: an import whose hand-over after the upload failed (a busy SQLite file, say) runs at the next
    tick, not 5 minutes later."""
    upload(admin_client, "users", users_csv(3), filename="embedded.csv")
    job = the_job(db)
    db.session.commit()
    assert job.status is ImportJobStatus.QUEUED and import_service.pending_job_ids() == []
    assert jobs.run_pending_imports(stale_after=timedelta(0)) == 1
    assert the_job(db).status is ImportJobStatus.DONE
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User).where(User.login.like("bulk%"))) == 3
