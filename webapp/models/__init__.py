"""Every model, imported here so Alembic's autogenerate and ``flask db check`` see them all."""

from webapp.models.audit import AuditEvent, LoginFailure
from webapp.models.base import Base
from webapp.models.org import ALLOWED_PARENTS, Org, OrgType, SchoolStage
from webapp.models.role import ROLE_CODES, Delegation, Role, RoleAssignment
from webapp.models.user import BackboneLevel, Membership, User

__all__ = [
    "ALLOWED_PARENTS", "ROLE_CODES", "AuditEvent", "BackboneLevel", "Base", "Delegation", "LoginFailure",
    "Membership", "Org", "OrgType", "Role", "RoleAssignment", "SchoolStage", "User",
]
