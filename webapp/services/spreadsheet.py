"""Cells of the CSV and Excel files YanXun hands out, safe to open in a spreadsheet."""

from __future__ import annotations

import io
from dataclasses import dataclass

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

#: A cell starting with one of these is run as a formula by Excel and WPS.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Number formats of the numeric columns of an .xlsx file.
INTEGER, AMOUNT, PERCENT = "#,##0", "#,##0.0#", "0.0%"


def safe_cell(value: object) -> str:
    """Text for a spreadsheet cell; text that a spreadsheet would run as a formula is quoted."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


@dataclass(frozen=True)
class Column:
    title: str
    #: In characters (a Chinese character counts about two).
    width: float = 12
    #: A number format (:data:`INTEGER`, :data:`AMOUNT`, :data:`PERCENT`) for a numeric column; None for text.
    number_format: str | None = None


class Xlsx:
    """An .xlsx workbook written row by row (openpyxl's write-only mode: memory stays flat for 12,000 rows).

    Every sheet has a bold header row that stays in view (frozen), set column widths, and number formats on its
    numeric columns. Text is always written as a text cell, never as a formula, whatever it starts with.
    """

    def __init__(self) -> None:
        self.book = Workbook(write_only=True)
        self._header_font = Font(bold=True)
        self._header_fill = PatternFill("solid", fgColor="DDE7F3")

    def sheet(self, title: str, columns: list[Column], *, heading: str | None = None) -> Sheet:
        """A sheet with ``columns``; ``heading`` (e.g. what the sheet shows and when it was taken) is a bold line
        above the header row."""
        worksheet = self.book.create_sheet(title=title[:31])
        for index, column in enumerate(columns, start=1):
            worksheet.column_dimensions[get_column_letter(index)].width = column.width
        worksheet.freeze_panes = "A3" if heading else "A2"
        sheet = Sheet(worksheet, columns)
        if heading:
            cell = sheet.text(heading)
            cell.font = self._header_font
            worksheet.append([cell])
        header = []
        for column in columns:
            cell = sheet.text(column.title)
            cell.font, cell.fill = self._header_font, self._header_fill
            header.append(cell)
        worksheet.append(header)
        return sheet

    def save(self) -> bytes:
        out = io.BytesIO()
        self.book.save(out)
        return out.getvalue()


class Sheet:
    def __init__(self, worksheet, columns: list[Column]) -> None:
        self.worksheet = worksheet
        self.columns = columns

    def text(self, value: object) -> WriteOnlyCell:
        """A text cell: a string type set explicitly, so that "=HYPERLINK(...)" stays text."""
        cell = WriteOnlyCell(self.worksheet, value=None)
        cell.value = ILLEGAL_CHARACTERS_RE.sub("", "" if value is None else str(value))
        cell.data_type = "s"
        return cell

    def row(self, values: list[object]) -> None:
        cells = []
        for column, value in zip(self.columns, values, strict=True):
            if column.number_format is not None and isinstance(value, int | float) and not isinstance(value, bool):
                cell = WriteOnlyCell(self.worksheet, value=value)
                cell.number_format = column.number_format
            elif value is None:
                cell = WriteOnlyCell(self.worksheet, value=None)
            else:
                cell = self.text(value)
            cells.append(cell)
        self.worksheet.append(cells)
