"""Every model of the generic layers, imported here so Alembic's autogenerate and ``flask db check`` see them all;
each process package's models are imported when the app registers the package (``webapp.processes``)."""

from webapp.models.audit import AuditEvent, AuditTrailIsAppendOnly
from webapp.models.base import Base
from webapp.models.digest import TaskDigest
from webapp.models.imports import ImportJob, ImportJobStatus
from webapp.models.ledger import CreditEntry, EntrySource, LedgerIsAppendOnly, RuleSet
from webapp.models.login import LoginFailure, LoginThrottle, UserSession
from webapp.models.notification import Notification
from webapp.models.org import ALLOWED_PARENTS, Org, OrgType, SchoolStage
from webapp.models.role import ROLE_CODES, Delegation, Role, RoleAssignment
from webapp.models.standing import CreditStanding, SchoolStanding, StandingStatus
from webapp.models.user import BackboneLevel, Membership, User
from webapp.models.workflow import (
    ApiToken,
    DefinitionState,
    HumanTask,
    Incident,
    InstanceStatus,
    InstanceWatcher,
    ProcessDefinition,
    ProcessInstance,
    ServiceJob,
    ServiceJobStatus,
    TaskCandidate,
    TaskComment,
    TaskStatus,
)

__all__ = [
    "ALLOWED_PARENTS", "ROLE_CODES", "ApiToken", "AuditEvent", "AuditTrailIsAppendOnly", "BackboneLevel", "Base",
    "CreditEntry", "CreditStanding", "DefinitionState", "Delegation", "EntrySource", "HumanTask", "ImportJob",
    "ImportJobStatus",
    "Incident", "InstanceStatus", "InstanceWatcher", "LedgerIsAppendOnly", "LoginFailure", "LoginThrottle",
    "Membership", "Notification",
    "Org", "OrgType", "ProcessDefinition", "ProcessInstance", "Role", "RoleAssignment", "RuleSet", "SchoolStage",
    "SchoolStanding",
    "ServiceJob", "ServiceJobStatus", "StandingStatus", "TaskCandidate", "TaskComment", "TaskDigest", "TaskStatus",
    "User", "UserSession",
]
