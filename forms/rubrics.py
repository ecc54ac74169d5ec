"""Rubric forms: a new version from an uploaded YAML file or the YAML edited in a text area."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import TextAreaField
from wtforms.validators import Length

from forms.base import BaseForm

#: A rubric's YAML is a few dozen kilobytes; this bounds what a text area or file may hold.
MAX_YAML_CHARS = 200_000


class RubricVersionForm(BaseForm):
    file = FileField(_l("YAML file"), render_kw={"accept": ".yaml,.yml,text/yaml"},
                     description=_l("Upload a file, or edit the YAML below; a file wins over the text."))
    text = TextAreaField(_l("Rubric (YAML)"), validators=[Length(max=MAX_YAML_CHARS)],
                         render_kw={"rows": 24, "spellcheck": "false", "autocapitalize": "none",
                                    "translate": "no"})
