"""Semester summary forms (学期总结与自查): the teacher's personal summary, the subgroup summary, the school's
compilation and self-check, the principal's signature and the county's review.

The forms render the fields and give the first check; the process's services validate again and are
authoritative. What a form needs (accepted file types, existing files) comes in through the constructor.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import (
    IntegerField,
    MultipleFileField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from forms import register
from forms.base import BaseForm

BODY_MAX = 5000
COMMENT_MAX = 2000
#: Outcome files of a personal summary, [003] 第五步 "完成案例分析、论文、研修日志、个人教学风格总结等成果".
ATTACHMENT_KINDS = (("case_analysis", _l("Case analysis")), ("paper", _l("Paper")), ("log", _l("Training log")),
                    ("style_summary", _l("Personal teaching style summary")))
#: The school's duties the self-check evidences ([000] 第23条).
SELF_CHECK_DUTIES = (("planning", _l("Planning and approval of the training plan")),
                     ("credit_review", _l("Review and recognition of credits")),
                     ("evaluation", _l("Evaluation, summary and exchange of outcomes")),
                     ("archiving", _l("Filing and archiving of the records")))
SELF_CHECK_STATUSES = (("done", _l("Carried out")), ("partial", _l("Partly carried out")),
                       ("not_done", _l("Not carried out")))


def _status_choices() -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in SELF_CHECK_STATUSES]


class _CheckboxList(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _body(label: Any, required: Any) -> TextAreaField:
    return TextAreaField(label, validators=[InputRequired(required), Length(
        max=BODY_MAX, message=_l("At most %(n)d characters.", n=BODY_MAX))], render_kw={"rows": 8})


@register("summary.personal")
class PersonalSummaryForm(BaseForm):
    body = TextAreaField(_l("Personal summary"), validators=[Length(
        max=BODY_MAX, message=_l("At most %(n)d characters.", n=BODY_MAX))], render_kw={"rows": 8})
    case_analysis = MultipleFileField(_l("Case analysis"))
    paper = MultipleFileField(_l("Paper"))
    log = MultipleFileField(_l("Training log"))
    style_summary = MultipleFileField(_l("Personal teaching style summary"))
    remove_attachments = _CheckboxList(_l("Remove these files"), coerce=int, validators=[Optional()])
    action = StringField(default="submit")

    def __init__(self, *args: Any, accept: Iterable[str] = (), existing: Iterable[tuple[int, str]] = (),
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        extensions = ",".join(f".{ext}" for ext in accept)
        for kind, _label in ATTACHMENT_KINDS:
            self[kind].render_kw = {"accept": extensions, "multiple": True}
        self.remove_attachments.choices = [SelectChoice(v, n) for v, n in existing]

    def validate_body(self, field: TextAreaField) -> None:
        if self.action.data != "save" and not (field.data or "").strip():  # a draft may be empty
            raise ValidationError(_l("Write your personal summary."))


@register("summary.subgroup")
class SubgroupSummaryForm(BaseForm):
    body = _body(_l("Subgroup summary"), _l("Write the subgroup's summary."))


@register("summary.compile")
class SchoolCompileForm(BaseForm):
    planning = SelectField(SELF_CHECK_DUTIES[0][1], choices=_status_choices(),
                           validators=[InputRequired(_l("Choose how far this duty was carried out."))])
    planning_note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])
    credit_review = SelectField(SELF_CHECK_DUTIES[1][1], choices=_status_choices(),
                                validators=[InputRequired(_l("Choose how far this duty was carried out."))])
    credit_review_note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])
    evaluation = SelectField(SELF_CHECK_DUTIES[2][1], choices=_status_choices(),
                             validators=[InputRequired(_l("Choose how far this duty was carried out."))])
    evaluation_note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])
    archiving = SelectField(SELF_CHECK_DUTIES[3][1], choices=_status_choices(),
                            validators=[InputRequired(_l("Choose how far this duty was carried out."))])
    archiving_note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])
    newsletters = IntegerField(_l("Training newsletters issued"), validators=[
        InputRequired(_l("Enter the number of newsletters, 0 or more.")),
        NumberRange(min=0, max=1000, message=_l("Enter the number of newsletters, 0 or more."))],
        render_kw={"min": "0", "inputmode": "numeric"},
        description=_l("At least 2 a semester."))
    body = _body(_l("School summary"), _l("Write the school's summary."))

    def self_check(self) -> dict[str, dict[str, str]]:
        return {code: {"status": self[code].data, "note": self[f"{code}_note"].data or ""}
                for code, _label in SELF_CHECK_DUTIES}


class _DecisionForm(BaseForm):
    comment = TextAreaField(_l("Comment"), validators=[Length(max=COMMENT_MAX)], render_kw={"rows": 3},
                            description=_l("Required when you return it."))
    returning = "return"

    def validate_comment(self, field: TextAreaField) -> None:
        if self.decision.data == self.returning and not (field.data or "").strip():
            raise ValidationError(_l("Give the reason for returning it."))


@register("summary.sign")
class PrincipalSignForm(_DecisionForm):
    decision = RadioField(_l("Decision"), choices=[SelectChoice("sign", _l("Sign")),
                                                   SelectChoice("return", _l("Return to the school officer"))],
                          validators=[InputRequired(_l("Choose sign or return."))])


@register("summary.county_review")
class CountyReviewForm(_DecisionForm):
    decision = RadioField(_l("Decision"), choices=[SelectChoice("accept", _l("Accept")),
                                                   SelectChoice("return", _l("Return to the school"))],
                          validators=[InputRequired(_l("Choose accept or return."))])
