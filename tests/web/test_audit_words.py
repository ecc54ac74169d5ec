"""Audit events in words: objects by name, changed fields labelled, values readable; technical fields left out."""

from __future__ import annotations

import pytest
from flask_babel import force_locale

from webapp.audit_words import in_words
from webapp.models import Role
from webapp.services import audit


@pytest.fixture
def words(app, db):
    def _words(*events):
        db.session.flush()
        with app.test_request_context(), force_locale("en"):
            return in_words(list(events))
    return _words


def test_codes_and_ids_become_words(words, region, make_user):
    teacher = make_user("teacher1", display_name="王老师", org=region["school"])
    event = audit.record("role.assign", actor=None, obj=teacher, after={
        "user_id": teacher.id, "role": Role.SUBGROUP_LEADER.value, "org_id": region["maths"].id, "active": True,
        "valid_from": "2026-09-01", "path": "/1/2/", "data": {"application_id": 1}})
    shown = words(event)
    assert shown["objects"][event.id][0] == "王老师", "the object by name, never its id or login"
    assert [(c.field, c.before, c.after) for c in shown["changes"][event.id]] == [
        ("Person", "—", "王老师"), ("Role", "—", "Subgroup leader"), ("Organisation", "—", "数学备课组"),
        ("Active", "—", "yes"), ("From", "—", "2026-09-01")], "no path, no process data"


def test_a_status_is_read_in_the_words_of_its_objects_kind(words):
    paused = audit.record("instance.suspend", actor=None, object_type="process_instance", object_id="999",
                          before={"status": "running"}, after={"status": "suspended", "reason": "核查材料"})
    assert [(c.field, c.before, c.after) for c in words(paused)["changes"][paused.id]] == [
        ("Status", "In progress", "Paused by an administrator"), ("Reason", "—", "核查材料")]
    assert words(paused)["objects"] == {}, "an object that is gone is not named by its id"
    withdrawn = audit.record("instance.withdraw", actor=None, object_type="process_instance", object_id="999",
                             before={"status": "running"}, after={"status": "withdrawn", "application_id": 3})
    assert words(withdrawn)["changes"][withdrawn.id] == [], "a process's own status is its package's to say"


def test_identifiers_people_type_are_shown_verbatim(words, region):
    event = audit.record("org.update", actor=None, obj=region["school"], before={"code": "OLD-1"},
                         after={"code": region["school"].code})
    [change] = words(event)["changes"][event.id]
    assert change.verbatim and change.after == region["school"].code


def test_training_tiers_and_employment_types_are_words(app, words, make_user):
    teacher = make_user("teacher1", display_name="王老师")
    event = audit.record("user.update", actor=None, obj=teacher,
                         before={"training_tier": None, "employment_type": "established"},
                         after={"training_tier": 2, "employment_type": "contract"})
    assert [(c.field, c.before, c.after) for c in words(event)["changes"][event.id]] == [
        ("Training tier", "—", "Tier 2"), ("Employment type", "Established post (public school)", "Contract teacher")]
    with app.test_request_context(), force_locale("zh_CN"):
        shown = in_words([event])
    assert [(c.field, c.before, c.after) for c in shown["changes"][event.id]] == [
        ("研修层级", "—", "二层级"), ("用工类型", "公办在编", "合同制（聘用）")]
