"""WTForms built at run time from a user task's generated form fields (``camunda:formData``).

The engine validates the submitted data authoritatively; this form renders the fields with matching
HTML constraints and converts the browser's strings to the field types.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import DateField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional

from forms.base import BaseForm

#: Strings longer than this get a text area instead of a one-line input.
TEXTAREA_FROM = 200


@dataclass(frozen=True)
class FieldSpec:
    """What the form needs to know of one field (a plain copy of the engine's description)."""

    id: str
    label: str
    type: str
    value: Any = None
    required: bool = False
    readonly: bool = False
    constraints: dict[str, str | None] = field(default_factory=dict)
    options: list[tuple[str, str]] = field(default_factory=list)


class GeneratedForm(BaseForm):
    field_specs: list[FieldSpec]

    def engine_data(self) -> dict[str, Any]:
        """The submitted values, typed, without read-only fields and without empty inputs."""
        data: dict[str, Any] = {}
        for spec in self.field_specs:
            if spec.readonly:
                continue
            value = self[spec.id].data
            if value is None or value == "":
                continue
            if spec.type == "boolean":
                value = value == "true"
            elif spec.type == "date" and isinstance(value, date):
                value = value.isoformat()
            data[spec.id] = value
        return data


def _render_kw(spec: FieldSpec) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    if spec.required:
        kw["required"] = True
    if spec.readonly:
        kw["readonly"] = True
        kw["disabled"] = True
    for name, html in (("min", "min"), ("max", "max"), ("minlength", "minlength"), ("maxlength", "maxlength")):
        if spec.constraints.get(name) is not None:
            kw[html] = spec.constraints[name]
    return kw


def _field(spec: FieldSpec):
    label = spec.label or spec.id
    kw = {"render_kw": _render_kw(spec), "validators": [Optional()]}
    if spec.type == "long":
        return IntegerField(label, **kw)
    if spec.type == "date":
        return DateField(label, **kw)
    if spec.type == "boolean":
        return RadioField(label, choices=[SelectChoice("true", _l("Yes")), SelectChoice("false", _l("No"))], **kw)
    if spec.type == "enum":
        choices = [SelectChoice("", _l("— choose —")), *(SelectChoice(value, name) for value, name in spec.options)]
        return SelectField(label, choices=choices, **kw)
    maxlength = spec.constraints.get("maxlength")
    if maxlength is not None and maxlength.isdigit() and int(maxlength) <= TEXTAREA_FROM:
        return StringField(label, **kw)
    return TextAreaField(label, **kw)


def _initial(spec: FieldSpec) -> Any:
    if spec.value is None:
        return None
    if spec.type == "boolean":
        return "true" if spec.value else "false"
    if spec.type == "date":
        try:
            return date.fromisoformat(str(spec.value))
        except ValueError:
            return None
    return spec.value


def build_form(specs: Iterable[FieldSpec], formdata: Any = None) -> GeneratedForm:
    """A form for ``specs``; pass ``request.form`` on POST, None to show the current values."""
    specs = list(specs)
    attributes: dict[str, Any] = {spec.id: _field(spec) for spec in specs}
    form_class = type("TaskForm", (GeneratedForm,), attributes)
    initial = {spec.id: _initial(spec) for spec in specs}
    form = form_class(formdata=formdata, data=initial)
    form.field_specs = specs
    return form
