"""Steps that never finish, for the time-limit tests: imported by the tests and preloaded by their workers.

``hours_review`` with its reminder after one second, and the reminder's step (``remind``) replaced by one of
these: a script or a service handler that loops in Python (the soft time limit interrupts it), and a
handler that swallows whatever interrupts it, as a loop in C code would never see it (only the hard time
limit, which kills the process, ends it). Or its check (an async service task) done by a looping handler.
"""

from __future__ import annotations

import re

from tests.workflow_support import HOURS_REVIEW
from webapp.services.runtime import services

LOOP_TOPIC = "test.loop_forever"
STUBBORN_TOPIC = "test.loop_stubbornly"
#: ``loop_forever`` as an async topic: its handler runs in a ``yanxun.run_service_job`` job.
LOOP_LATER_TOPIC = "test.loop_forever_later"


def loop_forever(call):
    count = 0
    while True:
        count += 1


def loop_stubbornly(call):
    while True:
        try:
            count = 0
            while True:
                count += 1
        except BaseException:  # noqa: S110 - the point: SoftTimeLimitExceeded must not stop it
            pass


for _topic, _handler, _is_async in ((LOOP_TOPIC, loop_forever, False), (STUBBORN_TOPIC, loop_stubbornly, False),
                                    (LOOP_LATER_TOPIC, loop_forever, True)):
    if _topic not in services:
        services.register(_topic, _handler, is_async=_is_async)

#: The reminder's step (``remind``) as the tests' diagram has it, and its name.
REMIND_NAME = "记录提醒"
_REMIND = re.compile(rb'<bpmn:scriptTask id="remind".*?</bpmn:scriptTask>', re.S)
_FLOWS = b"<bpmn:incoming>flow_remind</bpmn:incoming><bpmn:outgoing>flow_remind_end</bpmn:outgoing>"


def script_step(script: str) -> bytes:
    return (f'<bpmn:scriptTask id="remind" name="{REMIND_NAME}" scriptFormat="python">'.encode()
            + _FLOWS + b"<bpmn:script>" + script.encode() + b"</bpmn:script></bpmn:scriptTask>")


def service_step(topic: str) -> bytes:
    return (f'<bpmn:serviceTask id="remind" name="{REMIND_NAME}" camunda:type="external" camunda:topic="{topic}">'
            .encode() + _FLOWS + b"</bpmn:serviceTask>")


def checked_later_diagram(process_id: str, topic: str) -> dict[str, bytes]:
    """``hours_review`` as process ``process_id``, its check (after the submission) done by ``topic``."""
    xml = HOURS_REVIEW.read_bytes().replace(b'"hours_review"', f'"{process_id}"'.encode())
    xml = xml.replace(b'camunda:topic="test.check_hours"', f'camunda:topic="{topic}"'.encode())
    return {f"{process_id}.bpmn": xml}


def reminder_diagram(process_id: str, remind_step: bytes | None = None) -> dict[str, bytes]:
    """``hours_review`` as process ``process_id``, its reminder due a second after the submission, the
    reminder's step replaced by ``remind_step`` (None: the usual one-line script)."""
    xml = HOURS_REVIEW.read_bytes().replace(b">PT48H<", b">PT1S<").replace(b'"hours_review"',
                                                                           f'"{process_id}"'.encode())
    if remind_step is not None:
        xml, replaced = _REMIND.subn(remind_step, xml)
        assert replaced == 1
    return {f"{process_id}.bpmn": xml}
