"""Display names for codes (roles, organisation types, stages...), translatable."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from forms.credit import LEVEL_CHOICES
from webapp.models import (
    TRAINING_TIERS,
    BackboneLevel,
    EmploymentType,
    EntrySource,
    InstanceStatus,
    OrgType,
    Role,
    SchoolStage,
    TaskStatus,
)

ROLE_LABELS = {
    Role.TEACHER: _l("Teacher"),
    Role.SUBGROUP_LEADER: _l("Subgroup leader"),
    Role.SCHOOL_OFFICER: _l("School training officer"),
    Role.PRINCIPAL: _l("Principal"),
    Role.RESEARCHER: _l("Researcher-trainer"),
    Role.COUNTY_OFFICER: _l("County training centre officer"),
    Role.BUREAU_OFFICER: _l("Education bureau officer"),
    Role.EXPERT: _l("Expert panel member"),
    Role.DESIGNER: _l("Process designer"),
    Role.ADMIN: _l("System administrator"),
}

ORG_TYPE_LABELS = {
    OrgType.CITY: _l("City"),
    OrgType.COUNTY: _l("County / district"),
    OrgType.SCHOOL_GROUP: _l("School group"),
    OrgType.ZONE: _l("Zone"),
    OrgType.SCHOOL: _l("School"),
    OrgType.SUBGROUP: _l("Subgroup"),
    OrgType.INSTITUTE: _l("Research-training institute"),
}

STAGE_LABELS = {
    SchoolStage.KINDERGARTEN: _l("Kindergarten"),
    SchoolStage.PRIMARY: _l("Primary"),
    SchoolStage.JUNIOR: _l("Junior high"),
    SchoolStage.SENIOR: _l("Senior high"),
    SchoolStage.NINE_YEAR: _l("Nine-year school"),
    SchoolStage.COMPLETE: _l("Complete secondary"),
    SchoolStage.VOCATIONAL: _l("Vocational"),
    SchoolStage.SPECIAL: _l("Special education"),
}

BACKBONE_LABELS = {
    BackboneLevel.SCHOOL: _l("School-level backbone"),
    BackboneLevel.COUNTY: _l("County-level backbone"),
    BackboneLevel.CITY: _l("City-level backbone"),
    BackboneLevel.PROVINCE: _l("Provincial backbone"),
    BackboneLevel.NATIONAL: _l("National backbone"),
}

EMPLOYMENT_LABELS = {
    EmploymentType.ESTABLISHED: _l("Established post (public school)"),
    EmploymentType.CONTRACT: _l("Contract teacher"),
    EmploymentType.SUBSTITUTE: _l("Substitute teacher"),
    EmploymentType.PRIVATE: _l("Private school teacher"),
}

#: Tiers of layered training (分层研修), keyed by the number stored in ``User.training_tier``.
TIER_LABELS = dict(zip(TRAINING_TIERS, (_l("Tier 1"), _l("Tier 2"), _l("Tier 3")), strict=True))

#: Training levels (national … school): the one set of words for them, on every page and in the form.
LEVEL_LABELS = dict(LEVEL_CHOICES)

AUDIT_ACTION_LABELS = {
    "auth.login": _l("Logged in"),
    "auth.logout": _l("Logged out"),
    "auth.login_failed": _l("Failed log-in"),
    "auth.login_locked": _l("Log-in refused (throttled)"),  # before 2026-12: a hard lock
    "auth.login_throttled": _l("Log-in refused (throttled)"),
    "auth.login_slowed": _l("Log-ins slowed down after wrong passwords"),
    "auth.password_changed": _l("Changed password"),
    "auth.session_revoke": _l("Logged out a session"),
    "api_token.create": _l("Created an API token"),
    "api_token.revoke": _l("Revoked an API token"),
    "org.create": _l("Created organisation"),
    "org.update": _l("Edited organisation"),
    "org.deactivate": _l("Deactivated organisation"),
    "org.activate": _l("Reactivated organisation"),
    "org.import": _l("Imported organisations"),
    "user.create": _l("Created user"),
    "user.update": _l("Edited user"),
    "user.deactivate": _l("Deactivated user"),
    "user.activate": _l("Reactivated user"),
    "user.password_reset": _l("Reset a password"),
    "user.import": _l("Imported users"),
    "demo.seed": _l("Created the demo data"),
    "role.assign": _l("Assigned role"),
    "role.update": _l("Edited role assignment"),
    "role.end": _l("Ended role assignment"),
    "rubric.version_created": _l("Created rubric version"),
    "delegation.create": _l("Created delegation"),
    "delegation.update": _l("Edited delegation"),
    "delegation.revoke": _l("Revoked delegation"),
    "definition.deploy": _l("Deployed a process"),
    "definition.approve": _l("Approved a process version"),
    "definition.refuse": _l("Refused a process version"),
    "instance.suspend": _l("Paused by an administrator"),
    "instance.resume": _l("Resumed by an administrator"),
    "instance.cancel": _l("Cancelled by an administrator"),
    "instance.start": _l("Started"),
    "instance.message": _l("Message received"),
    "instance.withdraw": _l("Withdrawn by the applicant"),
    "credit.post": _l("Credit hours posted to the ledger"),
    "credit.reverse": _l("Credit hours reversed"),
    "credit.recount": _l("Credit hours re-counted after a correction freed room under a cap"),
    "recognition.close": _l("School year closed for yearly recognition"),
    "certificate.issue": _l("Certificate of training hours issued"),
    "certificate.revoke": _l("Certificate of training hours revoked"),
    "instance.incident": _l("Problem recorded"),
    "task.claim": _l("Claimed"),
    "task.unclaim": _l("Gave back"),
    "task.complete": _l("Completed"),
    "task.delegate": _l("Handed over"),  # before 2026-12: a transfer without a reason
    "task.transfer": _l("Transferred"),
    "task.urge": _l("Urged"),
    "task.withdraw": _l("Withdrawn: the assignee left"),
    "instance.variables": _l("Process data changed"),
    "campaign.launch": _l("Campaign launched"),
    "campaign.open": _l("Campaign open: every school's process started"),
    "campaign.extend": _l("Campaign deadline extended"),
    "campaign.close": _l("Campaign closed"),
    "instance.copy": _l("Copied to others"),
    "task.comment": _l("Commented"),
    "timer.fire": _l("Reminder time reached"),
    "service.complete": _l("Automatic step done"),
    "service.attempt_failed": _l("Automatic step failed, will retry"),
    "service.retry": _l("Automatic step queued again"),
    "incident.retry": _l("Incident retried"),
    "incident.resolve": _l("Incident resolved"),
}

#: The fields of audit records worth showing, in words (see webapp/audit_words.py); the others are technical.
AUDIT_FIELD_LABELS = {
    # people
    "login": _l("Login name"),
    "display_name": _l("Full name"),
    "phone": _l("Phone"),
    "email": _l("Email"),
    "org_id": _l("Organisation"),
    "primary_subgroup_id": _l("Primary subgroup"),
    "subject": _l("Subject"),
    "title": _l("Professional title"),
    "hire_date": _l("Hire date"),
    "is_class_teacher": _l("Class teacher"),
    "backbone_level": _l("Backbone teacher level"),
    "training_tier": _l("Training tier"),
    "employment_type": _l("Employment type"),
    "active": _l("Active"),
    # organisations
    "code": _l("Code"),
    "name": _l("Name"),
    "type": _l("Type"),
    "parent_id": _l("Belongs to"),
    "stage": _l("Stage"),
    "kind": _l("Kind"),
    # roles and delegations
    "user_id": _l("Person"),
    "role": _l("Role"),
    "from_user_id": _l("Person who is away"),
    "to_user_id": _l("Substitute"),
    "assignee_id": _l("Handed over to"),
    "valid_from": _l("From"),
    "valid_to": _l("Until"),
    "reason": _l("Reason"),
    # applications and the ledger
    "category": _l("Category"),
    "item_code": _l("Training item"),
    "level": _l("Training level"),
    "organiser": _l("Organiser"),
    "start_date": _l("From"),
    "end_date": _l("Until"),
    "hours_requested": _l("Hours requested"),
    "description": _l("Description"),
    "status": _l("Status"),
    "hours": _l("Hours"),
    "credits": _l("Credits"),
    "counted_hours": _l("Counted hours"),
    "counted_credits": _l("Counted credits"),
    "earned_on": _l("Earned on"),
    "source": _l("Entry source"),
    # everything else
    "body": _l("Comment text"),
    "note": _l("Note"),
    "error": _l("Error"),
    "failures": _l("Wrong passwords in a row"),
    "attempt": _l("Attempt"),
    "orgs": _l("Organisations"),
    "users": _l("Users"),
}

#: What was being done when an incident happened (``Incident.action``).
INCIDENT_ACTION_LABELS = {
    "start": _l("Starting the process"),
    "complete": _l("Completing a task"),
    "timer": _l("Firing a timer"),
    "service": _l("Automatic step"),
    "retry": _l("Retrying"),
}

INSTANCE_STATUS_LABELS = {
    InstanceStatus.RUNNING: _l("In progress"),
    InstanceStatus.COMPLETED: _l("Finished"),
    InstanceStatus.CANCELLED: _l("Cancelled"),
    InstanceStatus.INCIDENT: _l("Stopped by a problem"),
    InstanceStatus.SUSPENDED: _l("Paused by an administrator"),
}

#: Decisions of review tasks (the ``decision`` a review form records), in words.
DECISION_LABELS = {
    "approve": _l("Approved"),
    "return": _l("Returned for revision"),
    "reject": _l("Not recognised"),
}

#: Where a ledger entry came from.
ENTRY_SOURCE_LABELS = {
    EntrySource.APPLICATION: _l("Application"),
    EntrySource.IMPORT: _l("Import"),
    EntrySource.MANUAL: _l("Recorded by an officer"),
    EntrySource.REVERSAL: _l("Reversal"),
}

TASK_STATUS_LABELS = {
    TaskStatus.OPEN: _l("To do"),
    TaskStatus.COMPLETED: _l("Completed"),
    TaskStatus.CANCELLED: _l("Cancelled"),
}


def _label(table: dict, value) -> str:
    if value is None or value == "":
        return ""
    for key, text in table.items():
        if key == value or getattr(key, "value", key) == value:
            return str(text)
    return str(value)


def init_app(app: Flask) -> None:
    app.add_template_filter(lambda v: _label(ROLE_LABELS, v), "role_label")
    app.add_template_filter(lambda v: _label(ORG_TYPE_LABELS, v), "org_type_label")
    app.add_template_filter(lambda v: _label(STAGE_LABELS, v), "stage_label")
    app.add_template_filter(lambda v: _label(BACKBONE_LABELS, v), "backbone_label")
    app.add_template_filter(lambda v: _label(EMPLOYMENT_LABELS, v), "employment_label")
    app.add_template_filter(lambda v: _label(TIER_LABELS, v), "tier_label")
    app.add_template_filter(lambda v: _label(LEVEL_LABELS, v), "level_label")
    app.add_template_filter(lambda v: _label(INSTANCE_STATUS_LABELS, v), "instance_status_label")
    app.add_template_filter(lambda v: _label(INCIDENT_ACTION_LABELS, v), "incident_action_label")
    app.add_template_filter(lambda v: _label(TASK_STATUS_LABELS, v), "task_status_label")
    app.add_template_filter(lambda v: DECISION_LABELS.get(v), "decision_label")
