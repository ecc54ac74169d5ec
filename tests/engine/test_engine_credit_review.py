"""The credit-hour application end to end, saved and loaded between every step like the web app does."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from engine_support import T0, compile_one

from webapp.engine import ServiceCall, ServiceRegistry, UserTaskInfo, WorkflowRuntime


class App:
    """Stands in for the web layer: one runtime, state stored as JSON after every action."""

    def __init__(self) -> None:
        self.calls: list[ServiceCall] = []
        registry = ServiceRegistry()
        registry.register("credit_rules_check", self.check_rules)
        registry.register("notify", lambda call: self.calls.append(call) or None)
        self.runtime = WorkflowRuntime(registry)
        self.spec_json = compile_one("credit_review.bpmn").spec_json
        self.state = ""

    def check_rules(self, call: ServiceCall) -> dict[str, object]:
        self.calls.append(call)
        caps = {"centralised": 40, "online": 30, "school_based": 120}
        return {"max_hours": caps[call.inputs["category"]]}

    def start(self) -> None:
        self.save(self.runtime.start(self.spec_json, {"school": "S-17"}, initiator="t42", now=T0))

    def save(self, workflow: object) -> None:
        self.state, _ = self.runtime.dump(workflow)

    def task(self) -> UserTaskInfo:
        [task] = self.runtime.ready_user_tasks(self.runtime.load(self.spec_json, self.state))
        return task

    def complete(self, bpmn_id: str, data: dict[str, object], at: timedelta = timedelta()) -> None:
        workflow = self.runtime.load(self.spec_json, self.state)
        [task] = self.runtime.ready_user_tasks(workflow)
        assert task.bpmn_id == bpmn_id
        self.runtime.complete_user_task(workflow, task.task_id, data, now=T0 + at)
        self.save(workflow)

    def tick(self, at: timedelta) -> None:
        workflow = self.runtime.load(self.spec_json, self.state)
        self.runtime.tick(workflow, now=T0 + at)
        self.save(workflow)

    def workflow(self) -> object:
        return self.runtime.load(self.spec_json, self.state)


APPLICATION = {"title": "人工智能教学实践", "category": "online", "hours": "24", "course_date": "2026-02-20",
               "description": "省级网络研修"}


@pytest.fixture
def app() -> App:
    app = App()
    app.start()
    return app


def test_application_is_returned_then_recognised(app: App) -> None:
    submit = app.task()
    assert (submit.bpmn_id, submit.role_codes, submit.assignee, submit.due_at) == ("submit", ["teacher"], "t42",
                                                                                   T0 + timedelta(days=7))
    app.complete("submit", APPLICATION)
    [check] = app.calls
    assert dict(check.inputs) == {"hours": 24, "category": "online", "teacher": "t42"}

    review = app.task()
    assert (review.bpmn_id, review.lane, review.role_codes, review.priority) == (
        "subgroup_review", "教研组长", ["subgroup_leader"], 60)
    assert review.due_at == T0 + timedelta(days=3)
    app.complete("subgroup_review", {"subgroup_decision": "return", "subgroup_comment": "请补充证明"},
                 at=timedelta(hours=5))

    again = app.task()
    assert again.bpmn_id == "submit" and again.task_id != submit.task_id
    assert {f.id: f.value for f in again.form_fields}["hours"] == 24  # the form shows the previous answer
    app.complete("submit", {"hours": 20}, at=timedelta(hours=6))

    app.complete("subgroup_review", {"subgroup_decision": "approve"}, at=timedelta(hours=7))
    school = app.task()
    assert (school.bpmn_id, school.role_codes, school.priority) == ("school_review", ["school_officer"], 70)
    assert {f.id: f.value for f in school.form_fields}["approved_hours"] == 20  # defaultValue="${hours}"
    assert app.runtime.next_timer_at(app.workflow()) == (T0 + timedelta(hours=7 + 48)).astimezone(UTC)

    app.tick(timedelta(hours=54))
    assert [c.topic for c in app.calls] == ["credit_rules_check", "credit_rules_check"]
    app.tick(timedelta(hours=55, minutes=1))
    notify = app.calls[-1]
    assert (notify.topic, dict(notify.inputs)) == ("notify", {"role": "school_officer", "title": "人工智能教学实践"})

    app.complete("school_review", {"school_decision": "approve", "approved_hours": 18, "school_comment": "同意"},
                 at=timedelta(hours=60))
    workflow = app.workflow()
    assert app.runtime.is_completed(workflow)
    assert app.runtime.variables(workflow).items() >= {
        "status": "approved", "credited_hours": 18, "hours": 20, "max_hours": 30, "initiator": "t42"}.items()
    steps = [(h.bpmn_id, h.lane, h.state) for h in app.runtime.history(workflow) if h.state == "COMPLETED"]
    assert [s[0] for s in steps if s[0] in ("submit", "subgroup_review", "school_review", "record")] == [
        "submit", "subgroup_review", "submit", "subgroup_review", "school_review", "record"]
    assert ("remind_school", "学校师训专干", "COMPLETED") in steps
    assert ("end_approved", "学校师训专干", "COMPLETED") in steps


def test_rejection_ends_without_credits(app: App) -> None:
    app.complete("submit", APPLICATION)
    app.complete("subgroup_review", {"subgroup_decision": "reject"})
    workflow = app.workflow()
    assert app.runtime.is_completed(workflow)
    assert "end_rejected" in [h.bpmn_id for h in app.runtime.history(workflow)]
    assert "credited_hours" not in app.runtime.variables(workflow)
