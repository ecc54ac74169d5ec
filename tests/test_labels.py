"""Every audit action the code records has words for people: history and audit pages never show a raw code."""

from __future__ import annotations

import re
from pathlib import Path

from webapp.labels import AUDIT_ACTION_LABELS
from webapp.services import processes

ROOT = Path(__file__).resolve().parent.parent
RECORDED = re.compile(r'audit\.record\(\s*"([a-z_.]+)"')


def test_every_recorded_audit_action_has_a_label(app):
    """Generic actions have words in ``webapp.labels``; a process package's own in its registration."""
    actions = {match for path in (ROOT / "webapp").rglob("*.py")
               for match in RECORDED.findall(path.read_text(encoding="utf-8"))}
    assert len(actions) > 30, "the pattern finds the recorded actions"
    assert sorted(actions - set(AUDIT_ACTION_LABELS) - set(processes.event_words())) == []
