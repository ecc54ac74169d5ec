"""The base every YanXun form extends."""

from __future__ import annotations

from flask_wtf import FlaskForm


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class BaseForm(FlaskForm):
    """Strips surrounding white space from every text input and lists errors for the form's summary."""

    class Meta:
        def bind_field(self, form, unbound_field, options):
            filters = unbound_field.kwargs.get("filters", ())
            if _strip not in filters:
                unbound_field.kwargs["filters"] = (_strip, *filters)
            return unbound_field.bind(form=form, **options)

    @property
    def error_list(self) -> list[tuple[str, str]]:
        """(label, message) pairs for every field error, in field order."""
        errors = []
        for field in self:
            for message in field.errors:
                errors.append((str(field.label.text), str(message)))
        return errors

    def add_error(self, field_name: str | None, message: object) -> None:
        """Attach a service-side error to a field (or to the form when the field is unknown)."""
        field = self._fields.get(field_name) if field_name else None
        if field is None:
            self.form_errors.append(str(message))
        else:
            field.errors = [*field.errors, str(message)]
