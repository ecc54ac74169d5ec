"""school_evaluation — 学校校本研修评估 (中期/终期评估), on the bare engine (no Flask).

What would be ``workflows/school_evaluation/README.md`` is written here, because the diagram cannot live in
``workflows/`` yet: ``make run`` deploys every folder there, and the deploy check refuses a form key that no form
registered (``form_key_unknown``) and a topic that no handler registered (``service_topic_unknown``), both
errors. The ``evaluation.*`` forms and the ``evaluation.aggregate`` topic come with the package, so the diagram
is ``tests/engine/diagrams/school_evaluation.bpmn`` until then; the package moves it (unchanged) to
``workflows/school_evaluation/school_evaluation.bpmn`` with this text as its README
(``test_not_deployable_until_its_forms_and_topic_are_registered`` shows the refusal).

Diagram: Camunda Platform 7, process ``school_evaluation`` (学校校本研修评估), lanes ``Lane_school_officer``
学校师训专干, ``Lane_principal`` 校长, ``Lane_county_officer`` 县区研培中心, ``Lane_expert`` 专家组成员, DI for
every element.

The seeds ask for it: [000] 第26条 (mid-term and final evaluation by 专门力量 organised by the county), 第29条
"将校本培训评估结果纳入学校年度考核"; the rubric's dimensions are [000] 第23、24、29、31条 (see
``research/process-data-from-seeds.md`` §3). Grade bands (优秀/良好/合格/不合格), weights and rectification deadlines
are not in the seeds: configurable.

```
    start → gw_self → SelfAssessment → PrincipalSign → gw_signed ─${signed}→ AssignPanel
              ↑        ├ timers → campaign.remind(self[, overdue])  │                │
              └─────────────────── default (退回) ───────────────────┘                ↓
    ExpertScore (‖ one per ${experts}) → gw_aggregate → Aggregate [evaluation.aggregate] → gw_reconcile
      ├ timers → campaign.remind(score[, overdue])  ↑                                  │ ${needs_reconciliation}
                                                    └────────── Reconcile ←────────────┤
                                                                                       ↓ default
    end_published 已发布 ←default── gw_rectification ←─────────────────────────────── Publish
                                      │ ${needs_rectification}
                                      ↓
                     gw_rectify → Rectify → Recheck → gw_rectified ─${rectified}→ end_rectified 整改完成
                        ↑          ├ timers → campaign.remind(rectify[, overdue])  │
                        └────────────────── default (退回) ────────────────────────┘
```

## Elements (the package's forms, campaign steps and pages name these ids)

* `SelfAssessment` 学校自评: lane school_officer, form `evaluation.self`, due `${self_deadline}`.
* `PrincipalSign` 校长审签: lane principal, form `evaluation.sign`, due `${self_deadline}`.
* `AssignPanel` 组建专家组: lane county_officer, form `evaluation.panel`.
* `ExpertScore` 专家评分: lane expert, assignee `${expert}`, form `evaluation.score`, due `${score_deadline}`;
  parallel multi-instance over `${experts}` (element variable `expert`), extension property `collect` = `scores`.
* `Aggregate` 汇总评分: external service task, topic `evaluation.aggregate`, input `kind` = `${kind}`.
* `Reconcile` 组长复核: lane expert, assignee `${panel_lead}`, form `evaluation.reconcile`.
* `Publish` 县区确认发布: lane county_officer, form `evaluation.publish`.
* `Rectify` 整改报告: lane school_officer, form `evaluation.rectify`, due `${rectify_deadline}`.
* `Recheck` 县区复查: lane county_officer, form `evaluation.recheck`.
* Reminders, for K = `self` (on SelfAssessment), `score` (on ExpertScore), `rectify` (on Rectify):
  non-interrupting timeDate timers `K_remind_timer` 截止前提醒 (`${K_remind_at}`) and `K_overdue_timer` 逾期
  (`${K_overdue_at}`), each to an external service task `K_remind` / `K_overdue` (topic `campaign.remind`,
  inputs `stage` = K and `when` = `before` / `overdue`) and an end event `K_remind_end` / `K_overdue_end`.
* Gateways: `gw_self`, `gw_aggregate`, `gw_rectify` merge the loops back; `gw_signed` (`${signed}`),
  `gw_reconcile` (`${needs_reconciliation}`), `gw_rectification` (`${needs_rectification}`) and `gw_rectified`
  (`${rectified}`) decide, each with a default flow: back to SelfAssessment, on to Publish, to `end_published`,
  back to Rectify.
* Ends: `end_published` 已发布, `end_rectified` 整改完成.

## How it starts

A county launches it as a campaign over its schools: one instance per school, `subject_org` = the school,
`initiator` = the county officer, `kind` = `midterm` (中期) or `final` (终期). Campaign steps: `self`
(SelfAssessment, PrincipalSign), `score` (ExpertScore), `rectify` (Rectify).

## Variables

* `kind` (start): `midterm` or `final`; handed to `evaluation.aggregate`.
* `campaign_id`, `period`, `period_start`, `period_end` (campaign): as for every campaign.
* `K_deadline`, `K_remind_at`, `K_overdue_at` for K in self, score, rectify (campaign): ISO date-times with
  `+08:00`.
* `signed`, `comment` (`evaluation.sign`): `${signed}` goes on to the panel, else back to SelfAssessment.
* `experts`, `panel_lead` (`evaluation.panel`): logins of the panel; the lead reconciles.
* `expert` (multi-instance): the element variable, the instance's assignee.
* `points`, `conflicted` (`evaluation.score`): one expert's score; `conflicted` = true declares a conflict (回避)
  and completes the instance without a score.
* `scores` (`collect`): `[{expert, loopCounter, points, conflicted, …}]`, one entry per expert.
* `reconciled_points` (`evaluation.reconcile`): the lead's reconciled score.
* `points_final`, `grade`, `needs_reconciliation` (`evaluation.aggregate`): the aggregate with conflicted experts
  left out; `needs_reconciliation` (boolean) sends it to Reconcile and back to Aggregate.
* `needs_rectification` (`evaluation.publish`): the county's decision (e.g. true for 不合格); a boolean, so the
  condition stays in the `${...}` subset.
* `rectified`, `comment` (`evaluation.recheck`): `${rectified}` ends 整改完成, else back to Rectify.

## Service topics

* `evaluation.aggregate`: input `kind`; reads `scores` and `reconciled_points` from the data; returns
  `points_final`, `grade`, `needs_reconciliation`. Not registered yet. These tests register a stand-in that
  leaves conflicted experts out, asks for reconciliation when the scores spread more than `SPREAD` points unless
  the lead has reconciled, and grades 优秀 ≥ 90, 良好 ≥ 80, 合格 ≥ 60, else 不合格.
* `campaign.remind` (the campaign core): `stage` (self, score, rectify), `when` (before, overdue).

## What these tests prove

The file checks clean (no errors, no warnings) once its forms and topic are known, and is refused until then;
every element and flow is drawn, each node inside its lane; every path runs: all experts score; one declares a
conflict; one reconciliation, then publication; a failing school rectifies, is returned once by the re-check and
then passes; the principal returns the self-assessment once; each reminder timer fires once at its moment (once
for the multi-instance activity, not per expert); `midterm` and `final` both run.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from engine_support import DIAGRAMS

from webapp.engine import ServiceCall, ServiceRegistry, WorkflowRuntime, check_definition

DIAGRAM = DIAGRAMS / "school_evaluation.bpmn"
FORM_KEYS = frozenset({"evaluation.self", "evaluation.sign", "evaluation.panel", "evaluation.score",
                       "evaluation.reconcile", "evaluation.publish", "evaluation.rectify", "evaluation.recheck"})
TOPICS = frozenset({"campaign.remind", "evaluation.aggregate"})
ROLES = frozenset({"teacher", "subgroup_leader", "school_officer", "principal", "county_officer", "expert"})
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
CAMUNDA = "{http://camunda.org/schema/1.0/bpmn}"
DI = "{http://www.omg.org/spec/BPMN/20100524/DI}"
DC = "{http://www.omg.org/spec/DD/20100524/DC}"
T0 = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
SPREAD = 15
#: Campaign steps and their deadlines in days after T0 (reminded 3 days before, overdue a day after).
STEPS = {"self": 10, "score": 30, "rectify": 60}


def files() -> dict[str, bytes]:
    return {DIAGRAM.name: DIAGRAM.read_bytes()}


def test_checks_clean_without_warnings() -> None:
    report = check_definition(files(), known_roles=ROLES, known_topics=TOPICS, known_form_keys=FORM_KEYS)
    assert [str(p) for p in report.problems] == []
    assert list(report.definitions) == ["school_evaluation"]


def test_not_deployable_until_its_forms_and_topic_are_registered() -> None:
    """Why the diagram is not in workflows/ yet: the deploy check refuses unknown form keys and topics."""
    report = check_definition(files(), known_roles=ROLES, known_topics=frozenset({"campaign.remind"}),
                              known_form_keys=frozenset({"summary.sign"}))
    assert sorted((p.code, p.severity, p.element_id) for p in report.problems) == sorted(
        [("form_key_unknown", "error", task) for task in ("SelfAssessment", "PrincipalSign", "AssignPanel",
                                                          "ExpertScore", "Reconcile", "Publish", "Rectify",
                                                          "Recheck")]
        + [("service_topic_unknown", "error", "Aggregate")])


def test_every_element_and_flow_has_di_and_every_node_is_drawn_in_its_lane() -> None:
    root = ET.parse(DIAGRAM).getroot()  # noqa: S314 (our own file)
    process = root.find(f"{BPMN}process")
    assert (process.get("id"), process.get("name"), process.get("isExecutable")) == (
        "school_evaluation", "学校校本研修评估", "true")
    ids = {el.get("id") for el in process.iter() if el.get("id") and el.tag not in (
        f"{BPMN}process", f"{BPMN}laneSet", f"{BPMN}conditionExpression", f"{BPMN}timerEventDefinition")}
    ids.add(root.find(f"{BPMN}collaboration/{BPMN}participant").get("id"))
    drawn = {el.get("bpmnElement") for el in root.iter() if el.tag in (f"{DI}BPMNShape", f"{DI}BPMNEdge")}
    assert ids - drawn == set()
    assert drawn - ids == set()
    lanes = {lane.get("id"): lane.get("name") for lane in process.iter(f"{BPMN}lane")}
    assert lanes == {"Lane_school_officer": "学校师训专干", "Lane_principal": "校长",
                     "Lane_county_officer": "县区研培中心", "Lane_expert": "专家组成员"}
    bounds = {shape.get("bpmnElement"): [float(shape.find(f"{DC}Bounds").get(k)) for k in ("x", "y", "width", "height")]
              for shape in root.iter(f"{DI}BPMNShape")}
    placed = set()
    for lane in process.iter(f"{BPMN}lane"):
        lx, ly, lw, lh = bounds[lane.get("id")]
        for ref in lane.iter(f"{BPMN}flowNodeRef"):
            x, y, w, h = bounds[ref.text]
            assert lx <= x and x + w <= lx + lw and ly <= y and y + h <= ly + lh, (ref.text, lane.get("id"))
            placed.add(ref.text)
    boundary = {el.get("id") for el in process.iter(f"{BPMN}boundaryEvent")}
    nodes = {el.get("id") for el in process if el.get("id") and el.tag not in (
        f"{BPMN}laneSet", f"{BPMN}sequenceFlow", f"{BPMN}documentation")}
    assert nodes - boundary == placed


def test_form_keys_topics_and_due_dates_as_the_package_expects() -> None:
    root = ET.parse(DIAGRAM).getroot()  # noqa: S314 (our own file)
    tasks = {el.get("id"): (el.get(f"{CAMUNDA}formKey"), el.get(f"{CAMUNDA}assignee"), el.get(f"{CAMUNDA}dueDate"))
             for el in root.iter(f"{BPMN}userTask")}
    assert tasks == {
        "SelfAssessment": ("evaluation.self", None, "${self_deadline}"),
        "PrincipalSign": ("evaluation.sign", None, "${self_deadline}"),
        "AssignPanel": ("evaluation.panel", None, None),
        "ExpertScore": ("evaluation.score", "${expert}", "${score_deadline}"),
        "Reconcile": ("evaluation.reconcile", "${panel_lead}", None),
        "Publish": ("evaluation.publish", None, None),
        "Rectify": ("evaluation.rectify", None, "${rectify_deadline}"),
        "Recheck": ("evaluation.recheck", None, None),
    }
    topics = {el.get("id"): el.get(f"{CAMUNDA}topic") for el in root.iter(f"{BPMN}serviceTask")}
    assert topics == {"Aggregate": "evaluation.aggregate"} | {
        f"{stage}_{when}": "campaign.remind" for stage in STEPS for when in ("remind", "overdue")}


def moment(days: float) -> datetime:
    return T0 + timedelta(days=days)


def grade_of(points: float) -> str:
    return "优秀" if points >= 90 else "良好" if points >= 80 else "合格" if points >= 60 else "不合格"


class Run:
    """The diagram on the bare engine, started as a campaign starts it; ``clock`` is the engine's now."""

    def __init__(self, kind: str = "midterm") -> None:
        self.reminders: list[tuple[str, str]] = []
        self.aggregations: list[dict[str, Any]] = []
        registry = ServiceRegistry()
        registry.register("campaign.remind", self.remind)
        registry.register("evaluation.aggregate", self.aggregate)
        self.runtime = WorkflowRuntime(registry)
        report = check_definition(files(), known_roles=ROLES, known_topics=TOPICS, known_form_keys=FORM_KEYS)
        self.spec = report.definitions["school_evaluation"].spec_json
        data: dict[str, Any] = {"kind": kind, "campaign_id": 7, "period": "2026-2027",
                                "period_start": "2026-09-01", "period_end": "2027-08-31"}
        for stage, deadline in STEPS.items():
            data[f"{stage}_deadline"] = moment(deadline).isoformat()
            data[f"{stage}_remind_at"] = moment(deadline - 3).isoformat()
            data[f"{stage}_overdue_at"] = moment(deadline + 1).isoformat()
        self.clock = T0
        self.workflow = self.runtime.start(self.spec, data, initiator="county1", now=T0)

    def remind(self, call: ServiceCall) -> None:
        self.reminders.append((call.inputs["stage"], call.inputs["when"]))

    def aggregate(self, call: ServiceCall) -> dict[str, Any]:
        """The stand-in for the package's handler: conflicted experts are left out; a spread over SPREAD points
        needs the lead's reconciliation, unless the lead has reconciled."""
        valid = [entry["points"] for entry in call.data["scores"] if not entry.get("conflicted")]
        reconciled = call.data.get("reconciled_points")
        points = reconciled if reconciled is not None else sum(valid) / len(valid)
        needs = reconciled is None and max(valid) - min(valid) > SPREAD
        self.aggregations.append({"kind": call.inputs["kind"], "valid": valid, "points": points, "needs": needs})
        return {"points_final": points, "grade": grade_of(points), "needs_reconciliation": needs}

    def ready(self) -> list:
        return sorted(self.runtime.ready_user_tasks(self.workflow), key=lambda t: (t.bpmn_id, t.assignee or ""))

    def reload(self) -> None:
        state, _ = self.runtime.dump(self.workflow)
        self.workflow = self.runtime.load(self.spec, state)

    def complete(self, bpmn_id: str, data: dict[str, Any], assignee: str | None = None) -> None:
        [task] = [t for t in self.ready() if t.bpmn_id == bpmn_id and (assignee is None or t.assignee == assignee)]
        self.runtime.complete_user_task(self.workflow, task.task_id, data, now=self.clock)
        self.reload()

    def tick(self, days: float) -> None:
        self.clock = moment(days)
        self.runtime.tick(self.workflow, self.clock)
        self.reload()

    def data(self) -> dict[str, Any]:
        return self.runtime.variables(self.workflow)

    def ended_at(self) -> list[str]:
        return [e.bpmn_id for e in self.runtime.history(self.workflow)
                if e.bpmn_id in ("end_published", "end_rectified") and e.state == "COMPLETED"]

    # -- the steps, as the forms would fill them in --

    def school_submits(self, experts: list[str], lead: str = "e1") -> None:
        self.complete("SelfAssessment", {"self_points": 85})
        self.complete("PrincipalSign", {"signed": True})
        self.complete("AssignPanel", {"experts": experts, "panel_lead": lead})

    def score(self, expert: str, points: int | None) -> None:
        data = {"conflicted": True, "conflict_reason": "本校任教"} if points is None else {
            "conflicted": False, "points": points}
        self.complete("ExpertScore", data, expert)


@pytest.mark.parametrize("kind", ["midterm", "final"])
def test_all_experts_score_and_the_county_publishes(kind: str) -> None:
    run = Run(kind)
    [self_] = run.ready()
    assert (self_.bpmn_id, self_.role_codes, self_.form_key, self_.due_at) == (
        "SelfAssessment", ["school_officer"], "evaluation.self", moment(10))
    run.complete("SelfAssessment", {"self_points": 85})
    [sign] = run.ready()
    assert (sign.bpmn_id, sign.role_codes, sign.form_key) == ("PrincipalSign", ["principal"], "evaluation.sign")
    run.complete("PrincipalSign", {"signed": True})
    [panel] = run.ready()
    assert (panel.bpmn_id, panel.role_codes, panel.form_key) == ("AssignPanel", ["county_officer"], "evaluation.panel")
    run.complete("AssignPanel", {"experts": ["e1", "e2", "e3"], "panel_lead": "e1"})
    scoring = run.ready()
    assert [(t.bpmn_id, t.assignee, t.form_key, t.due_at) for t in scoring] == [
        ("ExpertScore", expert, "evaluation.score", moment(30)) for expert in ("e1", "e2", "e3")]
    run.score("e2", 88)
    run.score("e1", 84)
    assert [t.assignee for t in run.ready()] == ["e3"]  # parallel: the others wait for nobody
    run.score("e3", 92)
    assert run.aggregations == [{"kind": kind, "valid": [84, 88, 92], "points": 88, "needs": False}]
    [publish] = run.ready()
    assert (publish.bpmn_id, publish.role_codes, publish.form_key) == (
        "Publish", ["county_officer"], "evaluation.publish")
    assert (run.data()["grade"], run.data()["needs_reconciliation"]) == ("良好", False)
    run.complete("Publish", {"needs_rectification": False})
    assert run.runtime.is_completed(run.workflow)
    assert run.ended_at() == ["end_published"]
    assert [entry["expert"] for entry in run.data()["scores"]] == ["e1", "e2", "e3"]
    assert run.reminders == []


def test_an_expert_who_declares_a_conflict_completes_and_is_left_out() -> None:
    run = Run()
    run.school_submits(["e1", "e2", "e3"])
    run.score("e1", 70)
    run.score("e2", None)  # 回避
    run.score("e3", 76)
    assert run.aggregations == [{"kind": "midterm", "valid": [70, 76], "points": 73, "needs": False}]
    assert [entry["conflicted"] for entry in run.data()["scores"]] == [False, True, False]
    assert [t.bpmn_id for t in run.ready()] == ["Publish"]
    assert run.data()["grade"] == "合格"


def test_scores_far_apart_are_reconciled_once_then_published() -> None:
    run = Run()
    run.school_submits(["e1", "e2"], lead="e2")
    run.score("e1", 95)
    run.score("e2", 70)
    [reconcile] = run.ready()
    assert (reconcile.bpmn_id, reconcile.assignee, reconcile.form_key) == ("Reconcile", "e2", "evaluation.reconcile")
    run.complete("Reconcile", {"reconciled_points": 82, "reconcile_note": "合议后取82分"})
    assert [a["needs"] for a in run.aggregations] == [True, False]
    assert (run.data()["points_final"], run.data()["grade"]) == (82, "良好")
    assert [t.bpmn_id for t in run.ready()] == ["Publish"]
    run.complete("Publish", {"needs_rectification": False})
    assert run.ended_at() == ["end_published"]


def test_a_failing_school_rectifies_is_returned_once_by_the_recheck_and_then_passes() -> None:
    run = Run("final")
    run.school_submits(["e1", "e2"])
    run.score("e1", 50)
    run.score("e2", 55)
    assert run.data()["grade"] == "不合格"
    run.complete("Publish", {"needs_rectification": True})
    [rectify] = run.ready()
    assert (rectify.bpmn_id, rectify.role_codes, rectify.form_key, rectify.due_at) == (
        "Rectify", ["school_officer"], "evaluation.rectify", moment(60))
    run.complete("Rectify", {"report": "整改报告（一）"})
    [recheck] = run.ready()
    assert (recheck.bpmn_id, recheck.role_codes, recheck.form_key) == (
        "Recheck", ["county_officer"], "evaluation.recheck")
    run.complete("Recheck", {"rectified": False, "comment": "经费专项列支未落实"})
    assert [t.bpmn_id for t in run.ready()] == ["Rectify"]
    run.complete("Rectify", {"report": "整改报告（二）"})
    run.complete("Recheck", {"rectified": True})
    assert run.runtime.is_completed(run.workflow)
    assert run.ended_at() == ["end_rectified"]


def test_the_principal_returns_the_self_assessment_once() -> None:
    run = Run()
    run.complete("SelfAssessment", {"self_points": 60})
    run.complete("PrincipalSign", {"signed": False, "comment": "经费保障一项补充佐证"})
    [again] = run.ready()
    assert (again.bpmn_id, again.due_at) == ("SelfAssessment", moment(10))
    run.complete("SelfAssessment", {"self_points": 70})
    run.complete("PrincipalSign", {"signed": True})
    assert [t.bpmn_id for t in run.ready()] == ["AssignPanel"]


def test_each_reminder_fires_once_at_its_moment_and_the_task_stays_open() -> None:
    run = Run()
    run.tick(6.9)
    assert run.reminders == []
    run.tick(7.01)  # (the engine fires a timeDate timer just after its moment, not at it)
    assert run.reminders == [("self", "before")]
    run.tick(11.01)
    run.tick(12)
    assert run.reminders == [("self", "before"), ("self", "overdue")]
    assert [t.bpmn_id for t in run.ready()] == ["SelfAssessment"]

    run.school_submits(["e1", "e2", "e3"])
    run.score("e1", 80)
    run.tick(27.01)
    run.tick(31.01)
    run.tick(32)
    assert run.reminders[2:] == [("score", "before"), ("score", "overdue")]  # once for the activity, not per expert
    assert [t.assignee for t in run.ready()] == ["e2", "e3"]

    run.score("e2", 80)
    run.score("e3", 80)
    run.complete("Publish", {"needs_rectification": True})
    run.tick(57.01)
    run.tick(61.01)
    run.tick(70)
    assert run.reminders[4:] == [("rectify", "before"), ("rectify", "overdue")]
    assert [t.bpmn_id for t in run.ready()] == ["Rectify"]
    run.complete("Rectify", {"report": "整改报告"})
    run.complete("Recheck", {"rectified": True})
    assert run.runtime.is_completed(run.workflow)  # the timers went with their tasks


def test_the_instance_says_when_its_first_reminder_is_due() -> None:
    run = Run()
    assert run.runtime.next_timer_at(run.workflow) == moment(7)
