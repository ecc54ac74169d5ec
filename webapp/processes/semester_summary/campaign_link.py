"""Where the semester summary meets the campaign building block (``webapp.services.campaigns``), in one place:
the campaign row of an instance, what the school's work has come to, the board's figures, a stage's deadline.
The core also runs the ``campaign.remind`` topic of the diagram and withdraws a leaver's personal summary."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from webapp.models import Campaign, CampaignSchool, CampaignSchoolStatus, ProcessInstance
from webapp.services import campaigns


def school_of_instance(instance_id: int) -> CampaignSchool | None:
    """The campaign school whose instance this is (None for an instance started outside a campaign)."""
    return campaigns.school_of_instance(instance_id)


def record(instance: ProcessInstance, status: CampaignSchoolStatus, *, facts: dict[str, Any] | None = None) -> None:
    """Put where the school stands (submitted / returned / accepted) and its figures on the campaign's board."""
    campaigns.record(instance, status, facts=facts)


def update_facts(instance_id: int, facts: dict[str, Any]) -> None:
    """Update the school's figures on the board without changing where it stands."""
    school = campaigns.school_of_instance(instance_id)
    if school is not None:
        school.facts = {**(school.facts or {}), **facts}


def deadline(campaign: Campaign, stage_key: str) -> datetime | None:
    """The stage's deadline as the campaign has it now (extensions included)."""
    return campaigns.deadline(campaign, stage_key) if stage_key in (campaign.deadlines or {}) else None
