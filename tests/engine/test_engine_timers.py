"""Timer values as typed in Camunda Modeler, the engine clock, due dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from engine_support import BEIJING, T0
from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer

from webapp.engine import ExpressionError, frozen_clock
from webapp.engine.timers import now, resolve_due, timer_expression


@pytest.mark.parametrize(("kind", "typed", "python"), [
    ("timeDuration", "PT48H", "'PT48H'"),
    ("timeDuration", " P3D ", "'P3D'"),
    ("timeCycle", "R3/PT24H", "'R3/PT24H'"),
    ("timeDate", "2026-03-05T08:00:00+08:00", "'2026-03-05T08:00:00+08:00'"),
    ("timeDuration", "${reminder_after}", "reminder_after"),
    ("timeDuration", '"PT1H"', '"PT1H"'),
    ("timeDuration", "'P%dD' % days", "'P%dD' % days"),
])
def test_timer_values_become_python(kind: str, typed: str, python: str) -> None:
    assert timer_expression(kind, typed) == python


@pytest.mark.parametrize(("kind", "typed", "code"), [
    ("timeDuration", "PT48X", "timer_invalid"),
    ("timeDuration", "PT1D", "timer_invalid"),
    ("timeDuration", "2026-03-05", "timer_invalid"),
    ("timeCycle", "PT24H", "timer_invalid"),
    ("timeDate", "2026-13-05T08:00", "timer_invalid"),
    ("timeDate", '"P3D"', "timer_invalid"),
    ("timeCycle", "0 0/5 * * * ?", "timer_cron_unsupported"),
    ("timeCycle", "0 8 * * 1", "timer_cron_unsupported"),
    ("timeCycle", "*/15 * * * *", "timer_cron_unsupported"),
    ("timeDate", "0 9 1 SEP *", "timer_cron_unsupported"),
    ("timeDuration", "", "timer_empty"),
    ("timeDuration", "${a ? b : c}", "expression_unsupported"),
])
def test_bad_timer_values(kind: str, typed: str, code: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        timer_expression(kind, typed)
    assert caught.value.code == code


def test_frozen_clock_reaches_spiffworkflow_and_is_scoped() -> None:
    assert spiff_timer.datetime.now(UTC) - datetime.now(UTC) < timedelta(seconds=5)
    with frozen_clock(T0):
        assert now() == T0
        assert spiff_timer.datetime.now(UTC) == T0
    assert now() - datetime.now(UTC) < timedelta(seconds=5)
    with pytest.raises(ValueError, match="aware"):
        frozen_clock(datetime(2026, 1, 1)).__enter__()


def test_due_dates() -> None:
    def evaluate(text: str) -> object:
        return {"${deadline}": date(2026, 3, 9), "${at}": "2026-03-10T12:00:00+08:00", "${later}": "P2D",
                "${none}": None}[text]

    assert resolve_due("P3D", evaluate, T0) == T0 + timedelta(days=3)
    assert resolve_due("PT36H", evaluate, T0) == T0 + timedelta(hours=36)
    assert resolve_due("2026-03-05T08:00:00+08:00", evaluate, T0) == datetime(2026, 3, 5, 8, tzinfo=BEIJING)
    assert resolve_due("${at}", evaluate, T0) == datetime(2026, 3, 10, 12, tzinfo=BEIJING)
    assert resolve_due("${later}", evaluate, T0) == T0 + timedelta(days=2)
    assert resolve_due("${deadline}", evaluate, T0).date() == date(2026, 3, 9)
    assert resolve_due("${none}", evaluate, T0) is None
    assert resolve_due(None, evaluate, T0) is None
    with pytest.raises(ExpressionError) as caught:
        resolve_due("soon", evaluate, T0)
    assert caught.value.code == "date_invalid"
