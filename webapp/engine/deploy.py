"""Deploy = check + compile. One :class:`Report` lists every problem of an upload; nothing half-compiles.

A clean upload yields one :class:`CompiledDefinition` per executable process: the web layer stores it
as an immutable version (re-deploying the same ``content_hash`` is a no-op there).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterable, Mapping
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException

from .errors import DefinitionInvalid, EngineError
from .expressions import is_juel, split_list
from .lint import (
    BPMN_NS,
    CAMUNDA_NS,
    DMN_NAMESPACES,
    BpmnLinter,
    LintContext,
    Problem,
    bpmn,
    dmn_problems,
    platform_problems,
    schema_problems,
)
from .parser import ExtendedCamundaParser
from .services import service_topic
from .specs import TopicServiceTask, build_registry, spec_from_json, spec_to_json


@dataclass(frozen=True)
class CompiledDefinition:
    """An executable process ready to store. ``spec_json`` is what the runtime starts and loads from."""

    process_id: str
    name: str
    content_hash: str
    file_name: str
    bpmn_xml: str
    spec_json: str
    roles: frozenset[str] = frozenset()
    form_keys: frozenset[str] = frozenset()
    topics: frozenset[str] = frozenset()


@dataclass
class Report:
    """All problems of one upload, and (only when there is no error) the compiled definitions."""

    problems: list[Problem] = field(default_factory=list)
    definitions: dict[str, CompiledDefinition] = field(default_factory=dict)
    content_hash: str | None = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class _Document:
    name: str
    kind: str
    root: Any
    text: str
    usable: bool = True


def check_definition(files: Mapping[str, bytes | str], *, known_roles: Iterable[str], known_topics: Iterable[str],
                     known_form_keys: Iterable[str]) -> Report:
    """Check an upload (file name -> content) and compile it if it has no errors."""
    report = Report()
    documents = []
    for name in sorted(files):
        document = _read(name, files[name], report.problems)
        if document is not None:
            documents.append(document)
    for document in documents:
        if document.kind == "bpmn" and (platform := platform_problems(document.name, document.root)):
            report.problems.extend(platform)
            document.usable = False
            continue
        schema = schema_problems(document.name, document.root, document.kind)
        report.problems.extend(schema)
        document.usable = not schema
    context = LintContext(
        known_roles=frozenset(known_roles), known_topics=frozenset(known_topics),
        known_form_keys=frozenset(known_form_keys),
        process_ids=frozenset(p.get("id") for d in documents if d.kind == "bpmn"
                              for p in d.root.iterchildren(bpmn("process")) if p.get("id")),
        decision_ids=frozenset(e.get("id") for d in documents if d.kind == "dmn"
                               for e in d.root.iterchildren(f"{{{etree.QName(d.root).namespace}}}decision")),
    )
    for document in documents:
        if document.kind == "dmn":
            report.problems.extend(dmn_problems(document.name, document.root))
        elif not any(p.file == document.name and p.code in ("camunda8_unsupported", "legacy_namespace")
                     for p in report.problems):
            try:
                report.problems.extend(BpmnLinter(document.name, document.root, context).run())
            except Exception as exc:  # a lint bug must not hide the rest of the report
                report.problems.append(Problem("lint_failed", f"Checking failed: {type(exc).__name__}: {exc}",
                                               document.name))
    parsed = _parse(documents, context, report)
    report.problems.sort(key=lambda p: (p.file, p.line or 0))
    if report.errors or not parsed:
        return report
    report.content_hash = content_hash(documents)
    _compile(documents, parsed, report)
    return report


def deploy(files: Mapping[str, bytes | str], *, known_roles: Iterable[str], known_topics: Iterable[str],
           known_form_keys: Iterable[str]) -> Report:
    """:func:`check_definition` that raises :class:`DefinitionInvalid` (carrying the report) on errors."""
    report = check_definition(files, known_roles=known_roles, known_topics=known_topics,
                              known_form_keys=known_form_keys)
    if not report.ok:
        raise DefinitionInvalid(report)
    return report


def content_hash(documents: Iterable[_Document]) -> str:
    """sha256 over the canonical XML (C14N 2.0) of every file, in a fixed order; file names do not count."""
    digest = hashlib.sha256()
    for canonical in sorted(etree.tostring(d.root, method="c14n2") for d in documents):
        digest.update(hashlib.sha256(canonical).digest())
    return digest.hexdigest()


def _read(name: str, content: bytes | str, problems: list[Problem]) -> _Document | None:
    data = content.encode("utf-8") if isinstance(content, str) else content
    doctype_line = _doctype_line(data)
    if doctype_line is not None:
        problems.append(_doctype_problem(name, doctype_line))
        return None
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        line = exc.position[0] if exc.position else exc.lineno
        problems.append(Problem("xml_malformed", f"The file is not well-formed XML: {exc.msg}", name, line))
        return None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:  # in depth: a prolog expat could not read
        problems.append(_doctype_problem(name, 1))
        return None
    namespace = etree.QName(root).namespace
    if namespace == BPMN_NS and etree.QName(root).localname == "definitions":
        kind = "bpmn"
    elif namespace in DMN_NAMESPACES:
        kind = "dmn"
    else:
        problems.append(Problem("file_type_unknown", "The file is neither BPMN 2.0 nor DMN", name, root.sourceline))
        return None
    try:
        text = data.decode(root.getroottree().docinfo.encoding or "utf-8")
    except (LookupError, UnicodeDecodeError):
        text = etree.tostring(root, encoding="unicode")
    return _Document(name, kind, root, text)


_DECLARED_ENCODING = re.compile(r"""<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


class _PrologRead(Exception):
    """Stops :func:`_doctype_line` at the DOCTYPE or the root element: nothing after them is parsed."""


def _doctype_line(data: bytes) -> int | None:
    """The line of the file's DOCTYPE declaration, or None when it has none.

    Modeler files never have one; a DOCTYPE only brings entity declarations, which can point at local files
    and URLs (``<!ENTITY x SYSTEM "file:///etc/passwd">``) or expand a few bytes into gigabytes (nested
    internal entities). expat stops at the declaration's first character, before its entities are read.
    Unreadable prologs (malformed, an unknown encoding) are left to lxml and its report.
    """
    try:
        return _scan_prolog(expat.ParserCreate(), data)
    except (ValueError, LookupError):  # an encoding expat cannot read itself (GBK, GB18030...)
        declared = _DECLARED_ENCODING.match(data[:200].decode("latin-1"))
        try:
            text = data.decode(declared.group(1) if declared else "utf-8")
        except (LookupError, UnicodeDecodeError):
            return None
        return _scan_prolog(expat.ParserCreate("utf-8"), text.encode("utf-8"))


def _scan_prolog(parser: Any, data: bytes) -> int | None:
    found: list[int] = []

    def doctype(*_: Any) -> None:
        found.append(parser.CurrentLineNumber)
        raise _PrologRead

    def root_element(*_: Any) -> None:
        raise _PrologRead

    parser.StartDoctypeDeclHandler = doctype
    parser.StartElementHandler = root_element
    with contextlib.suppress(_PrologRead, expat.ExpatError):
        parser.Parse(data, True)
    return found[0] if found else None


def _doctype_problem(name: str, line: int) -> Problem:
    return Problem("doctype_forbidden",
                   "The file has a DOCTYPE declaration (<!DOCTYPE ...>); BPMN and DMN files may not declare a DOCTYPE "
                   "or entities (<!ENTITY ...>), and YanXun reads none of it. Delete the <!DOCTYPE ...> declaration "
                   "and every &name; reference to its entities, or save the file again from Camunda Modeler, which "
                   "never writes one", name, line)


def _parse(documents: list[_Document], context: LintContext, report: Report) -> dict[str, tuple[Any, ...]]:
    """Run SpiffWorkflow's parser on the usable files; its findings join the report (minus duplicates)."""
    parser = ExtendedCamundaParser(known_roles=context.known_roles)
    by_name = {d.name: d for d in documents}
    usable = [d for d in documents if d.usable and not any(p.file == d.name and p.code in (
        "camunda8_unsupported", "legacy_namespace") for p in report.problems)]
    parsed: dict[str, tuple[Any, ...]] = {}
    for document in sorted(usable, key=lambda d: d.kind != "dmn"):
        try:
            if document.kind == "dmn":
                parser.add_dmn_xml(document.root, filename=document.name)
            else:
                parser.add_bpmn_xml(_without_data(document.root), filename=document.name)
        except Exception as exc:
            _add_parse_problem(report, exc, document, by_name)
            document.usable = False
    for dmn_parser in parser.dmn_parsers.values():
        try:
            dmn_parser.parse()
        except Exception as exc:
            _add_parse_problem(report, exc, by_name[dmn_parser.filename], by_name)
    for document in usable:
        if document.kind != "bpmn" or not document.usable:
            continue
        for process in document.root.iterchildren(bpmn("process")):
            process_id = process.get("id")
            if process.get("isExecutable", "true") != "true" or not process_id:
                continue
            try:
                spec = parser.get_spec(process_id)
                subprocess_specs = parser.get_subprocess_specs(process_id)
            except Exception as exc:
                _add_parse_problem(report, exc, document, by_name)
                continue
            parsed[process_id] = (document, process, spec, subprocess_specs)
    return parsed


_DATA_ELEMENTS = tuple(bpmn(tag) for tag in ("dataInputAssociation", "dataOutputAssociation", "dataObjectReference",
                                              "dataStoreReference", "dataObject", "dataStore"))


def _without_data(root: Any) -> Any:
    """A copy of ``root`` without data objects, data stores and their associations (or ``root`` when it has none).

    Camunda 7 runs none of them: they document where data lives. SpiffWorkflow would move task data into data
    objects, and refuses data stores it has no class for. The lint warns about each one (``data_reference_ignored``).
    """
    if next(root.iter(*_DATA_ELEMENTS), None) is None:
        return root
    copy = deepcopy(root)
    for element in list(copy.iter(*_DATA_ELEMENTS)):
        if element.getparent() is not None:
            element.getparent().remove(element)
    return copy


def _add_parse_problem(report: Report, exc: Exception, document: _Document, by_name: Mapping[str, _Document]) -> None:
    file = getattr(exc, "file_name", None) or document.name
    owner = by_name.get(file, document)
    element_id = getattr(exc, "id", None) or getattr(exc, "bpmn_id", None) or None
    decisions = list(owner.root.iterchildren(f"{{{etree.QName(owner.root).namespace}}}decision"))
    if owner.kind == "dmn" and len(decisions) > 1 and not element_id:
        # SpiffWorkflow reads one decision per DMN file; say so at the second one instead of its AttributeError.
        exc = EngineError(f"SpiffWorkflow cannot read this: the file has {len(decisions)} decisions and only one "
                          "decision per DMN file can be read; put each decision in a file of its own",
                          code="parse_failed")
        element_id = decisions[1].get("id")
    # The lint names most of what SpiffWorkflow stumbles on, more precisely: keep only what it has not named (an
    # error without an element is a duplicate when the file already has an error of that code).
    code = exc.code if isinstance(exc, EngineError) else "parse_failed"
    if any(p.severity == "error" and p.file == file and (p.element_id == element_id if element_id
                                                         else p.code == code)
           for p in report.problems):
        return
    line = getattr(exc, "line_number", None) or None
    element = None
    if element_id:
        element = next(iter(owner.root.xpath("//*[@id=$i]", i=element_id)), None)
        line = line or (element.sourceline if element is not None else None)
    broken_dmn = sorted({p.file for p in report.problems if p.severity == "error" and by_name.get(p.file)
                         and by_name[p.file].kind == "dmn"})
    if element is not None and etree.QName(element).localname == "businessRuleTask" and broken_dmn:
        code, message = "parse_failed", (f"Decision {element.get(f'{{{CAMUNDA_NS}}}decisionRef')!r} cannot be loaded "
                                         f"until the problems of {', '.join(broken_dmn)} are fixed")
    elif isinstance(exc, EngineError):
        code, message = exc.code, exc.message
    elif isinstance(exc, ValidationException):
        code, message = "parse_failed", f"SpiffWorkflow cannot read this: {exc.args[0] if exc.args else exc}"
    else:
        code, message = "parse_failed", f"SpiffWorkflow cannot read this: {type(exc).__name__}: {exc}"
    report.problems.append(Problem(code, message, file, line if isinstance(line, int) else None, element_id,
                                   element.get("name") if element is not None else None))


def _compile(documents: list[_Document], parsed: Mapping[str, tuple[Any, ...]], report: Report) -> None:
    registry = build_registry()
    definitions = {}
    for process_id, (document, process, spec, subprocess_specs) in parsed.items():
        try:
            spec_json = spec_to_json(registry, spec, subprocess_specs, process_id=process_id,
                                     content_hash=report.content_hash)
            spec_from_json(registry, spec_json)  # what cannot be restored must not be stored
        except Exception as exc:
            report.problems.append(Problem("compile_failed", f"Process {process_id!r} cannot be stored: "
                                           f"{type(exc).__name__}: {exc}", document.name, process.sourceline,
                                           process_id, process.get("name")))
            continue
        roles, form_keys, topics = _summary([spec, *subprocess_specs.values()])
        definitions[process_id] = CompiledDefinition(
            process_id=process_id, name=process.get("name") or process_id, content_hash=report.content_hash or "",
            file_name=document.name, bpmn_xml=document.text, spec_json=spec_json,
            roles=roles, form_keys=form_keys, topics=topics)
    if not report.errors:
        report.definitions = definitions


def _summary(specs: Iterable[Any]) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    roles, form_keys, topics = set(), set(), set()
    for spec in specs:
        for task_spec in spec.task_specs.values():
            camunda = (getattr(task_spec, "extensions", None) or {}).get("camunda", {})
            if camunda.get("laneRole"):
                roles.add(camunda["laneRole"])
            roles.update(p for p in split_list(camunda.get("candidateGroups")) if not is_juel(p))
            if camunda.get("formKey"):
                form_keys.add(camunda["formKey"])
            if isinstance(task_spec, TopicServiceTask) and service_topic(camunda):
                topics.add(service_topic(camunda))
    return frozenset(roles), frozenset(form_keys), frozenset(topics)
