"""Helpers shared by the engine tests (a uniquely named module, so it cannot clash with other conftests)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

from webapp.engine import CompiledDefinition, Report, check_definition

DIAGRAMS = Path(__file__).parent / "diagrams"
ROLES = frozenset({"teacher", "subgroup_leader", "school_officer", "principal", "county_officer"})
TOPICS = frozenset({"credit_check", "credit_rules_check", "notify"})
BEIJING = timezone(timedelta(hours=8))
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=BEIJING)


def diagram(name: str) -> str:
    return (DIAGRAMS / name).read_text(encoding="utf-8")


def check(files: dict[str, str | bytes], *, topics: frozenset[str] = TOPICS,
          form_keys: frozenset[str] = frozenset()) -> Report:
    return check_definition(files, known_roles=ROLES, known_topics=topics, known_form_keys=form_keys)


@lru_cache
def compile_one(*names: str) -> CompiledDefinition:
    """The single executable process of ``names`` (diagram files), compiled once per test session."""
    return compile_text({name: diagram(name) for name in names})


def compile_text(files: dict[str, str]) -> CompiledDefinition:
    report = check(files)
    assert report.ok, [(p.code, p.message) for p in report.errors]
    [definition] = report.definitions.values()
    return definition


def error_codes(report: Report) -> list[str]:
    return sorted(p.code for p in report.errors)


def process_xml(process_id: str, nodes: list[tuple[str, str, str, str]],
                flows: list[tuple[str, str, str | None]], *, name: str = "测试流程") -> str:
    """A Camunda 7 diagram with DI: ``nodes`` are (tag, id, attributes, body XML: leading extension elements go
    before the flow references, anything else after),
    ``flows`` (source, target, condition).

    Shapes are laid out in a row; edges go straight. Enough for the deploy check and the engine."""
    incoming: dict[str, list[str]] = {}
    outgoing: dict[str, list[str]] = {}
    flow_xml, edges = [], []
    position = {node[1]: index for index, node in enumerate(nodes)}
    for index, (source, target, condition) in enumerate(flows):
        flow_id = f"flow_{index}"
        outgoing.setdefault(source, []).append(flow_id)
        incoming.setdefault(target, []).append(flow_id)
        body = (f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{escape(condition)}'
                "</bpmn:conditionExpression>" if condition else "")
        flow_xml.append(f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}">{body}'
                        "</bpmn:sequenceFlow>")
        x1, x2 = 200 + 150 * position[source], 200 + 150 * position[target]
        edges.append(f'<bpmndi:BPMNEdge id="{flow_id}_di" bpmnElement="{flow_id}"><di:waypoint x="{x1}" y="120" />'
                     f'<di:waypoint x="{x2}" y="120" /></bpmndi:BPMNEdge>')
    node_xml, shapes = [], []
    for index, (tag, node_id, attributes, body) in enumerate(nodes):
        refs = "".join(f"<bpmn:incoming>{f}</bpmn:incoming>" for f in incoming.get(node_id, []))
        refs += "".join(f"<bpmn:outgoing>{f}</bpmn:outgoing>" for f in outgoing.get(node_id, []))
        end = body.find("</bpmn:extensionElements>") + len("</bpmn:extensionElements>")
        head, tail = (body[:end], body[end:]) if body.startswith("<bpmn:extensionElements") else ("", body)
        node_xml.append(f'<bpmn:{tag} id="{node_id}" {attributes}>{head}{refs}{tail}</bpmn:{tag}>')
        shapes.append(f'<bpmndi:BPMNShape id="{node_id}_di" bpmnElement="{node_id}">'
                      f'<dc:Bounds x="{150 + 150 * index}" y="80" width="100" height="80" /></bpmndi:BPMNShape>')
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
        'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="Definitions_1" '
        'targetNamespace="http://bpmn.io/schema/bpmn" exporter="Camunda Modeler" exporterVersion="5.31.0">'
        f'<bpmn:process id="{process_id}" name="{name}" isExecutable="true">{"".join(node_xml)}{"".join(flow_xml)}'
        f'</bpmn:process><bpmndi:BPMNDiagram id="BPMNDiagram_1"><bpmndi:BPMNPlane id="BPMNPlane_1" '
        f'bpmnElement="{process_id}">{"".join(shapes)}{"".join(edges)}</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>'
        "</bpmn:definitions>")


def script_node(node_id: str, script: str, name: str = "脚本") -> tuple[str, str, str, str]:
    return ("scriptTask", node_id, f'name="{name}" scriptFormat="python"',
            f"<bpmn:script>{escape(script)}</bpmn:script>")


def line_of(text: str, needle: str) -> int:
    """The line of ``text`` where ``needle`` first stands."""
    return text[:text.index(needle)].count("\n") + 1


def mutate(*replacements: tuple[str, str], text: str | None = None) -> str:
    """``text`` (by default ``approval.bpmn``) with each (old, new) replaced; every old must be there."""
    text = diagram("approval.bpmn") if text is None else text
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    return text
