"""WTForms definitions, registered by ``formKey`` so BPMN user tasks can name them.

A leaf package: it never imports ``webapp``; what a form needs (choices, context) comes in through
its constructor.
"""

from __future__ import annotations

from collections.abc import Callable

from forms.base import BaseForm

_REGISTRY: dict[str, type[BaseForm]] = {}


def register(form_key: str) -> Callable[[type[BaseForm]], type[BaseForm]]:
    """Class decorator: make the form available to user tasks with ``camunda:formKey="<form_key>"``."""

    def decorator(cls: type[BaseForm]) -> type[BaseForm]:
        if form_key in _REGISTRY and _REGISTRY[form_key] is not cls:
            raise ValueError(f"form key {form_key!r} is registered twice")
        _REGISTRY[form_key] = cls
        return cls

    return decorator


def get_form_class(form_key: str) -> type[BaseForm]:
    return _REGISTRY[form_key]


def form_keys() -> frozenset[str]:
    return frozenset(_REGISTRY)
