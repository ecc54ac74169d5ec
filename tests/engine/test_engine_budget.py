"""Every engine step runs designers' code under a budget nothing in the code can catch (issue: hardening, 1–2, 11)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from engine_support import check, process_xml, script_node

from webapp.engine import WorkflowRuntime
from webapp.engine.budget import BudgetExceeded, Limits

BUDGET = 1.0
#: Endless, though no check can prove it from the text alone (``while True: pass`` is refused at deploy).
SPIN = "while n > 0:\n    pass"


def compiled(*nodes, flows=None, data_flows=None) -> str:
    names = [node[1] for node in nodes]
    chain = flows or [(a, b, None) for a, b in zip(["start", *names], [*names, "end"], strict=True)]
    xml = process_xml("budget", [("startEvent", "start", "", ""), *nodes, ("endEvent", "end", "", "")], chain)
    report = check({"budget.bpmn": xml})
    assert report.ok, [(p.code, p.message) for p in report.errors]
    [definition] = report.definitions.values()
    return definition.spec_json


@pytest.fixture
def runtime() -> WorkflowRuntime:
    return WorkflowRuntime(limits=Limits(seconds=BUDGET, memory_mb=200, data_kb=512, max_steps=300))


def refused_within(runtime: WorkflowRuntime, spec: str, data: dict, code: str, element: str) -> float:
    began = time.monotonic()
    with pytest.raises(BudgetExceeded) as caught:
        runtime.start(spec, data, initiator="limin")
    elapsed = time.monotonic() - began
    assert (caught.value.code, caught.value.bpmn_id) == (code, element), caught.value
    return elapsed


def test_an_endless_script_ends_at_the_budget_naming_its_element(runtime: WorkflowRuntime) -> None:
    spec = compiled(script_node("spin", SPIN, "空转"))
    assert refused_within(runtime, spec, {"n": 1}, "budget_time", "spin") < BUDGET + 1.5


def test_a_script_that_catches_everything_still_ends(runtime: WorkflowRuntime) -> None:
    script = "while n > 0:\n    try:\n        while n > 0:\n            pass\n    except:\n        pass\n"
    spec = compiled(script_node("stubborn", script, "吞掉异常"))
    assert refused_within(runtime, spec, {"n": 1}, "budget_time", "stubborn") < BUDGET + 1.5


def test_a_huge_power_in_c_is_stopped(runtime: WorkflowRuntime) -> None:
    spec = compiled(script_node("power", "x = n ** n ** 8 > 1", "大数"))
    assert refused_within(runtime, spec, {"n": 10}, "budget_time", "power") < BUDGET + 1.5


def test_a_huge_power_in_a_gateway_condition_is_stopped(runtime: WorkflowRuntime) -> None:
    nodes = [("exclusiveGateway", "gw", 'name="判断"', "")]
    xml = process_xml("budget", [("startEvent", "start", "", ""), *nodes, ("endEvent", "end", "", ""),
                                 ("endEvent", "end2", "", "")],
                      [("start", "gw", None), ("gw", "end", "n ** n ** 8 > 1"), ("gw", "end2", "n < 0")])
    report = check({"budget.bpmn": xml})
    [definition] = report.definitions.values()
    assert refused_within(runtime, definition.spec_json, {"n": 10}, "budget_time", "gw") < BUDGET + 1.5


def test_a_script_asking_for_gigabytes_gets_a_memory_incident(runtime: WorkflowRuntime) -> None:
    spec = compiled(script_node("hog", "s = 'x' * (n * 1024 * 1024 * 1024)", "占内存"))
    assert refused_within(runtime, spec, {"n": 2}, "budget_memory", "hog") < BUDGET + 1.5


def test_a_script_leaving_too_much_data_is_refused(runtime: WorkflowRuntime) -> None:
    spec = compiled(script_node("bloat", "s = 'x' * (n * 1024 * 1024)", "数据过大"))
    refused_within(runtime, spec, {"n": 1}, "budget_data", "bloat")


def automatic_loop() -> str:
    """start → n = n + 1 → gateway back to the script while n > 0: an endless loop with nobody to wait for."""
    nodes = [script_node("inc", "n = n + 1", "加一"), ("exclusiveGateway", "gw", 'name="再来"', "")]
    return compiled(*nodes, flows=[("start", "inc", None), ("inc", "gw", None), ("gw", "inc", "${n > 0}"),
                                   ("gw", "end", "${n < 0}")])


@pytest.mark.parametrize(("max_steps", "code", "element"), [(300, "budget_steps", "inc"),
                                                             (100_000, "budget_depth", "gw")])
def test_an_automatic_loop_ends_in_an_incident_not_a_completed_instance(max_steps: int, code: str,
                                                                        element: str) -> None:
    """Without our checks SpiffWorkflow ends such an instance as 'completed' at ~1,000 levels of its task tree."""
    runtime = WorkflowRuntime(limits=Limits(seconds=60, max_steps=max_steps))
    refused_within(runtime, automatic_loop(), {"n": 1}, code, element)


def test_the_runtime_goes_on_after_a_sandbox_was_killed(runtime: WorkflowRuntime) -> None:
    refused_within(runtime, compiled(script_node("spin", SPIN)), {"n": 1}, "budget_time", "spin")
    workflow = runtime.start(compiled(script_node("ok", "total = a + 1")), {"a": 1}, initiator="limin")
    assert runtime.is_completed(workflow) and runtime.variables(workflow)["total"] == 2


def test_data_types_survive_the_sandbox(runtime: WorkflowRuntime) -> None:
    script = "later = day + timedelta(days=1)\npair = (1, 'a')\ntags = {'x'}\nkeys = {1: 'one'}\n"
    from datetime import date

    workflow = runtime.start(compiled(script_node("types", script)), {"day": date(2026, 9, 1)}, initiator="limin")
    data = runtime.variables(workflow)
    assert (data["later"], data["pair"], data["tags"], data["keys"]) == (date(2026, 9, 2), (1, "a"), {"x"}, {1: "one"})


ORPHAN = """
import sys
sys.path.insert(0, {root!r})
sys.path.insert(0, {root!r} + "/tests/engine")
from engine_support import check, process_xml, script_node
from webapp.engine import WorkflowRuntime
from webapp.engine.budget import Limits
xml = process_xml("o", [("startEvent", "start", "", ""), script_node("spin", "while n > 0:\\n    pass"),
                        ("endEvent", "end", "", "")], [("start", "spin", None), ("spin", "end", None)])
[definition] = check({{"o.bpmn": xml}}).definitions.values()
print("ready", flush=True)
WorkflowRuntime(limits=Limits(seconds=600)).start(definition.spec_json, {{"n": 1}}, initiator="x")
"""


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(line) for line in out.split()]


def test_a_sandbox_whose_parent_was_killed_ends_itself() -> None:
    """A worker SIGKILLed by its time limit must not leave its sandbox spinning on."""
    root = str(Path(__file__).resolve().parents[2])
    parent = subprocess.Popen([sys.executable, "-c", ORPHAN.format(root=root)], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 20
        while not (children := _children(parent.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert children, "the sandbox process did not start"
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
    deadline = time.monotonic() + 5
    while any(os.path.exists(f"/proc/{pid}") and "zombie" not in _state(pid) for pid in children):
        assert time.monotonic() < deadline, "the orphaned sandbox still runs"
        time.sleep(0.2)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split("\n")[0].lower()
    except (OSError, IndexError):
        return "zombie"


@pytest.mark.parametrize(("script", "line"), [
    ("while True:\n    pass", 1),
    ("n = 0\nwhile 1:\n    n += 1\n    for i in items:\n        break", 2),
    ("x = 10 ** 10 ** 8", 1),
    ("s = 'x' * 10 ** 10", 1),
    ("s = [0] * (10 ** 9)", 1),
])
def test_the_deploy_check_refuses_scripts_it_can_prove_unbounded(script: str, line: int) -> None:
    xml = process_xml("unbounded", [("startEvent", "start", "", ""), script_node("bad", script, "坏脚本"),
                                    ("endEvent", "end", "", "")], [("start", "bad", None), ("bad", "end", None)])
    [problem] = check({"unbounded.bpmn": xml}).errors
    assert (problem.code, problem.element_id) == ("script_unbounded", "bad")
    assert f"line {line}" in problem.message


@pytest.mark.parametrize("script", [
    "while True:\n    n = n + 1\n    if n > 3:\n        break",
    "while True:\n    raise ValueError('stop')",
    "x = 2 ** 64\ns = '-' * 80\nbig = n ** 100",
])
def test_bounded_scripts_pass_the_deploy_check(script: str) -> None:
    xml = process_xml("bounded", [("startEvent", "start", "", ""), script_node("ok", script),
                                  ("endEvent", "end", "", "")], [("start", "ok", None), ("ok", "end", None)])
    assert check({"bounded.bpmn": xml}).ok


def test_the_deploy_check_refuses_a_huge_constant_in_a_gateway_condition() -> None:
    xml = process_xml("cond", [("startEvent", "start", "", ""), ("exclusiveGateway", "gw", 'name="判断"', ""),
                               ("endEvent", "end", "", ""), ("endEvent", "end2", "", "")],
                      [("start", "gw", None), ("gw", "end", "10**10**8 > 1"), ("gw", "end2", "n < 0")])
    codes = [(p.code, p.element_id) for p in check({"cond.bpmn": xml}).errors]
    assert ("expression_unbounded", "flow_1") in codes
