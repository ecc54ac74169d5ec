"""JSON API v1 end to end: deploy, start, route, claim, complete, delegate, comment, incidents, tokens, CSRF."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import IsolatedClient
from tests.workflow_support import FAILING_HOURS, HOURS_REVIEW, LAUGHS, hours_review_files, with_entity
from webapp.models import ApiToken, Incident, ProcessDefinition, Role

API = "/api/v1"
BPMN = hours_review_files()[HOURS_REVIEW.name]


class Api:
    """A client for one user: session cookie plus the page's CSRF token (or a Bearer token instead)."""

    def __init__(self, client: IsolatedClient, *, token: str | None = None) -> None:
        self.client = client
        self.headers: dict[str, str] = {"Authorization": f"Bearer {token}"} if token else {}

    def login(self, login: str) -> Api:
        self.client.login(login)
        self.headers["X-CSRFToken"] = self.client.csrf_token("/")
        return self

    def get(self, path: str, **kwargs: Any):
        return self.client.get(API + path, headers=self.headers, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any):
        if json is not None:
            kwargs["json"] = json
        return self.client.post(API + path, headers=self.headers, **kwargs)

    def delete(self, path: str):
        return self.client.delete(API + path, headers=self.headers)

    def deploy(self, files: dict[str, bytes]):
        uploads = [(io.BytesIO(content), name) for name, content in files.items()]
        return self.post("/definitions", data={"files": uploads}, content_type="multipart/form-data")


@pytest.fixture
def people(db, region, make_user):
    from webapp.services.users import set_primary_subgroup

    made = {
        "teacher": make_user("teacher1", display_name="张老师", org=region["school"],
                             roles=((Role.TEACHER, region["school"]),)),
        "officer": make_user("officer1", display_name="王专干", roles=((Role.SCHOOL_OFFICER, region["school"]),)),
        "colleague": make_user("officer3", display_name="赵专干", roles=((Role.SCHOOL_OFFICER, region["school"]),)),
        "other_officer": make_user("officer2", display_name="李专干",
                                   roles=((Role.SCHOOL_OFFICER, region["school2"]),)),
        "designer": make_user("designer1", display_name="设计员", org=region["city"],
                              roles=((Role.DESIGNER, region["city"]),)),
        "admin": make_user("admin1", display_name="管理员", roles=((Role.ADMIN, region["city"]),)),
    }
    set_primary_subgroup(made["teacher"], region["maths"])
    for user in made.values():
        user.locale = "en"  # messages can be matched; the Chinese catalogue is filled later
    db.session.commit()
    return made


@pytest.fixture
def as_user(app, people):
    def login(name: str) -> Api:
        return Api(app.test_client()).login(people[name].login)

    return login


@pytest.fixture
def deployed(as_user):
    response = as_user("designer").deploy(hours_review_files())
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def started(as_user, deployed):
    """An hours_review instance started by the teacher, about their primary subgroup (the default)."""
    response = as_user("teacher").post("/instances", {"process_key": "hours_review", "title": "信息技术培训"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def submit(api: Api, task_id: int, hours: int = 12):
    return api.post(f"/tasks/{task_id}/complete",
                    {"data": {"title": "信息技术培训", "hours": hours, "category": "training"}})


@pytest.fixture
def review(as_user, started):
    """The review task, after the teacher submitted and the check service ran: (task id, instance id)."""
    (task,) = started["open_tasks"]
    response = submit(as_user("teacher"), task["id"])
    assert response.status_code == 200, response.get_json()
    (next_task,) = response.get_json()["next_tasks"]
    assert next_task["bpmn_id"] == "review"
    return next_task["id"], started["id"]


def error_of(response) -> dict[str, Any]:
    body = response.get_json()
    assert body is not None, response.get_data(as_text=True)
    return body["error"]


# Definitions -------------------------------------------------------------------------------------------------


def test_deploy_as_designer_then_identical_redeploy_is_a_no_op(db, as_user, deployed):
    designer = as_user("designer")
    assert deployed["created"] == ["hours_review"]
    assert deployed["definitions"][0]["version"] == 1
    again = designer.deploy(hours_review_files())
    assert again.status_code == 200
    assert again.get_json()["created"] == []
    assert as_user("admin").deploy(hours_review_files()).status_code == 200, "administrators deploy too"
    as_json = designer.post("/definitions", {"files": {"renamed.bpmn": BPMN.decode()}})
    assert as_json.status_code == 200, "file names do not count, content does"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProcessDefinition)) == 1

    changed = designer.post("/definitions", {"files": {"hours_review.bpmn": BPMN.decode().replace("P3D", "P4D")}})
    assert changed.status_code == 201
    assert changed.get_json()["definitions"][0]["version"] == 2

    listing = designer.get("/definitions").get_json()["items"]
    assert [(d["key"], d["version"], [v["version"] for v in d["versions"]]) for d in listing] == [
        ("hours_review", 2, [2, 1])]
    assert designer.get("/definitions/hours_review?version=1").get_json()["version"] == 1
    xml = designer.get("/definitions/hours_review/xml")
    assert xml.status_code == 200
    assert xml.mimetype == "application/xml"
    assert b"P4D" in xml.data
    assert "sandbox" in xml.headers["Content-Security-Policy"]
    assert designer.get("/definitions/nope").status_code == 404


def test_broken_upload_gets_one_report_naming_file_line_element_and_nothing_is_stored(db, as_user):
    broken = (BPMN.replace(b'candidateGroups="school_officer"', b'candidateGroups="dean"')
              .replace(b'camunda:topic="test.check_hours"', b'camunda:topic="test.nobody"'))
    response = as_user("designer").deploy({"broken_copy.bpmn": broken})
    assert response.status_code == 422
    problems = error_of(response)["problems"]
    by_element = {p["element_id"]: p for p in problems if p["severity"] == "error"}
    assert {"review", "check"} <= set(by_element), "both problems in one report"
    review = by_element["review"]
    assert review["file"] == "broken_copy.bpmn"
    assert review["element_name"] == "学校审核"
    assert review["line"] == next(n for n, line in enumerate(broken.decode().splitlines(), 1)
                                  if 'id="review"' in line)
    assert "dean" in review["message"]
    assert by_element["check"]["element_name"] == "核对学时"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProcessDefinition)) == 0


def test_validate_is_a_dry_run(db, as_user):
    designer = as_user("designer")
    response = designer.post("/definitions/validate", {"files": {"a.bpmn": BPMN.decode()}})
    assert response.status_code == 200
    assert response.get_json()["processes"][0] | {"content_hash": None} == {
        "key": "hours_review", "name": "学时审核（测试）", "file": "a.bpmn", "content_hash": None,
        "deployed_version": None}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProcessDefinition)) == 0
    bad = designer.post("/definitions/validate", {"files": {"a.bpmn": "<not xml"}})
    assert bad.status_code == 422
    assert error_of(bad)["problems"][0]["code"] == "xml_malformed"


@pytest.mark.parametrize("path", ["/definitions", "/definitions/validate"])
def test_external_entities_are_refused_unread(db, as_user, tmp_path: Path, path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-42", encoding="utf-8")
    evil = with_entity(f'<!ENTITY x SYSTEM "file://{secret}">')
    response = as_user("designer").post(path, {"files": {"evil.bpmn": evil.decode()}})
    assert response.status_code == 422, response.get_data(as_text=True)
    [problem] = error_of(response)["problems"]
    assert (problem["code"], problem["file"], problem["line"]) == ("doctype_forbidden", "evil.bpmn", 2)
    assert "Delete the <!DOCTYPE" in problem["message"]
    assert "TOP-SECRET" not in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProcessDefinition)) == 0


@pytest.mark.parametrize("path", ["/definitions", "/definitions/validate"])
def test_entity_expansion_bombs_are_refused(db, as_user, path):
    response = as_user("designer").post(path, {"files": {"laughs.bpmn": with_entity(LAUGHS, "&a9;").decode()}})
    assert response.status_code == 422
    assert [(p["code"], p["line"]) for p in error_of(response)["problems"]] == [("doctype_forbidden", 2)]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProcessDefinition)) == 0


def test_only_designers_and_admins_deploy(db, as_user):
    teacher = as_user("teacher")
    assert teacher.deploy(hours_review_files()).status_code == 403
    assert teacher.post("/definitions/validate", {"files": {"a.bpmn": BPMN.decode()}}).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProcessDefinition)) == 0


def test_deploy_needs_files(as_user):
    designer = as_user("designer")
    assert error_of(designer.post("/definitions", {"files": {}}))["fields"]["files"]
    assert designer.post("/definitions", {"files": "x"}).status_code == 422
    assert designer.post("/definitions", data="x", content_type="text/plain").status_code == 400


SANDBOX_ESCAPES = [
    (b"${approved}</bpmn:conditionExpression>",
     b"().__class__.__base__.__subclasses__()</bpmn:conditionExpression>", "flow_approved"),
    (b"<bpmn:script>reminder_count = 1</bpmn:script>",
     b"<bpmn:script>__import__('os').system('touch {marker}')</bpmn:script>", "remind"),
]


@pytest.mark.parametrize(("old", "new", "element_id"), SANDBOX_ESCAPES, ids=["gateway", "script"])
def test_sandbox_escapes_are_rejected_at_deploy(db, as_user, tmp_path: Path, old, new, element_id):
    marker = tmp_path / "escaped"
    evil = BPMN.replace(old, new.replace(b"{marker}", str(marker).encode()))
    response = as_user("designer").deploy({"evil.bpmn": evil})
    assert response.status_code == 422
    (problem,) = [p for p in error_of(response)["problems"] if p["severity"] == "error"]
    assert problem["element_id"] == element_id
    assert problem["code"] in ("expression_forbidden", "script_forbidden")
    assert not marker.exists()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProcessDefinition)) == 0


def test_sandbox_refuses_at_run_time_what_the_deploy_check_cannot_see(db, as_user, people):
    """A condition that hides its dunder in a format string deploys, then fails as an incident."""
    sneaky = BPMN.replace(b"${approved}</bpmn:conditionExpression>",
                          b"str.format('{0.__class__.__base__.__subclasses__}', approved) != ''"
                          b"</bpmn:conditionExpression>")
    assert as_user("designer").deploy({"sneaky.bpmn": sneaky}).status_code == 201
    teacher = as_user("teacher")
    started = teacher.post("/instances", {"process_key": "hours_review"}).get_json()
    review_task = submit(teacher, started["open_tasks"][0]["id"]).get_json()["next_tasks"][0]
    officer = as_user("officer")
    response = officer.post(f"/tasks/{review_task['id']}/complete", {"data": {"approved": True}})
    assert response.status_code == 500
    error = error_of(response)
    assert "format" in error["message"]
    assert error["incident_id"]
    assert officer.get(f"/tasks/{review_task['id']}").get_json()["status"] == "open"
    assert officer.get(f"/instances/{started['id']}").get_json()["status"] == "running"


# Instances ---------------------------------------------------------------------------------------------------


def test_start_defaults_to_primary_subgroup_and_returns_open_tasks(started, people, region):
    assert started["subject_org"]["code"] == region["maths"].code
    assert started["initiator"]["login"] == "teacher1"
    assert started["status"] == "running"
    assert started["title"] == "信息技术培训"
    (task,) = started["open_tasks"]
    assert (task["bpmn_id"], task["assignee"]["login"]) == ("submit", "teacher1")
    assert [e["action"] for e in started["history"]] == ["instance.start"]


def test_start_rules(as_user, deployed, region):
    teacher = as_user("teacher")
    by_code = teacher.post("/instances", {"process_key": "hours_review", "subject_org": region["school"].code})
    assert by_code.status_code == 201
    assert by_code.headers["Location"].endswith(f"/api/v1/instances/{by_code.get_json()['id']}")
    assert teacher.post("/instances", {"process_key": "hours_review",
                                       "subject_org": region["school2"].id}).status_code == 403
    assert teacher.post("/instances", {"process_key": "nope"}).status_code == 404
    invalid = teacher.post("/instances", {"process_key": "", "subject_org": "NO-SUCH-ORG",
                                          "data": {"initiator": "someone", "_x": 1}})
    assert invalid.status_code == 422
    assert set(error_of(invalid)["fields"]) == {"process_key", "subject_org", "data"}
    officer = as_user("officer")
    below_role = officer.post("/instances", {"process_key": "hours_review", "subject_org": region["chinese"].id})
    assert below_role.status_code == 201, "an officer may start about anything below their school"


def test_engine_failure_at_start_is_422_and_creates_nothing(db, as_user, deployed, monkeypatch):
    from webapp.engine import EngineIncident
    from webapp.models import ProcessInstance
    from webapp.services.runtime import get_runtime

    def broken_start(*args, **kwargs):
        raise EngineIncident("No conditions satisfied on gateway 'gw'", code="gateway_no_match")

    monkeypatch.setattr(get_runtime(), "start", broken_start)
    response = as_user("teacher").post("/instances", {"process_key": "hours_review"})
    assert response.status_code == 422
    assert "No conditions satisfied" in error_of(response)["message"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProcessInstance)) == 0


def test_instance_list_is_mine_with_paging(as_user, deployed):
    teacher = as_user("teacher")
    for n in range(3):
        assert teacher.post("/instances", {"process_key": "hours_review", "title": f"申请{n}"}).status_code == 201
    page = teacher.get("/instances?per_page=2&page=2").get_json()
    assert (page["total"], page["pages"], [i["title"] for i in page["items"]]) == (3, 2, ["申请0"])
    assert teacher.get("/instances?status=running").get_json()["total"] == 3
    assert teacher.get("/instances?status=completed").get_json()["total"] == 0
    assert teacher.get("/instances?status=bogus").status_code == 422
    assert as_user("officer").get("/instances").get_json()["total"] == 0


# Tasks -------------------------------------------------------------------------------------------------------


def test_task_has_form_schema(as_user, started):
    teacher = as_user("teacher")
    task = teacher.get(f"/tasks/{started['open_tasks'][0]['id']}").get_json()
    assert task["permissions"]["complete"] is True
    assert task["instance"]["id"] == started["id"]
    fields = {f["id"]: f for f in task["form"]["fields"]}
    assert list(fields) == ["title", "hours", "category", "course_date", "online"]
    assert fields["title"] | {"options": None, "properties": None} == {
        "id": "title", "label": "课程名称", "type": "string", "default": None, "value": None, "required": True,
        "readonly": False, "constraints": {"required": None, "minlength": "3", "maxlength": "60"},
        "options": None, "properties": None}
    assert (fields["hours"]["default"], fields["hours"]["value"]) == (10, 10)
    assert fields["category"]["options"] == [{"id": "training", "name": "集中培训"},
                                             {"id": "research", "name": "校本研修"}]
    assert fields["online"]["default"] is False


def test_full_run_routing_claim_complete_and_history(as_user, started, people):
    teacher = as_user("teacher")
    submit_id = started["open_tasks"][0]["id"]
    rejected = teacher.post(f"/tasks/{submit_id}/complete", {"data": {"title": "ab", "hours": 99}})
    assert rejected.status_code == 422
    assert set(error_of(rejected)["fields"]) == {"title", "hours"}
    assert teacher.get(f"/tasks/{submit_id}").get_json()["status"] == "open"
    assert submit(teacher, submit_id).status_code == 200

    officer, colleague, other = as_user("officer"), as_user("colleague"), as_user("other_officer")
    claimable = officer.get("/tasks?scope=claimable").get_json()
    assert [t["bpmn_id"] for t in claimable["items"]] == ["review"]
    review_id = claimable["items"][0]["id"]
    detail = officer.get(f"/tasks/{review_id}").get_json()
    assert detail["candidates"] == [{"role": "school_officer", "org": detail["candidates"][0]["org"], "user": None}]
    assert detail["candidates"][0]["org"]["code"] == "C1-K1-S1"
    assert detail["due_at"] and detail["follow_up_at"] and detail["priority"] == 70
    assert {f["id"]: f["value"] for f in detail["form"]["fields"]}["hours"] == 12

    assert other.get("/tasks?scope=claimable").get_json()["total"] == 0
    assert other.get(f"/tasks/{review_id}").status_code == 404
    assert other.post(f"/tasks/{review_id}/claim").status_code == 404
    assert other.post(f"/tasks/{review_id}/complete", {"data": {"approved": True}}).status_code == 404
    assert teacher.post(f"/tasks/{review_id}/complete", {"data": {"approved": True}}).status_code == 403

    claimed = officer.post(f"/tasks/{review_id}/claim")
    assert claimed.status_code == 200
    assert claimed.get_json()["claimed_by"]["login"] == "officer1"
    assert officer.get("/tasks?scope=assigned").get_json()["total"] == 1
    second = colleague.post(f"/tasks/{review_id}/claim")
    assert second.status_code == 409
    assert "王专干" in error_of(second)["message"]
    refused = colleague.post(f"/tasks/{review_id}/complete", {"data": {"approved": True}})
    assert refused.status_code == 403
    assert "王专干" in error_of(refused)["message"]

    comment = officer.post(f"/tasks/{review_id}/comments", {"body": "材料齐全"})
    assert comment.status_code == 201
    assert officer.post(f"/tasks/{review_id}/comments", {"body": "  "}).status_code == 400

    done = officer.post(f"/tasks/{review_id}/complete", {"data": {"approved": True, "comment": "同意"}})
    assert done.status_code == 200
    assert done.get_json()["instance"]["status"] == "completed"
    assert done.get_json()["next_tasks"] == []
    again = officer.post(f"/tasks/{review_id}/complete", {"data": {"approved": True}})
    assert again.status_code == 409
    assert "already been completed" in error_of(again)["message"]
    assert officer.get("/tasks?scope=done").get_json()["items"][0]["id"] == review_id

    instance = teacher.get(f"/instances/{started['id']}").get_json()
    assert instance["status"] == "completed"
    assert instance["ended_at"]
    assert [(e["action"], e["actor"]["display_name"] if e["actor"] else None) for e in instance["history"]] == [
        ("instance.start", "张老师"), ("task.complete", "张老师"), ("task.claim", "王专干"),
        ("task.comment", "王专干"), ("task.complete", "王专干")]
    assert instance["history"][-1]["after"]["data"] == {"approved": True, "comment": "同意"}
    assert [(c["author"]["login"], c["body"]) for c in instance["comments"]] == [("officer1", "材料齐全")]
    assert instance["open_tasks"] == []
    assert other.get(f"/instances/{started['id']}").status_code == 404
    assert as_user("admin").get(f"/instances/{started['id']}").status_code == 200, "an admin above sees it"


def test_onlookers_may_look_but_not_comment(app, db, as_user, review, make_user, region):
    review_id, instance_id = review
    make_user("city1", locale="en", roles=((Role.BUREAU_OFFICER, region["city"]),))
    db.session.commit()
    bureau = Api(app.test_client()).login("city1")
    task = bureau.get(f"/tasks/{review_id}")
    assert task.status_code == 200, "the city bureau may look"
    assert task.get_json()["permissions"]["comment"] is False
    refused = bureau.post(f"/tasks/{review_id}/comments", {"body": "请加快"})
    assert refused.status_code == 403
    assert "Only the people taking part in this process may comment" in error_of(refused)["message"]
    officer = as_user("officer")
    assert officer.get(f"/tasks/{review_id}").get_json()["permissions"]["comment"] is True
    assert as_user("teacher").post(f"/tasks/{review_id}/comments", {"body": "谢谢"}).status_code == 201
    assert [c["body"] for c in officer.get(f"/instances/{instance_id}").get_json()["comments"]] == ["谢谢"]


def test_unclaim_and_delegate(as_user, review, people):
    """``/delegate`` is the former name of ``/transfer``: the same rules, a reason included."""
    review_id, _ = review
    officer, colleague = as_user("officer"), as_user("colleague")
    assert officer.post(f"/tasks/{review_id}/claim").status_code == 200
    assert colleague.post(f"/tasks/{review_id}/unclaim").status_code == 403
    assert officer.post(f"/tasks/{review_id}/unclaim").get_json()["claimed_by"] is None

    wrong = officer.post(f"/tasks/{review_id}/delegate", {"to_user": "officer2", "reason": "出差"})
    assert wrong.status_code == 400
    assert error_of(wrong)["field"] == "to_user"
    assert "does not hold" in error_of(wrong)["message"]
    assert officer.post(f"/tasks/{review_id}/delegate", {"to_user": "nobody", "reason": "出差"}).status_code == 400
    assert officer.post(f"/tasks/{review_id}/delegate", {"reason": "出差"}).status_code == 422
    unexplained = officer.post(f"/tasks/{review_id}/delegate", {"to_user": people["colleague"].id})
    assert unexplained.status_code == 422
    assert list(error_of(unexplained)["fields"]) == ["reason"]

    handed = officer.post(f"/tasks/{review_id}/delegate", {"to_user": people["colleague"].id, "reason": "出差"})
    assert handed.status_code == 200
    assert handed.get_json()["assignee"]["login"] == "officer3"
    assert [t["id"] for t in colleague.get("/tasks?scope=assigned").get_json()["items"]] == [review_id]
    assert officer.post(f"/tasks/{review_id}/complete", {"data": {"approved": True}}).status_code == 403
    assert colleague.post(f"/tasks/{review_id}/complete", {"data": {"approved": False}}).status_code == 200


def test_failing_service_is_an_incident_and_changes_nothing(db, as_user, started):
    teacher = as_user("teacher")
    submit_id = started["open_tasks"][0]["id"]
    response = submit(teacher, submit_id, hours=FAILING_HOURS)
    assert response.status_code == 500
    error = error_of(response)
    assert "rule service unreachable" in error["message"]
    assert error["engine_code"] == "service_failed"
    incident = db.session.get(Incident, error["incident_id"])
    assert incident.instance_id == started["id"]
    assert "rule service unreachable" in incident.message

    task = teacher.get(f"/tasks/{submit_id}").get_json()
    assert task["status"] == "open"
    assert {f["id"]: f["value"] for f in task["form"]["fields"]}["hours"] == 10, "the failed data was not kept"
    instance = teacher.get(f"/instances/{started['id']}").get_json()
    assert instance["status"] == "running"
    assert [t["id"] for t in instance["open_tasks"]] == [submit_id]
    assert [e["action"] for e in instance["history"]] == ["instance.start", "instance.incident"]
    assert [i["id"] for i in instance["incidents"]] == [incident.id]
    assert submit(teacher, submit_id).status_code == 200, "after the failure the task can still be completed"


def test_task_list_filters_and_paging(as_user, review, region):
    review_id, _ = review
    officer = as_user("officer")
    assert officer.get(f"/tasks?org={region['school'].id}").get_json()["total"] == 1, "includes subgroups"
    assert officer.get(f"/tasks?org={region['school2'].id}").get_json()["total"] == 0
    assert officer.get("/tasks?process=hours_review").get_json()["total"] == 1
    assert officer.get("/tasks?process=other").get_json()["total"] == 0
    assert officer.get("/tasks?overdue=true").get_json()["total"] == 0, "due in three days"
    page = officer.get("/tasks?per_page=1&page=1").get_json()
    assert (page["total"], page["page"], page["per_page"], page["items"][0]["id"]) == (1, 1, 1, review_id)
    assert page["items"][0]["instance"]["title"] == "信息技术培训"
    bad = officer.get("/tasks?scope=mine&page=0&org=999999&overdue=maybe")
    assert bad.status_code == 422
    assert set(error_of(bad)["fields"]) == {"scope", "page", "org", "overdue"}


# Authentication ----------------------------------------------------------------------------------------------


def test_unauthenticated_requests_get_401_json(client):
    response = client.get(f"{API}/tasks")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert error_of(response)["code"] == 401
    assert client.post(f"{API}/instances", json={}).status_code == 401


def test_cookie_post_without_csrf_token_is_refused(as_user, deployed):
    teacher = as_user("teacher")
    del teacher.headers["X-CSRFToken"]
    response = teacher.post("/instances", {"process_key": "hours_review"})
    assert response.status_code == 400
    assert "X-CSRFToken" in error_of(response)["message"]
    assert teacher.get("/instances").status_code == 200, "reading needs no CSRF token"


def test_token_auth_for_reads_and_writes_without_csrf_then_revoked(app, db, as_user, deployed):
    browser = as_user("teacher")
    created = browser.post("/tokens", {"name": "手机客户端"})
    assert created.status_code == 201
    plain, token_id = created.get_json()["token"], created.get_json()["id"]
    row = db.session.get(ApiToken, token_id)
    assert row.token_hash != plain and len(row.token_hash) == 64, "only the hash is stored"

    script = Api(app.test_client(), token=plain)
    assert script.get("/tasks").status_code == 200
    started = script.post("/instances", {"process_key": "hours_review"})
    assert started.status_code == 201, "no CSRF token needed with a token"
    assert started.get_json()["initiator"]["login"] == "teacher1"
    assert "Set-Cookie" not in started.headers, "token requests create no session"
    db.session.expire_all()
    assert db.session.get(ApiToken, token_id).last_used_at is not None
    listed = script.get("/tokens").get_json()["items"]
    assert [(t["id"], t["name"]) for t in listed] == [(token_id, "手机客户端")]
    assert "token" not in listed[0]
    assert script.post("/tokens", {"name": "another"}).status_code == 403, "tokens cannot mint tokens"

    assert as_user("officer").delete(f"/tokens/{token_id}").status_code == 404, "only the owner revokes"
    assert browser.delete(f"/tokens/{token_id}").get_json()["revoked_at"]
    revoked = script.get("/tasks")
    assert revoked.status_code == 401
    assert "已撤销" in error_of(revoked)["message"]
    assert Api(app.test_client(), token="yx_wrong").get("/tasks").status_code == 401
    assert app.test_client().get(f"{API}/tasks", headers={"Authorization": "Basic abc"}).status_code == 401


def test_token_of_deactivated_user_is_refused(app, db, as_user, people):
    plain = as_user("officer").post("/tokens", {"name": "x"}).get_json()["token"]
    people["officer"].active = False
    db.session.commit()
    assert Api(app.test_client(), token=plain).get("/tasks").status_code == 401


def test_cli_creates_a_token(app, db, people):
    result = app.test_cli_runner().invoke(args=["tokens", "create", "teacher1", "--name", "ci"])
    assert result.exit_code == 0, result.output
    plain = result.stdout.strip()
    assert plain.startswith("yx_")
    assert Api(app.test_client(), token=plain).get("/instances").status_code == 200
    missing = app.test_cli_runner().invoke(args=["tokens", "create", "nobody", "--name", "ci"])
    assert missing.exit_code != 0
    token_id = db.session.scalar(sa.select(ApiToken.id).where(ApiToken.name == "ci"))
    assert app.test_cli_runner().invoke(args=["tokens", "revoke", str(token_id)]).exit_code == 0
    assert Api(app.test_client(), token=plain).get("/instances").status_code == 401


def test_http_errors_under_the_api_are_json(app, as_user):
    teacher, designer = as_user("teacher"), as_user("designer")
    too_big = designer.post("/definitions", data=b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1),
                            content_type="application/json")
    for response, code in ((teacher.get("/nothing-here"), 404), (teacher.delete("/tasks"), 405),
                           (teacher.get("/tasks/999999"), 404), (teacher.get("/instances/999999"), 404),
                           (too_big, 413)):
        assert response.status_code == code
        assert error_of(response)["message"]


# Protected processes and administrators' actions on instances (hardening issue, items 1 and 3) ---------------------

CREDIT_DIAGRAM = Path(__file__).resolve().parents[2] / "workflows" / "credit_application" / "credit_application.bpmn"


def test_a_new_version_of_a_process_that_posts_credits_waits_for_another_administrator(db, app, people, as_user,
                                                                                        make_user, region):
    from webapp.services import definitions as definition_service

    definition_service.deploy({CREDIT_DIAGRAM.name: CREDIT_DIAGRAM.read_bytes()}, None)  # the operator: live
    db.session.commit()
    changed = CREDIT_DIAGRAM.read_text(encoding="utf-8").replace("审核", "审阅")
    response = as_user("designer").post("/definitions", {"files": {CREDIT_DIAGRAM.name: changed}})
    assert response.status_code == 201, response.get_json()
    (version,) = response.get_json()["definitions"]
    assert (version["version"], version["state"]) == (2, "pending")
    assert definition_service.latest("credit_application").version == 1, "new applications still start on v1"
    from webapp.models import Notification

    told = db.session.scalars(sa.select(Notification.kind).where(Notification.user_id == people["admin"].id)).all()
    assert "definition.pending" in told, "the administrators hear that a version waits for them"

    designer_admin = make_user("admin_designer", roles=((Role.ADMIN, region["city"]), (Role.DESIGNER, region["city"])))
    db.session.commit()
    own = Api(app.test_client()).login(designer_admin.login)
    mine = own.post("/definitions", {"files": {CREDIT_DIAGRAM.name: changed.replace("审阅", "复核")}}).get_json()
    refused = own.post(f"/definitions/credit_application/versions/{mine['definitions'][0]['version']}/approve", {})
    assert refused.status_code == 403, "the deployer is not the second person"
    assert as_user("designer").post("/definitions/credit_application/versions/2/approve", {}).status_code == 403
    assert as_user("admin").post("/definitions/credit_application/versions/2/refuse", {}).status_code == 403, \
        "a refusal needs its reason"
    approved = as_user("admin").post("/definitions/credit_application/versions/2/approve", {"note": "已核对"})
    assert approved.status_code == 200 and approved.get_json()["state"] == "live"
    assert definition_service.latest("credit_application").version == 2
    told = db.session.scalars(sa.select(Notification.kind).where(Notification.user_id == people["designer"].id)).all()
    assert "definition.approve" in told, "the designer hears the outcome"
    assert as_user("admin").post("/definitions/credit_application/versions/2/approve", {}).status_code == 409


def test_an_ordinary_process_is_live_at_once(deployed):
    assert deployed["definitions"][0]["state"] == "live"


def test_an_administrator_pauses_resumes_and_cancels_an_instance(db, as_user, people, review):
    from webapp.models import Notification, ProcessInstance

    task_id, instance_id = review
    admin = as_user("admin")
    assert admin.post(f"/instances/{instance_id}/suspend", {"reason": ""}).status_code == 422
    assert as_user("officer").post(f"/instances/{instance_id}/suspend", {"reason": "x"}).status_code == 403
    paused = admin.post(f"/instances/{instance_id}/suspend", {"reason": "核查材料真伪"})
    assert paused.status_code == 200 and paused.get_json()["status"] == "suspended"
    officer = as_user("officer")
    blocked = officer.post(f"/tasks/{task_id}/complete", {"data": {"approved": True}})
    assert blocked.status_code == 409 and "paused" in error_of(blocked)["message"]
    assert admin.post(f"/instances/{instance_id}/resume", {"reason": "核查完毕"}).get_json()["status"] == "running"
    cancelled = admin.post(f"/instances/{instance_id}/cancel", {"reason": "重复提交"})
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert cancelled.get_json()["open_tasks"] == []
    assert admin.post(f"/instances/{instance_id}/resume", {"reason": "x"}).status_code == 409
    kinds = db.session.scalars(sa.select(Notification.kind).where(
        Notification.user_id == people["teacher"].id).order_by(Notification.id)).all()
    assert kinds[-3:] == ["instance.suspend", "instance.resume", "instance.cancel"]
    history = [event["action"] for event in as_user("teacher").get(f"/instances/{instance_id}").get_json()["history"]]
    assert history[-3:] == ["instance.suspend", "instance.resume", "instance.cancel"]
    assert db.session.get(ProcessInstance, instance_id).ended_at is not None


def test_the_instance_page_offers_administrators_pause_and_cancel(db, app, people, review):
    from webapp.models import ProcessInstance

    _, instance_id = review
    teacher = app.test_client()
    teacher.login(people["teacher"].login)
    assert "name=\"reason\"" not in teacher.get(f"/inbox/instances/{instance_id}").get_data(as_text=True)
    admin = app.test_client()
    admin.login(people["admin"].login)
    page = admin.get(f"/inbox/instances/{instance_id}").get_data(as_text=True)
    assert "name=\"reason\"" in page and f"/admin/instances/{instance_id}/cancel" in page
    token = admin.csrf_token(f"/inbox/instances/{instance_id}")
    done = admin.post_form(f"/admin/instances/{instance_id}/cancel", {"reason": "申请人已调离", "csrf_token": token})
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(ProcessInstance, instance_id).status.value == "cancelled"
    timeline = teacher.get(f"/inbox/instances/{instance_id}").get_data(as_text=True)
    assert "Cancelled by an administrator" in timeline and "申请人已调离" in timeline


def test_a_paused_instance_says_so_on_its_task_page(db, app, as_user, people, review):
    task_id, instance_id = review
    assert as_user("admin").post(f"/instances/{instance_id}/suspend", {"reason": "核查材料"}).status_code == 200
    officer = app.test_client()
    officer.login(people["officer"].login)
    page = officer.get(f"/inbox/tasks/{task_id}").get_data(as_text=True)
    assert "An administrator has paused this process" in page
