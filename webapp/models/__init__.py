"""Every model of the generic layers, imported here so Alembic's autogenerate and ``flask db check`` see them all;
each process package's models are imported when the app registers the package (``webapp.processes``)."""

from webapp.models.audit import AuditEvent, AuditTrailIsAppendOnly
from webapp.models.base import Base
from webapp.models.campaign import Campaign, CampaignSchool, CampaignSchoolStatus, CampaignStatus
from webapp.models.certificate import HOURS, Certificate, CertificateIsAppendOnly, CertificateRevocation
from webapp.models.digest import TaskDigest
from webapp.models.imports import ImportJob, ImportJobStatus
from webapp.models.ledger import CreditEntry, EntrySource, LedgerIsAppendOnly, RuleSet
from webapp.models.login import LoginFailure, LoginThrottle, UserSession
from webapp.models.notification import Notification
from webapp.models.org import ALLOWED_PARENTS, Org, OrgType, SchoolStage
from webapp.models.recognition import RecognitionBatch, RecognitionBatchIsFinal
from webapp.models.role import ROLE_CODES, Delegation, Role, RoleAssignment
from webapp.models.rubric import Rubric, RubricUse, RubricVersion, RubricVersionIsImmutable
from webapp.models.standing import CreditStanding, SchoolStanding, StandingStatus
from webapp.models.user import TRAINING_TIERS, BackboneLevel, EmploymentType, Membership, User
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
    "ALLOWED_PARENTS", "HOURS", "ROLE_CODES", "TRAINING_TIERS", "ApiToken", "AuditEvent", "AuditTrailIsAppendOnly",
    "BackboneLevel", "Base",
    "Campaign", "CampaignSchool", "CampaignSchoolStatus", "CampaignStatus",
    "Certificate", "CertificateIsAppendOnly", "CertificateRevocation", "CreditEntry",
    "CreditStanding", "DefinitionState", "Delegation", "EmploymentType", "EntrySource", "HumanTask", "ImportJob",
    "ImportJobStatus", "Incident", "InstanceStatus", "InstanceWatcher", "LedgerIsAppendOnly", "LoginFailure",
    "LoginThrottle", "Membership", "Notification", "Org", "OrgType", "ProcessDefinition", "ProcessInstance",
    "RecognitionBatch", "RecognitionBatchIsFinal", "Role", "RoleAssignment", "Rubric", "RubricUse",
    "RubricVersion", "RubricVersionIsImmutable", "RuleSet", "SchoolStage",
    "SchoolStanding", "ServiceJob", "ServiceJobStatus", "StandingStatus", "TaskCandidate", "TaskComment",
    "TaskDigest", "TaskStatus", "User", "UserSession",
]
