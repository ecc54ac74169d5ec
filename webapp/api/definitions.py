"""Process definitions: deploy (designers and administrators), dry-run validation, listing, BPMN XML."""

from __future__ import annotations

from pathlib import PurePosixPath

import sqlalchemy as sa
from flask import Response, jsonify, request
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import load_only, selectinload

from webapp.api import bp
from webapp.api import serializers as out
from webapp.api.common import api_user, holds_any, invalid, json_body
from webapp.api.errors import problem_json, rejected_report
from webapp.extensions import db
from webapp.models import ProcessDefinition, Role
from webapp.services import definitions as definition_service
from webapp.services.errors import Conflict, NotAllowed, NotFound

_LISTED = load_only(ProcessDefinition.id, ProcessDefinition.key, ProcessDefinition.version, ProcessDefinition.name,
                    ProcessDefinition.content_hash, ProcessDefinition.deployed_at, ProcessDefinition.deployed_by_id,
                    ProcessDefinition.state)


def _require_designer() -> None:
    if not holds_any(Role.DESIGNER, Role.ADMIN):
        raise NotAllowed(_("Only process designers and administrators may deploy process definitions."))


def _uploaded_files() -> dict[str, bytes | str]:
    """``{file name: content}`` from a multipart upload (any field name) or JSON ``{"files": {...}}``."""
    files: dict[str, bytes | str] = {}
    if request.files:
        for storage in (s for key in request.files for s in request.files.getlist(key)):
            name = PurePosixPath((storage.filename or "").replace("\\", "/")).name
            if not name:
                raise invalid({"files": [_("Every uploaded file needs a file name.")]})
            if name in files:
                raise invalid({"files": [_("Two files are called %(name)s.", name=name)]})
            files[name] = storage.read()
    else:
        given = json_body().get("files")
        if not isinstance(given, dict) or not all(isinstance(k, str) and k and isinstance(v, str)
                                                  for k, v in given.items()):
            raise invalid({"files": [_('Send "files" as an object of file name to XML text.')]})
        files = dict(given)
    if not files:
        raise invalid({"files": [_("Upload at least one .bpmn or .dmn file.")]})
    return files


def _get(key: str) -> ProcessDefinition:
    raw = request.args.get("version", "").strip()
    query = sa.select(ProcessDefinition).where(ProcessDefinition.key == key)
    if raw:
        if not raw.isdigit():
            raise invalid({"version": [_("Give a version number.")]})
        query = query.where(ProcessDefinition.version == int(raw))
    found = db.session.scalar(query.order_by(ProcessDefinition.version.desc()).limit(1))
    if found is None:
        raise NotFound(_("No such process definition (or version) has been deployed."))
    return found


@bp.post("/definitions")
def deploy_definitions():
    _require_designer()
    files = _uploaded_files()
    result = definition_service.deploy(files, api_user())
    body = {"created": result.created, "definitions": [out.definition(d) for d in result.definitions],
            "warnings": [problem_json(p) for p in result.report.warnings]}
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_("The same process was deployed at the same moment by someone else; send it again.")) from None
    return jsonify(body), 201 if result.created else 200


@bp.post("/definitions/validate")
def validate_definitions():
    """Check an upload as a deploy would, storing nothing."""
    _require_designer()
    report = definition_service.check(_uploaded_files())
    if report.errors or not report.definitions:
        return rejected_report(report)
    processes = []
    for key, compiled in sorted(report.definitions.items()):
        existing = db.session.scalar(sa.select(ProcessDefinition.version).where(
            ProcessDefinition.key == key, ProcessDefinition.content_hash == compiled.content_hash))
        processes.append({"key": key, "name": compiled.name, "file": compiled.file_name,
                          "content_hash": compiled.content_hash, "deployed_version": existing})
    return jsonify({"valid": True, "processes": processes, "warnings": [problem_json(p) for p in report.warnings]})


@bp.get("/definitions")
def list_definitions():
    """Every process key: its latest version, and all versions newest first."""
    rows = db.session.scalars(sa.select(ProcessDefinition).options(_LISTED, selectinload(ProcessDefinition.deployed_by))
                              .order_by(ProcessDefinition.key, ProcessDefinition.version.desc()))
    by_key: dict[str, list[ProcessDefinition]] = {}
    for row in rows:
        by_key.setdefault(row.key, []).append(row)
    return jsonify({"items": [{**out.definition(versions[0]), "versions": [out.definition(v) for v in versions]}
                              for versions in by_key.values()]})


@bp.get("/definitions/<key>")
def get_definition(key: str):
    found = _get(key)
    versions = db.session.scalars(sa.select(ProcessDefinition).options(_LISTED)
                                  .where(ProcessDefinition.key == key).order_by(ProcessDefinition.version.desc()))
    return jsonify({**out.definition(found), "files": sorted(found.source_files),
                    "versions": [out.definition(v) for v in versions]})


@bp.get("/definitions/<key>/xml")
def get_definition_xml(key: str):
    """The BPMN XML of the version, for diagram viewers; served so that a browser never runs it as a page
    (with ``nosniff``, as every answer: webapp/headers.py)."""
    response = Response(_get(key).bpmn_xml, mimetype="application/xml")
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@bp.post("/definitions/<key>/versions/<int:version>/approve", defaults={"decision": "approve"})
@bp.post("/definitions/<key>/versions/<int:version>/refuse", defaults={"decision": "refuse"})
def decide_definition(key: str, version: int, decision: str):
    """An administrator other than the deployer makes a pending version of a protected process live, or refuses
    it (``note`` required then)."""
    found = db.session.scalar(sa.select(ProcessDefinition).where(ProcessDefinition.key == key,
                                                                 ProcessDefinition.version == version))
    if found is None:
        raise NotFound(_("No such process definition (or version) has been deployed."))
    note = json_body().get("note") or ""
    if not isinstance(note, str) or len(note) > 500:
        raise invalid({"note": [_("A note is text of at most 500 characters.")]})
    definition_service.review(found, api_user(), approve=decision == "approve", note=note)
    db.session.commit()
    return jsonify(out.definition(found))
