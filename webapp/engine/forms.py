"""Camunda "Generated Task Forms" (``camunda:formData``): field descriptions and server-side validation.

SpiffWorkflow parses the fields but never applies defaults or checks constraints; this module does
both, following Camunda 7: types ``string``, ``long``, ``boolean``, ``date`` (ISO ``YYYY-MM-DD``,
stored as that string), ``enum``; constraints ``required``, ``readonly``, ``min``/``max`` (long, date),
``minlength``/``maxlength`` (string). ``defaultValue`` may be ``${...}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from .errors import FieldError, FormInvalid
from .expressions import is_juel

FIELD_TYPES = frozenset({"string", "long", "boolean", "date", "enum"})
CONSTRAINTS = frozenset({"required", "readonly", "min", "max", "minlength", "maxlength"})
RESERVED = frozenset({"initiator"})
_INTEGER = re.compile(r"^[+-]?\d+$")
_MISSING = object()


@dataclass(frozen=True)
class EnumOption:
    id: str
    name: str


@dataclass(frozen=True)
class FormFieldInfo:
    """One generated-form field, ready for rendering.

    ``default`` is the evaluated, typed ``defaultValue``; ``value`` is what the form should show: the
    variable's current value if it has one, else the default.
    """

    id: str
    label: str | None
    type: str
    default: Any
    value: Any
    required: bool
    readonly: bool
    constraints: dict[str, str | None] = field(default_factory=dict)
    options: list[EnumOption] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)


def field_infos(form: Any, data: Mapping[str, Any], evaluate: Callable[[str], Any]) -> list[FormFieldInfo]:
    """Describe the fields of a Camunda ``Form``; ``evaluate`` runs ``${...}`` defaults in the sandbox."""
    infos = []
    for spec_field in getattr(form, "fields", []) or []:
        constraints = {v.name: v.config for v in spec_field.validation}
        default = _default(spec_field, evaluate)
        infos.append(FormFieldInfo(
            id=spec_field.id,
            label=spec_field.label,
            type=spec_field.type,
            default=default,
            value=data.get(spec_field.id, default),
            required="required" in constraints,
            readonly="readonly" in constraints,
            constraints=constraints,
            options=[EnumOption(o.id, o.name) for o in getattr(spec_field, "options", [])],
            properties={p.id: p.value for p in spec_field.properties},
        ))
    return infos


def _default(spec_field: Any, evaluate: Callable[[str], Any]) -> Any:
    raw = spec_field.default_value
    if raw is None or raw == "":
        return None
    value = evaluate(raw) if is_juel(raw) else raw
    try:
        return coerce(spec_field.type, value, [o.id for o in getattr(spec_field, "options", [])])
    except ValueError:
        return value


def coerce(field_type: str, value: Any, options: list[str] | None = None) -> Any:
    """Convert a submitted value to the field type; ``ValueError`` says what was expected."""
    if field_type == "long":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _INTEGER.match(value.strip()):
            return int(value.strip())
        raise ValueError("a whole number")
    if field_type == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ValueError("true or false")
    if field_type == "date":
        if isinstance(value, datetime):
            raise ValueError("a date (YYYY-MM-DD)")
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip()).isoformat()
            except ValueError:
                pass
        raise ValueError("a date (YYYY-MM-DD)")
    if field_type == "enum":
        if isinstance(value, str) and value in (options or []):
            return value
        raise ValueError("one of " + ", ".join(options or []))
    if isinstance(value, str):
        return value
    raise ValueError("text")


def validate_form(form: Any, submitted: Mapping[str, Any], current: Mapping[str, Any],
                  evaluate: Callable[[str], Any]) -> dict[str, Any]:
    """Check ``submitted`` against the task's form and return the values to store.

    ``current`` is the task data (read-only fields keep it; missing fields fall back to it, then to the
    default). With form fields, unknown keys are refused, so a client cannot set other variables; without
    them (an application form behind ``formKey``) the caller has validated the data. ``initiator`` is never
    accepted unless the form declares it. Raises
    :class:`FormInvalid` with every problem of every field.
    """
    fields = list(getattr(form, "fields", []) or [])
    known = {f.id for f in fields}
    errors: dict[str, list[FieldError]] = {}
    for key in submitted:
        if key in RESERVED and key not in known:
            errors.setdefault(key, []).append(FieldError("reserved", f"{key!r} is set by the engine"))
        elif fields and key not in known:
            errors.setdefault(key, []).append(FieldError("unknown_field", f"{key!r} is not a field of this form"))
    if not fields:
        if errors:
            raise FormInvalid(errors)
        return dict(submitted)
    cleaned: dict[str, Any] = {}
    for spec_field in fields:
        problems = _check_field(spec_field, submitted, current, evaluate, cleaned)
        if problems:
            errors[spec_field.id] = problems
    if errors:
        raise FormInvalid(errors)
    return cleaned


def _check_field(spec_field: Any, submitted: Mapping[str, Any], current: Mapping[str, Any],
                 evaluate: Callable[[str], Any], cleaned: dict[str, Any]) -> list[FieldError]:
    fid, label = spec_field.id, spec_field.label or spec_field.id
    rules = {v.name: v.config for v in spec_field.validation}
    options = [o.id for o in getattr(spec_field, "options", [])]
    value = submitted.get(fid, _MISSING)
    if "readonly" in rules:
        if value is not _MISSING and value != current.get(fid, _MISSING):
            return [FieldError("readonly", f"{label} is read-only")]
        value = _MISSING
    if value is _MISSING:
        value = current.get(fid, _MISSING)
        if value is _MISSING:
            value = _default(spec_field, evaluate) if spec_field.default_value not in (None, "") else None
            if value is not None:
                cleaned[fid] = value
        return _check_present(label, rules, value)
    if value is None or value == "":
        cleaned[fid] = None
        return _check_present(label, rules, None)
    try:
        value = coerce(spec_field.type, value, options)
    except ValueError as exc:
        return [FieldError("type", f"{label} must be {exc}", expected=str(exc))]
    cleaned[fid] = value
    return _check_rules(spec_field.type, label, rules, value)


def _check_present(label: str, rules: Mapping[str, Any], value: Any) -> list[FieldError]:
    if "required" in rules and (value is None or value == ""):
        return [FieldError("required", f"{label} is required")]
    return []


def _check_rules(field_type: str, label: str, rules: Mapping[str, Any], value: Any) -> list[FieldError]:
    problems = []
    for name in ("min", "max"):
        if rules.get(name) is None or field_type not in ("long", "date"):
            continue
        bound = int(rules[name]) if field_type == "long" else date.fromisoformat(rules[name]).isoformat()
        if (name == "min" and value < bound) or (name == "max" and value > bound):
            word = "at least" if name == "min" else "at most"
            problems.append(FieldError(name, f"{label} must be {word} {bound}", limit=bound))
    if isinstance(value, str):
        for name in ("minlength", "maxlength"):
            if rules.get(name) is None:
                continue
            bound = int(rules[name])
            if (name == "minlength" and len(value) < bound) or (name == "maxlength" and len(value) > bound):
                word = "at least" if name == "minlength" else "at most"
                problems.append(FieldError(name, f"{label} must have {word} {bound} characters", limit=bound))
    return problems
