"""Scoring rubrics: every rubric and its versions, one version's tree, and a new version from YAML.

County and bureau officers may look (they run the evaluations that score with them); only administrators
make new versions. A version is never changed: what an evaluation scored with stays as it was.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import selectinload

from forms.rubrics import MAX_YAML_CHARS, RubricVersionForm
from webapp.admin import bp
from webapp.admin.common import record
from webapp.extensions import db
from webapp.models import Role, Rubric, RubricUse, RubricVersion
from webapp.security import require_role
from webapp.services import rubrics as rubric_service

VIEWERS = (Role.ADMIN, Role.COUNTY_OFFICER, Role.BUREAU_OFFICER)


def _uses(versions: list[RubricVersion]) -> dict[int, int]:
    if not versions:
        return {}
    rows = db.session.execute(sa.select(RubricUse.version_id, sa.func.count(RubricUse.id))
                              .where(RubricUse.version_id.in_([v.id for v in versions]))
                              .group_by(RubricUse.version_id))
    return dict(rows.all())


@bp.route("/rubrics")
@require_role(*VIEWERS)
def rubrics():
    listed = list(db.session.scalars(sa.select(Rubric).options(
        selectinload(Rubric.versions).selectinload(RubricVersion.created_by)).order_by(Rubric.code)))
    return render_template("admin/rubrics.html", rubrics=listed,
                           uses=_uses([v for r in listed for v in r.versions]))


@bp.route("/rubrics/<code>/<int:number>")
@require_role(*VIEWERS)
def rubric_version(code: str, number: int):
    version = db.session.scalar(sa.select(RubricVersion).join(Rubric).where(
        Rubric.code == code, RubricVersion.version == number))
    if version is None:
        abort(404)
    return render_template("admin/rubric_version.html", version=version, uses=rubric_service.in_use(version),
                           latest=rubric_service.latest(code))


def _submitted_text(form: RubricVersionForm) -> str | None:
    upload = form.file.data
    if upload and getattr(upload, "filename", ""):
        raw = upload.read(MAX_YAML_CHARS * 4 + 1)
        if len(raw) > MAX_YAML_CHARS * 4:
            form.file.errors.append(_("The file is too large for a rubric."))
            return None
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            form.file.errors.append(_("The file is not UTF-8 text."))
            return None
    if not form.text.data:
        form.text.errors.append(_("Upload a YAML file or enter the rubric's YAML."))
        return None
    return form.text.data


@bp.route("/rubrics/new", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def rubric_new():
    form = RubricVersionForm()
    base = None
    if request.method == "GET" and request.args.get("from", type=int):
        base = db.session.get(RubricVersion, request.args.get("from", type=int))
        if base is None:
            abort(404)
        form.text.data = base.source_yaml
    problems: list[str] = []
    if form.validate_on_submit() and (text := _submitted_text(form)) is not None:
        form.text.data = text
        try:
            version, created = rubric_service.load_text(text, current_user._get_current_object())
        except rubric_service.RubricInvalid as error:
            db.session.rollback()
            problems = error.problems
        else:
            if created:
                record("rubric.version_created", version,
                       after={"rubric": version.rubric.code, "version": version.version,
                              "content_hash": version.content_hash})
                db.session.commit()
                flash(_("Version %(n)d of %(title)s is saved.", n=version.version, title=version.title), "success")
            else:
                flash(_("Nothing changed: this is the content of version %(n)d.", n=version.version), "info")
            return redirect(url_for("admin.rubric_version", code=version.rubric.code, number=version.version))
    return render_template("admin/rubric_form.html", form=form, problems=problems, base=base)
