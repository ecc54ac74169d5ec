"""The OpenAPI 3.1 document of API v1, written by hand next to the views it describes.

``tests/web/test_api_openapi.py`` checks that every ``/api/v1`` route is in it, so a new endpoint
without documentation fails the build.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from flask import jsonify

from webapp.api import bp

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: tuple[str, ...] = (), /, **properties: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [schema, {"type": "null"}]}


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
TIME = {"type": "string", "format": "date-time"}
DATE = {"type": "string", "format": "date"}
NULL_TIME = {"type": ["string", "null"], "format": "date-time"}
NULL_STR = {"type": ["string", "null"]}
NULL_INT = {"type": ["integer", "null"]}
ANY_OBJECT = {"type": "object", "additionalProperties": True}


def _page(item: str) -> dict[str, Any]:
    return _obj(("items", "total", "page", "per_page", "pages"), items=_array(_ref(item)), total=INT, page=INT,
                per_page=INT, pages=INT)


SCHEMAS: dict[str, Any] = {
    "Error": _obj(("error",), error=_obj(
        ("code", "message"),
        code={**INT, "description": "The HTTP status."},
        message={**STR, "description": "What went wrong, in the caller's language."},
        fields={"type": "object", "additionalProperties": _array(STR),
                "description": "Validation: field (or form field id) to its messages."},
        field={**STR, "description": "The one request field a 400 is about."},
        problems={**_array(_ref("Problem")), "description": "Deploy and validate: every problem of the upload."},
        incident_id={**INT, "description": "A failed workflow action: the incident kept for an administrator."},
        engine_code={**STR, "description": "The engine's stable error code (service_failed, script_failed...)."},
        bpmn_id=NULL_STR, task_name=NULL_STR)),
    "Problem": _obj(("code", "message", "file", "severity"), code=STR, message=STR, file=STR, line=NULL_INT,
                    element_id=NULL_STR, element_name=NULL_STR,
                    severity={"type": "string", "enum": ["error", "warning"]}),
    "UserRef": _obj(("id", "login", "display_name"), id=INT, login=STR, display_name=STR),
    "OrgRef": _obj(("id", "code", "name", "type"), id=INT, code=STR, name=STR, type=STR),
    "Definition": _obj(("id", "key", "version", "name", "content_hash", "deployed_at", "state"), id=INT, key=STR,
                       version=INT, name=STR, content_hash=STR, deployed_at=TIME,
                       deployed_by=_nullable(_ref("UserRef")),
                       state={"type": "string", "enum": ["live", "pending", "refused"],
                              "description": "pending: a protected process's new version waiting for an "
                                             "administrator other than the deployer."}),
    "Decision": _obj(note={**STR, "description": "Why (required when refusing); at most 500 characters."}),
    "Campaign": _obj(
        ("id", "process_key", "version", "title", "period", "status", "deadlines", "progress"),
        id=INT, process_key=STR, version={**INT, "description": "The process version every school's instance runs."},
        title=STR, period=STR, period_start=DATE, period_end=DATE, org=ANY_OBJECT,
        status={"type": "string", "enum": ["launching", "open", "closed"]},
        deadlines={"type": "object", "additionalProperties": TIME, "description": "Stage key to deadline."},
        remind_days=INT, note=NULL_STR, launched_at=TIME,
        progress=_obj(("status", "total", "started", "failed", "done"), status=STR, total=INT, started=INT,
                      failed=INT, done=INT),
        closed_at=NULL_TIME, close_reason=NULL_STR),
    "CampaignPage": _page("Campaign"),
    "CampaignBoardRow": _obj(
        ("school", "stage", "status", "late"), school=ANY_OBJECT,
        stage={**STR, "description": "A stage key, or done, cancelled, not_started, failed, other."},
        stage_label=STR, status={"type": "string", "enum": ["pending", "failed", "in_progress", "submitted",
                                                             "returned", "accepted", "cancelled"]},
        status_label=STR, late=BOOL, deadline=NULL_TIME, returned_count=INT, submitted_at=NULL_TIME,
        accepted_at=NULL_TIME, facts=ANY_OBJECT, instance_id=NULL_INT, error=NULL_STR),
    "CampaignDetail": {"allOf": [_ref("Campaign"), _obj(("board",), board=_obj(
        ("items", "total", "page", "per_page", "pages", "stages", "states"),
        items=_array(_ref("CampaignBoardRow")), total=INT, page=INT, per_page=INT, pages=INT,
        stages=_array(_obj(("key", "label", "count"), key=STR, label=STR, count=INT)),
        states={"type": "object", "additionalProperties": INT,
                "description": "submitted, late, returned, accepted, failed: how many schools."}))]},
    "LaunchCampaign": _obj(
        ("process_key", "title", "period", "period_start", "period_end", "org_id", "school_ids", "deadlines"),
        process_key=STR, title=STR, period={**STR, "description": "e.g. 2026-2027-1; once per school and process."},
        period_start=DATE, period_end=DATE,
        org_id={**INT, "description": "Where the caller is a county or bureau officer (or below it)."},
        school_ids=_array(INT), deadlines={"type": "object", "additionalProperties": TIME,
                                           "description": "Every stage key of the process to its deadline."},
        remind_days={**INT, "default": 3}, note=NULL_STR),
    "ExtendCampaign": _obj(("stage", "deadline"), stage=STR, deadline=TIME),
    "Reason": _obj(("reason",), reason={**STR, "description": "Why; goes on the record. At most 500 characters."}),
    "DefinitionWithVersions": {"allOf": [_ref("Definition"), _obj(versions=_array(_ref("Definition")))]},
    "DefinitionDetail": {"allOf": [_ref("Definition"), _obj(files=_array(STR),
                                                            versions=_array(_ref("Definition")))]},
    "DeployFiles": _obj(("files",), files={"type": "object", "additionalProperties": STR,
                                           "description": "File name (``*.bpmn``, ``*.dmn``) to its XML text."}),
    "DeployUpload": _obj(("files",), files={"type": "array", "items": {"type": "string", "format": "binary"}}),
    "DeployResult": _obj(("created", "definitions", "warnings"),
                         created={**_array(STR), "description": "Keys that got a new version (empty: no-op)."},
                         definitions=_array(_ref("Definition")), warnings=_array(_ref("Problem"))),
    "ValidationResult": _obj(("valid", "processes", "warnings"), valid={"const": True}, warnings=_array(
        _ref("Problem")), processes=_array(_obj(
            key=STR, name=STR, file=STR, content_hash=STR,
            deployed_version={**NULL_INT, "description": "Set when identical content is deployed already."}))),
    "StartInstance": _obj(
        ("process_key",), process_key=STR, title={**STR, "maxLength": 200},
        subject_org={"oneOf": [INT, STR], "description": "An organisation id (number) or code (string); "
                     "default: the caller's primary subgroup, else their organisation."},
        data={**ANY_OBJECT, "description": "Start variables; not initiator or subject_org (set by the engine)."}),
    "Instance": _obj(("id", "title", "process_key", "version", "status", "subject_org", "started_at"), id=INT,
                     title=STR, process_key=STR, process_name=STR, definition_id=INT, version=INT,
                     status={"type": "string", "enum": ["running", "completed", "cancelled", "incident"]},
                     subject_org=_ref("OrgRef"), initiator=_nullable(_ref("UserRef")), started_at=TIME,
                     ended_at=NULL_TIME, summary=ANY_OBJECT),
    "InstanceDetail": {"allOf": [_ref("Instance"), _obj(
        open_tasks=_array({"allOf": [_ref("Task"), _obj(visible={**BOOL, "description": "Can I open it?"})]}),
        history=_array(_ref("Event")), comments=_array(_ref("Comment")), incidents=_array(_ref("Incident")))]},
    "Event": _obj(("id", "action", "at"), id=INT, action={**STR, "examples": ["instance.start", "task.claim"]},
                  at=TIME, actor=_nullable(_ref("UserRef")), object_type=NULL_STR, object_id=NULL_STR,
                  before=_nullable(ANY_OBJECT), after=_nullable(ANY_OBJECT)),
    "Comment": _obj(("id", "body", "created_at"), id=INT, task_id=NULL_INT, author=_nullable(_ref("UserRef")),
                    body=STR, created_at=TIME),
    "Incident": _obj(("id", "action", "message", "created_at"), id=INT, action=STR, bpmn_id=NULL_STR,
                     error_type=STR, message=STR, created_at=TIME, resolved_at=NULL_TIME),
    "Task": _obj(("id", "name", "bpmn_id", "process_key", "status", "instance"), id=INT, name=STR, bpmn_id=STR,
                 process_key=STR, status={"type": "string", "enum": ["open", "completed", "cancelled"]},
                 lane=NULL_STR, form_key=NULL_STR, priority=INT, instance=_obj(id=INT, title=STR),
                 subject_org=_ref("OrgRef"), assignee=_nullable(_ref("UserRef")),
                 claimed_by=_nullable(_ref("UserRef")), claimed_at=NULL_TIME, due_at=NULL_TIME,
                 follow_up_at=NULL_TIME, overdue=BOOL, created_at=TIME, completed_at=NULL_TIME,
                 completed_by=_nullable(_ref("UserRef"))),
    "TaskListItem": {"allOf": [_ref("Task"), _obj(summary=_nullable(_ref("RecordSummary")))]},
    "RecordSummary": _obj(("reference", "headline", "facts"), reference=STR, headline=STR, facts=_array(STR),
                          amount={"type": ["number", "null"]}, amount_unit=NULL_STR, link=NULL_STR),
    "Permissions": _obj(claim=BOOL, unclaim=BOOL, complete=BOOL, delegate=BOOL, comment=BOOL),
    "TaskAfterAction": {"allOf": [_ref("Task"), _obj(permissions=_ref("Permissions"))]},
    "TaskDetail": {"allOf": [_ref("Task"), _obj(
        instance=_ref("Instance"), documentation=NULL_STR, permissions=_ref("Permissions"),
        candidates=_array(_obj(role=NULL_STR, org=_nullable(_ref("OrgRef")), user=_nullable(_ref("UserRef")))),
        form=_obj(("key", "fields"), key=NULL_STR, fields=_array(_ref("FormField")),
                  error={**NULL_STR, "description": "Set when the process state could not be read."}),
        comments=_array(_ref("Comment")))]},
    "FormField": _obj(
        ("id", "type", "required", "readonly"), id=STR, label=NULL_STR,
        type={"type": "string", "enum": ["string", "long", "boolean", "date", "enum"]},
        default={"description": "The evaluated defaultValue."},
        value={"description": "What to show: the current variable value, else the default."},
        required=BOOL, readonly=BOOL,
        constraints={"type": "object", "additionalProperties": NULL_STR,
                     "description": "Camunda constraints: required, readonly, min, max, minlength, maxlength."},
        options=_array(_obj(("id", "name"), id=STR, name=STR)),
        properties={"type": "object", "additionalProperties": STR}),
    "CompleteTask": _obj(data={**ANY_OBJECT, "description": "Form field id to value."}),
    "CompleteResult": _obj(("task", "instance", "next_tasks"), task=_ref("TaskAfterAction"),
                           instance=_ref("Instance"), next_tasks=_array(_ref("Task"))),
    "Transfer": _obj(("to_user", "reason"), to_user={"oneOf": [INT, STR], "description": "User id or login."},
                     reason={**STR, "maxLength": 200, "description": "Why; the colleague reads it and it goes on "
                             "the record."}),
    "Urged": _obj(("task", "recipients"), task=_ref("Task"),
                  recipients={**INT, "description": "How many people were told."}),
    "TaskUrged": {"allOf": [_ref("Urged"), _obj(next_urge_at={**TIME, "description": "When it can be urged "
                                                              "again."})]},
    "InstanceUrged": _obj(("urged",), urged=_array(_ref("Urged"))),
    "Watcher": _obj(("user", "added_at"), user=_ref("UserRef"), added_by=_nullable(_ref("UserRef")),
                    added_at=TIME),
    "Watchers": _obj(("items", "may_add"), items=_array(_ref("Watcher")),
                     may_add={**BOOL, "description": "May I copy more people?"}),
    "AddWatchers": _obj(("users",), users={**_array({"oneOf": [INT, STR]}), "minItems": 1, "maxItems": 20,
                                           "description": "User ids or logins."}),
    "WatchersAdded": _obj(("added", "items"), added={**_array(_ref("UserRef")), "description": "Those newly "
                          "copied (people copied already are left as they are)."}, items=_array(_ref("Watcher"))),
    "NewComment": _obj(("body",), body={**STR, "maxLength": 2000}),
    "Token": _obj(("id", "name", "created_at"), id=INT, name=STR, created_at=TIME, last_used_at=NULL_TIME,
                  revoked_at=NULL_TIME),
    "NewToken": _obj(("name",), name={**STR, "maxLength": 100}),
    "TokenCreated": {"allOf": [_ref("Token"), _obj(("token",), token={
        **STR, "description": "The token itself; shown only in this response."})]},
    "Substitute": _obj(
        ("id", "from_user", "to_user", "role", "valid_from", "valid_to", "status", "self_service"), id=INT,
        from_user={**_ref("UserRef"), "description": "The person who is away."},
        to_user={**_ref("UserRef"), "description": "The substitute."},
        role={**NULL_STR, "description": "The role code handed over; null: all the person's roles."},
        valid_from=DATE, valid_to={**DATE, "description": "The last day, included."}, reason=NULL_STR,
        status={"type": "string", "enum": ["current", "future", "past", "revoked"]},
        self_service={**BOOL, "description": "Set up by the person who is away (false: by an administrator)."},
        created_at=TIME, revoked_at=NULL_TIME),
    "NewSubstitute": _obj(
        ("to_user", "valid_from", "valid_to"),
        to_user={"oneOf": [INT, STR], "description": "User id or login of an active colleague: someone whose "
                 "organisation is mine or one where I hold the role handed over."},
        role={**NULL_STR, "description": "One of my roles (not admin); null or absent: all my roles."},
        valid_from={**DATE, "description": "Today or later."},
        valid_to={**DATE, "description": "On or after valid_from; at most max_days days in all."},
        reason={**NULL_STR, "maxLength": 200, "description": "E.g. 出差, 病假."}),
    "MySubstitutes": _obj(
        ("given", "received", "given_past", "received_past", "roles", "max_days"),
        given={**_array(_ref("Substitute")), "description": "Who substitutes for me, now or later."},
        received={**_array(_ref("Substitute")), "description": "For whom I substitute, now or later."},
        given_past={**_array(_ref("Substitute")), "description": "The latest that are over or revoked."},
        received_past=_array(_ref("Substitute")),
        roles={**_array(STR), "description": "The role codes I may hand over."},
        max_days={**INT, "description": "The longest substitution, in days."}),
    "TaskPage": _page("TaskListItem"),
    "InstancePage": _page("Instance"),
}

_ERRORS = {
    "400": "The request is malformed, or a service refused it (``field`` says which input).",
    "401": "Not logged in and no valid API token.",
    "403": "Logged in, but not allowed to do this.",
    "404": "No such object, or not one visible to you.",
    "409": "It changed meanwhile: already completed, claimed by someone else...",
    "422": "Validation failed: ``fields`` (or ``problems`` for definitions) say what to fix.",
    "500": "The workflow failed and was rolled back; ``incident_id`` names the incident kept.",
}


def _error(code: str) -> dict[str, Any]:
    return {"description": _ERRORS[code], "content": {JSON: {"schema": _ref("Error")}}}


def _ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _body(schema: dict[str, Any], *, multipart: dict[str, Any] | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {JSON: {"schema": schema}}
    if multipart is not None:
        content["multipart/form-data"] = {"schema": multipart}
    return {"required": True, "content": content}


def _op(operation_id: str, tag: str, summary: str, responses: dict[str, Any], *, errors: tuple[str, ...] = (),
        parameters: list[dict[str, Any]] | None = None, body: dict[str, Any] | None = None,
        description: str | None = None, mutating: bool = False) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": operation_id, "tags": [tag], "summary": summary,
                                 "responses": {**responses, "401": _error("401"),
                                               **{code: _error(code) for code in errors}}}
    if description or mutating:
        extra = " Cookie-authenticated calls must send the session's CSRF token in ``X-CSRFToken``."
        operation["description"] = (description or "") + (extra if mutating else "")
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = body
    return operation


def _path_param(name: str, schema: dict[str, Any] = INT) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


PAGING = [_query("page", {**INT, "minimum": 1, "default": 1}, "Page number, from 1."),
          _query("per_page", {**INT, "minimum": 1, "maximum": 100, "default": 20}, "Items per page (at most 100).")]
VERSION = _query("version", {**INT, "minimum": 1}, "A version; default the latest.")
TASK = _path_param("task_id")
DEPLOY_BODY = _body(_ref("DeployFiles"), multipart=_ref("DeployUpload"))


def _paths() -> dict[str, Any]:
    return {
        "/tokens": {
            "post": _op("createToken", "tokens", "Create an API token for me (browser session only)",
                        {"201": _ok(_ref("TokenCreated"), "Created; the token is in this response only.")},
                        errors=("400", "403", "422"), body=_body(_ref("NewToken")), mutating=True,
                        description="Refused (403) when the call itself uses a token."),
            "get": _op("listTokens", "tokens", "My API tokens (never the tokens themselves)",
                       {"200": _ok(_obj(("items",), items=_array(_ref("Token"))))}),
        },
        "/tokens/{token_id}": {
            "delete": _op("revokeToken", "tokens", "Revoke one of my tokens", {"200": _ok(_ref("Token"))},
                          errors=("400", "404"), parameters=[_path_param("token_id")], mutating=True),
        },
        "/definitions": {
            "post": _op("deployDefinitions", "definitions", "Deploy BPMN/DMN files (designer or admin)",
                        {"201": _ok(_ref("DeployResult"), "New versions stored."),
                         "200": _ok(_ref("DeployResult"), "Identical content is deployed already: nothing changed.")},
                        errors=("400", "403", "409", "422"), body=DEPLOY_BODY, mutating=True,
                        description="One report names every problem of the whole upload (file, line, element id "
                                    "and name); nothing half-deploys."),
            "get": _op("listDefinitions", "definitions", "Every process: latest version and all versions",
                       {"200": _ok(_obj(("items",), items=_array(_ref("DefinitionWithVersions"))))}),
        },
        "/definitions/validate": {
            "post": _op("validateDefinitions", "definitions", "Check an upload as deploy would, storing nothing",
                        {"200": _ok(_ref("ValidationResult"))}, errors=("400", "403", "422"), body=DEPLOY_BODY,
                        mutating=True),
        },
        "/definitions/{key}": {
            "get": _op("getDefinition", "definitions", "One process definition (latest, or ?version=)",
                       {"200": _ok(_ref("DefinitionDetail"))}, errors=("404", "422"),
                       parameters=[_path_param("key", STR), VERSION]),
        },
        "/definitions/{key}/xml": {
            "get": _op("getDefinitionXml", "definitions", "The BPMN XML, for diagram viewers",
                       {"200": {"description": "BPMN 2.0 XML", "content": {"application/xml": {"schema": STR}}}},
                       errors=("404", "422"), parameters=[_path_param("key", STR), VERSION]),
        },
        "/definitions/{key}/versions/{version}/approve": {
            "post": _op("approveDefinition", "definitions", "Make a pending version live (another administrator)",
                        {"200": _ok(_ref("Definition"))}, errors=("400", "403", "404", "409", "422"),
                        parameters=[_path_param("key", STR), _path_param("version")], body=_body(_ref("Decision")),
                        mutating=True),
        },
        "/definitions/{key}/versions/{version}/refuse": {
            "post": _op("refuseDefinition", "definitions", "Refuse a pending version (another administrator)",
                        {"200": _ok(_ref("Definition"))}, errors=("400", "403", "404", "409", "422"),
                        parameters=[_path_param("key", STR), _path_param("version")], body=_body(_ref("Decision")),
                        mutating=True),
        },
        "/instances": {
            "post": _op("startInstance", "instances", "Start the latest version of a process",
                        {"201": _ok(_ref("InstanceDetail"), "Started; Location names the instance.")},
                        errors=("400", "403", "404", "422"), body=_body(_ref("StartInstance")), mutating=True,
                        description="The subject organisation must be the caller's own, one of their subgroups, "
                                    "or at or below an organisation where they hold a role. An engine failure at "
                                    "start is a 422 with the engine's message; no instance is created."),
            "get": _op("listInstances", "instances", "Instances I started, newest first",
                       {"200": _ok(_ref("InstancePage"))}, errors=("422",), parameters=[
                           *PAGING, _query("process", STR, "Only this process key."),
                           _query("status", {"type": "string", "enum": ["running", "completed", "cancelled",
                                                                         "incident", "suspended"]},
                                  "Only this status.")]),
        },
        "/instances/{instance_id}": {
            "get": _op("getInstance", "instances", "One instance with open tasks, history, comments, incidents",
                       {"200": _ok(_ref("InstanceDetail"))}, errors=("404",),
                       parameters=[_path_param("instance_id")]),
        },
        **{f"/instances/{{instance_id}}/{action}": {
            "post": _op(f"{action}Instance", "instances", summary, {"200": _ok(_ref("InstanceDetail"))},
                        errors=("400", "403", "404", "409", "422"), parameters=[_path_param("instance_id")],
                        body=_body(_ref("Reason")), mutating=True),
        } for action, summary in (("suspend", "Pause an instance (administrators)"),
                                  ("resume", "Resume a paused instance (administrators)"),
                                  ("cancel", "Cancel an instance and its open tasks (administrators)"))},
        "/instances/{instance_id}/messages": {
            "post": _op("sendMessage", "instances", "Correlate a message to the instance waiting for it "
                        "(administrators and integrations)", {"200": _ok(_ref("InstanceDetail"))},
                        errors=("403", "404", "409", "422"), parameters=[_path_param("instance_id")],
                        body=_body(_obj(("name",), name={**STR, "description": "The message's name in the diagram."},
                                        variables={"type": "object", "description": "Process variables it brings."})),
                        mutating=True,
                        description="The waiting message catch event, message boundary event or receive task goes "
                                    "on; 409 when the instance waits for no such message."),
        },
        "/instances/{instance_id}/urge": {
            "post": _op("urgeInstance", "instances", "Urge every open task of an instance (the initiator)",
                        {"200": _ok(_ref("InstanceUrged"))}, errors=("403", "404", "409"),
                        parameters=[_path_param("instance_id")], mutating=True,
                        description="Tasks urged within the last 24 hours are left out; 409 when none is left, "
                                    "saying when urging is possible again."),
        },
        "/instances/{instance_id}/watchers": {
            "get": _op("listWatchers", "instances", "The people copied (抄送) on an instance",
                       {"200": _ok(_ref("Watchers"))}, errors=("404",), parameters=[_path_param("instance_id")]),
            "post": _op("addWatchers", "instances", "Copy people on an instance: they may read it and are told "
                        "when it ends", {"200": _ok(_ref("WatchersAdded"))}, errors=("400", "403", "404", "422"),
                        parameters=[_path_param("instance_id")], body=_body(_ref("AddWatchers")), mutating=True,
                        description="Those who handle an open task of the instance, or completed one of its tasks, "
                                    "may copy active people of its county (or holding a role above it), at most 20 "
                                    "at a time."),
        },
        "/tasks": {
            "get": _op("listTasks", "tasks", "My tasks", {"200": _ok(_ref("TaskPage"))}, errors=("422",),
                       parameters=[
                           _query("scope", {"type": "string", "enum": ["assigned", "claimable", "all", "done"],
                                            "default": "all"},
                                  "assigned: assigned to or claimed by me; claimable: open and unclaimed, for my "
                                  "roles; all: both; done: completed by me."),
                           _query("process", STR, "Only this process key."),
                           _query("org", INT, "Only tasks about this organisation or anything below it."),
                           _query("overdue", BOOL, "Only tasks past their due date."), *PAGING]),
        },
        "/tasks/{task_id}": {
            "get": _op("getTask", "tasks", "One task with its instance, candidates, due dates and form schema",
                       {"200": _ok(_ref("TaskDetail"))}, errors=("404",), parameters=[TASK]),
        },
        "/tasks/{task_id}/claim": {
            "post": _op("claimTask", "tasks", "Claim a task offered to my role", {"200": _ok(_ref("TaskAfterAction"))},
                        errors=("400", "403", "404", "409"), parameters=[TASK], mutating=True),
        },
        "/tasks/{task_id}/unclaim": {
            "post": _op("unclaimTask", "tasks", "Give a claimed task back", {"200": _ok(_ref("TaskAfterAction"))},
                        errors=("400", "403", "404", "409"), parameters=[TASK], mutating=True),
        },
        "/tasks/{task_id}/complete": {
            "post": _op("completeTask", "tasks", "Complete a task with its form data",
                        {"200": _ok(_ref("CompleteResult"))}, errors=("400", "403", "404", "409", "422", "500"),
                        parameters=[TASK], body=_body(_ref("CompleteTask")), mutating=True,
                        description="403 when you may not complete it, 409 when it is completed already (of two "
                                    "simultaneous completions exactly one wins), 422 with per-field errors, 500 "
                                    "with an incident id when the process fails after it (nothing is changed)."),
        },
        "/tasks/{task_id}/transfer": {
            "post": _op("transferTask", "tasks", "Transfer (转交) a task to a colleague, with a reason",
                        {"200": _ok(_ref("Task"))}, errors=("400", "403", "404", "409", "422"), parameters=[TASK],
                        body=_body(_ref("Transfer")), mutating=True,
                        description="The colleague must be active, not you, hold one of the task's candidate roles "
                                    "at its organisation (or be a named candidate or a substitute), and not be the "
                                    "applicant of a review. They become the assignee and are notified."),
        },
        "/tasks/{task_id}/delegate": {
            "post": _op("delegateTask", "tasks", "The former name of /tasks/{task_id}/transfer (same rules)",
                        {"200": _ok(_ref("Task"))}, errors=("400", "403", "404", "409", "422"), parameters=[TASK],
                        body=_body(_ref("Transfer")), mutating=True),
        },
        "/tasks/{task_id}/urge": {
            "post": _op("urgeTask", "tasks", "Urge (催办) those an open task waits for (the initiator, once a day)",
                        {"200": _ok(_ref("TaskUrged"))}, errors=("403", "404", "409"), parameters=[TASK],
                        mutating=True,
                        description="Only the person who started the instance, while it runs; 409 says when the "
                                    "task can be urged again."),
        },
        "/tasks/{task_id}/comments": {
            "post": _op("commentTask", "tasks", "Comment on a task (those taking part in its process)",
                        {"201": _ok(_ref("Comment"), "Created")}, errors=("400", "403", "404"), parameters=[TASK],
                        body=_body(_ref("NewComment")), mutating=True),
        },
        "/me/substitutes": {
            "get": _op("listSubstitutes", "substitutes", "Who substitutes for me and for whom I substitute",
                       {"200": _ok(_ref("MySubstitutes"))}),
            "post": _op("createSubstitute", "substitutes", "Name my substitute (代理人) while I am away",
                        {"201": _ok(_ref("Substitute"), "Created; the substitute is notified.")},
                        errors=("400", "422"), body=_body(_ref("NewSubstitute")), mutating=True,
                        description="During the days given, my tasks in the role reach the substitute too. 422: "
                                    "a malformed field; 400: a rule refused it (start in the past, too long, not "
                                    "a colleague, a role I do not hold, another substitute on those days...), "
                                    "``field`` names the input."),
        },
        "/me/substitutes/{delegation_id}/revoke": {
            "post": _op("revokeSubstitute", "substitutes", "End one of my substitutions now",
                        {"200": _ok(_ref("Substitute"))}, errors=("400", "404", "409"),
                        parameters=[_path_param("delegation_id")], mutating=True,
                        description="404 unless I am the person who is away; 409 when it is revoked or over "
                                    "already. The substitute is notified."),
        },
        "/campaigns": {
            "get": _op("listCampaigns", "campaigns", "Campaigns I may see, newest first",
                       {"200": _ok(_ref("CampaignPage"))}, errors=("422",), parameters=PAGING),
            "post": _op("launchCampaign", "campaigns", "Launch a campaign over schools (county and bureau officers)",
                        {"201": _ok(_ref("Campaign"), "Launched; the schools' instances start in the background.")},
                        errors=("400", "403", "422"), body=_body(_ref("LaunchCampaign")), mutating=True),
        },
        "/campaigns/{campaign_id}": {
            "get": _op("getCampaign", "campaigns", "A campaign with one page of its board and the counts",
                       {"200": _ok(_ref("CampaignDetail"))}, errors=("404", "422"), parameters=[
                           _path_param("campaign_id"), *PAGING, _query("stage", STR, "Only schools in this stage."),
                           _query("state", {"type": "string", "enum": ["submitted", "late", "returned", "accepted",
                                                                        "failed"]}, "Only schools in this state."),
                           _query("q", STR, "Part of a school's name.")]),
        },
        "/campaigns/{campaign_id}/extend": {
            "post": _op("extendCampaign", "campaigns", "Move a stage's deadline (running instances follow)",
                        {"200": _ok(_ref("Campaign"))}, errors=("400", "403", "404", "409", "422"),
                        parameters=[_path_param("campaign_id")], body=_body(_ref("ExtendCampaign")), mutating=True),
        },
        "/campaigns/{campaign_id}/close": {
            "post": _op("closeCampaign", "campaigns", "Close a campaign: its running instances are cancelled",
                        {"200": _ok(_ref("Campaign"))}, errors=("400", "403", "404", "409", "422"),
                        parameters=[_path_param("campaign_id")], body=_body(_ref("Reason")), mutating=True),
        },
        "/openapi.json": {
            "get": {"operationId": "openapi", "tags": ["meta"], "summary": "This document (no login needed)",
                    "security": [], "responses": {"200": _ok(ANY_OBJECT)}},
        },
    }


@cache
def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "YanXun (研训) API", "version": "1",
                 "description": "Process definitions, instances, human tasks and my substitutes. Errors are JSON "
                                "(see the Error schema); messages follow the user's language."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerToken": []}, {"sessionCookie": []}],
        "tags": [{"name": name} for name in ("definitions", "instances", "tasks", "campaigns", "tokens", "substitutes",
                                                          "meta")],
        "paths": _paths(),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearerToken": {"type": "http", "scheme": "bearer",
                                "description": "A per-user API token (POST /tokens, or `flask tokens create`). "
                                               "No CSRF token needed."},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "session",
                                  "description": "The browser's log-in session. Requests that change something "
                                                 "must also send the CSRF token (the page's "
                                                 "<meta name=\"csrf-token\">) in the X-CSRFToken header."},
            },
        },
    }


@bp.get("/openapi.json")
def openapi():
    return jsonify(document())
