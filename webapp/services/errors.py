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
