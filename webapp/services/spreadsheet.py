"""Cells of the CSV files YanXun hands out, safe to open in a spreadsheet."""

from __future__ import annotations

#: A cell starting with one of these is run as a formula by Excel and WPS.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """Text for a spreadsheet cell; text that a spreadsheet would run as a formula is quoted."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text
