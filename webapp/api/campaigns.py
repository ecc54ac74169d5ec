"""Campaigns (研修活动): list those I may see, read one's board, launch one, extend a stage's deadline, close one."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app, jsonify, request, url_for
from flask_babel import gettext as _

from webapp import background
from webapp.api import bp
from webapp.api.common import api_user, invalid, json_body, page_args, paginated
from webapp.api.serializers import when
from webapp.extensions import db
from webapp.models import Campaign, Org
from webapp.services import campaigns
from webapp.services.errors import NotFound

BOARD_PER_PAGE = 50


def campaign_out(campaign: Campaign) -> dict[str, Any]:
    return {"id": campaign.id, "process_key": campaign.process_key, "version": campaign.definition.version,
            "title": campaign.title, "period": campaign.period, "period_start": when(campaign.period_start),
            "period_end": when(campaign.period_end), "org": {"id": campaign.org.id, "code": campaign.org.code,
                                                             "name": campaign.org.name},
            "status": campaign.status.value, "deadlines": dict(campaign.deadlines or {}),
            "remind_days": campaign.remind_days, "note": campaign.note, "launched_at": when(campaign.launched_at),
            "progress": campaigns.progress(campaign).as_dict(), "closed_at": when(campaign.closed_at),
            "close_reason": campaign.close_reason}


def row_out(row: campaigns.BoardRow, fact_keys: list[str]) -> dict[str, Any]:
    return {"school": {"id": row.school_id, "name": row.school}, "stage": row.stage, "stage_label": row.stage_label,
            "status": row.status.value, "status_label": row.status_label, "late": row.late,
            "deadline": when(row.deadline), "returned_count": row.returned_count,
            "submitted_at": when(row.submitted_at), "accepted_at": when(row.accepted_at),
            "facts": dict(zip(fact_keys, row.facts, strict=True)), "instance_id": row.instance_id, "error": row.error}


def _campaign(campaign_id: int) -> Campaign:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or not campaigns.may_view(api_user(), campaign):
        raise NotFound(_("This campaign does not exist or is not visible to you."))
    return campaign


def _moment(value: Any, field: str, errors: dict[str, list[str]]) -> datetime | None:
    try:
        return campaigns.local(datetime.fromisoformat(str(value)))
    except (TypeError, ValueError):
        errors[field] = [_("Give a date and time such as 2026-10-31T18:00:00+08:00.")]
        return None


def _day(value: Any, field: str, errors: dict[str, list[str]]) -> date | None:
    try:
        return date.fromisoformat(str(value))
    except (TypeError, ValueError):
        errors[field] = [_("Enter a date such as 2026-09-01.")]
        return None


def _queue(campaign_id: int, mode: str) -> None:
    background.enqueue(current_app, background.LAUNCH_CAMPAIGN, campaign_id=campaign_id, mode=mode)


@bp.get("/campaigns")
def list_campaigns():
    """The campaigns I may see, newest first."""
    errors: dict[str, list[str]] = {}
    page, per_page = page_args(errors)
    if errors:
        raise invalid(errors)
    return jsonify(paginated(campaigns.visible(api_user()), page, per_page, campaign_out))


@bp.get("/campaigns/<int:campaign_id>")
def get_campaign(campaign_id: int):
    """The campaign with one page of its board (``stage``, ``state``, ``q`` filter it) and the counts."""
    campaign = _campaign(campaign_id)
    errors: dict[str, list[str]] = {}
    page, per_page = page_args(errors)
    if errors:
        raise invalid(errors)
    view = campaigns.board(campaign, stage=request.args.get("stage") or None,
                           state=request.args.get("state") or None, text=request.args.get("q") or None,
                           page=page, per_page=per_page)
    keys = [key for key, _label in view.fact_columns]
    return jsonify({**campaign_out(campaign), "board": {
        "items": [row_out(row, keys) for row in view.rows], "total": view.total, "page": view.page,
        "per_page": view.per_page, "pages": view.pages,
        "stages": [{"key": key, "label": label, "count": n} for key, label, n in view.stages],
        "states": view.states}})


@bp.post("/campaigns")
def launch_campaign():
    user = api_user()
    body = json_body()
    errors: dict[str, list[str]] = {}
    org = db.session.get(Org, body.get("org_id")) if isinstance(body.get("org_id"), int) else None
    if org is None:
        errors["org_id"] = [_("Give the id of the organisation that launches the campaign.")]
    ids = body.get("school_ids")
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        errors["school_ids"] = [_("Give the ids of the schools as a list of numbers.")]
        ids = []
    raw = body.get("deadlines")
    if not isinstance(raw, dict):
        errors["deadlines"] = [_("Give the deadlines as an object of stage key to date and time.")]
        raw = {}
    deadlines = {key: at for key, value in raw.items() if (at := _moment(value, f"deadlines.{key}", errors))}
    period_start = _day(body.get("period_start"), "period_start", errors)
    period_end = _day(body.get("period_end"), "period_end", errors)
    remind_days = body.get("remind_days", 3)
    if not isinstance(remind_days, int) or isinstance(remind_days, bool):
        errors["remind_days"] = [_("Give a whole number of 1 or more.")]
    if errors:
        raise invalid(errors)
    schools = list(db.session.scalars(sa.select(Org).where(Org.id.in_(ids)))) if ids else []
    if len(schools) != len(set(ids)):
        raise invalid({"school_ids": [_("Some of these organisations do not exist.")]})
    campaign = campaigns.launch(str(body.get("process_key") or ""), title=str(body.get("title") or ""),
                                period=str(body.get("period") or ""), period_start=period_start,
                                period_end=period_end, org=org, schools=schools, deadlines=deadlines,
                                remind_days=remind_days, note=body.get("note"), actor=user)
    campaign_id = campaign.id
    db.session.commit()
    _queue(campaign_id, "start")
    campaign = db.session.get(Campaign, campaign_id)
    response = jsonify(campaign_out(campaign))
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_campaign", campaign_id=campaign_id)
    return response


@bp.post("/campaigns/<int:campaign_id>/extend")
def extend_campaign(campaign_id: int):
    campaign = _campaign(campaign_id)
    body = json_body()
    errors: dict[str, list[str]] = {}
    at = _moment(body.get("deadline"), "deadline", errors)
    if errors:
        raise invalid(errors)
    done = campaigns.extend(campaign, str(body.get("stage") or ""), at, api_user())
    db.session.commit()
    if not done:
        _queue(campaign_id, "extend")
    return jsonify(campaign_out(db.session.get(Campaign, campaign_id)))


@bp.post("/campaigns/<int:campaign_id>/close")
def close_campaign(campaign_id: int):
    campaign = _campaign(campaign_id)
    body = json_body()
    done = campaigns.close(campaign, api_user(), str(body.get("reason") or ""))
    db.session.commit()
    if not done:
        _queue(campaign_id, "close")
    return jsonify(campaign_out(db.session.get(Campaign, campaign_id)))
