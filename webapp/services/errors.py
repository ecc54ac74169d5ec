"""Errors a service raises for the caller to show; messages are lazy-translated strings."""

from __future__ import annotations


class ServiceError(Exception):
    """A request that cannot be carried out as asked; ``str(error)`` is fit to show the user."""

    def __init__(self, message: object, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return str(self.message)


class NotAllowed(ServiceError):
    """The user may not do this (HTTP 403)."""


class Conflict(ServiceError):
    """The thing changed under the user: already completed, claimed by someone else... (HTTP 409)."""


class NotFound(ServiceError):
    """No such object, or not one the user may know about (HTTP 404)."""


class FormRejected(ServiceError):
    """Submitted data failed validation; ``errors`` maps field ids to messages (HTTP 422)."""

    def __init__(self, message: object, errors: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.errors = errors
