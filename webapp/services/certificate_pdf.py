"""A certificate as an A4 PDF: title, teacher, period, hours and credits per category, requirement status, issuer,
date, and the verification code, address and QR code. The NotoSansSC font (npm, copied by ``make assets``) is
embedded, subset to the characters used, so the file stays small."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import segno
from flask import current_app
from flask_babel import format_date
from flask_babel import gettext as _
from fpdf import FPDF
from fpdf.fonts import FontFace

from webapp.services.errors import ServiceError

FONT = "NotoSansSC"
FONT_FILES = {"": "NotoSansSC_400Regular.ttf", "B": "NotoSansSC_700Bold.ttf"}
#: Colours: the frame and the title in a seal red, the rest black and greys.
RED, GREY, LIGHT = (158, 27, 27), (90, 90, 90), (242, 242, 242)
MARGIN, WIDTH = 22.0, 210.0 - 2 * 22.0


def _font_dir() -> Path:
    return Path(current_app.static_folder or "") / "vendor" / "fonts"


def _amount(value: float | None) -> str:
    return "" if value is None else f"{round(float(value), 2):g}"


def _unit(measure: str) -> str:
    return _("hours") if measure == "hours" else _("credits")


def _minimum(line: dict[str, Any]) -> str:
    if line["minimum"] is None:
        return "—"
    quantity = {"n": _amount(line["minimum"]), "unit": _unit(line["measure"])}
    if line["exclusive"] and not line["minimum"]:  # "every year must have some": never "more than 0"
        return _("some %(unit)s, however few", unit=_unit(line["measure"]))
    if line["exclusive"]:
        return _("more than %(n)s %(unit)s", **quantity)
    return _("at least %(n)s %(unit)s", **quantity)


def _status(line: dict[str, Any]) -> str:
    return {"met": _("Met"), "not_met": _("Not met")}.get(line["status"], "—")


def _day(iso: str) -> str:
    return format_date(date.fromisoformat(iso), "long")


class _Certificate(FPDF):
    def __init__(self) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        folder = _font_dir()
        for style, name in FONT_FILES.items():
            if not (folder / name).is_file():
                raise ServiceError(f"The certificate font {folder / name} is missing; run `make assets`.")
            self.add_font(FONT, style, str(folder / name))
        self.set_margins(MARGIN, 20, MARGIN)
        self.set_auto_page_break(auto=False)

    def draw_frame(self) -> None:
        self.set_draw_color(*RED)
        self.set_line_width(1.2)
        self.rect(9, 9, 192, 279)
        self.set_line_width(0.3)
        self.rect(11.5, 11.5, 187, 274)

    def use_font(self, size: float, style: str = "", colour: tuple[int, int, int] = (0, 0, 0)) -> None:
        self.set_font(FONT, style, size)
        self.set_text_color(*colour)

    def draw_qr(self, url: str, x: float, y: float, size: float) -> None:
        """The QR code of ``url`` drawn as vector squares (one rectangle per run of dark modules)."""
        matrix = [list(row) for row in segno.make(url, error="m").matrix]
        module = size / len(matrix)
        self.set_fill_color(0, 0, 0)
        for r, row in enumerate(matrix):
            c = 0
            while c < len(row):
                if row[c]:
                    start = c
                    while c < len(row) and row[c]:
                        c += 1
                    self.rect(x + start * module, y + r * module, (c - start) * module, module, style="F")
                else:
                    c += 1


def render(content: dict[str, Any], *, code: str, url: str, created: datetime) -> bytes:
    """The PDF of a certificate whose snapshot is ``content`` (see :func:`webapp.services.certificates.issue`),
    in the current locale."""
    pdf = _Certificate()
    pdf.set_title(content["title"])
    pdf.set_author(content["issuer"])
    pdf.set_subject(f"{content['teacher']} · {content['period']['name']}")
    pdf.set_creator("YanXun")
    pdf.set_creation_date(created)
    pdf.add_page()
    pdf.draw_frame()

    pdf.set_xy(MARGIN, 17)
    pdf.use_font(9, colour=GREY)
    pdf.cell(WIDTH, 5, _("Verification code: %(code)s", code=code), align="R")

    title = content["title"]
    pdf.set_xy(MARGIN, 30)
    pdf.use_font(28 if len(title) <= 8 else 22, "B", RED)
    pdf.set_char_spacing(6 if len(title) <= 6 else 1)
    pdf.cell(WIDTH, 14, title, align="C")
    pdf.set_char_spacing(0)
    pdf.set_draw_color(*RED)
    pdf.set_line_width(0.4)
    pdf.line(MARGIN + 45, 48, MARGIN + WIDTH - 45, 48)

    period = content["period"]
    pdf.set_xy(MARGIN, 58)
    pdf.use_font(12.5)
    pdf.write(8.5, _("This is to certify that "))
    pdf.use_font(12.5, "B")
    pdf.write(8.5, f" {content['teacher']} ")
    pdf.use_font(12.5)
    school = _("of %(school)s ", school=content["school"]) if content["school"] else ""
    pdf.write(8.5, _("%(school)sattended teacher training in %(period)s (%(start)s to %(end)s). The recognised "
                     "hours and credits counted, as of %(as_of)s, are:",
                     school=school, period=period["name"], start=_day(period["start"]), end=_day(period["end"]),
                     as_of=_day(content["as_of"])))
    pdf.ln(13)

    heading = FontFace(emphasis="BOLD", fill_color=LIGHT)
    pdf.set_draw_color(*GREY)
    pdf.set_line_width(0.2)
    with pdf.table(col_widths=(62, 24, 24, 34, 22), text_align=("LEFT", "RIGHT", "RIGHT", "CENTER", "CENTER"),
                   line_height=8.5, headings_style=heading, borders_layout="HORIZONTAL_LINES",
                   padding=(0.8, 2)) as table:
        pdf.use_font(10.5)
        row = table.row()
        for label in (_("Category"), _("Hours"), _("Credits"), _("Minimum"), _("Status")):
            row.cell(label)
        for line in content["lines"]:
            row = table.row()
            for text in (line["name"], _amount(line["hours"]), _amount(line["credits"]), _minimum(line),
                         _status(line)):
                row.cell(text)
        total = content["total"]
        bold = FontFace(emphasis="BOLD", fill_color=LIGHT)
        row = table.row()
        for text in (_("Total"), _amount(total["hours"]), _amount(total["credits"]), _minimum(total),
                     _status(total)):
            row.cell(text, style=bold)

    pdf.ln(6)
    pdf.use_font(11.5)
    if content["kind"] != "hours":
        statement = _("Having met every requirement of %(period)s, the teacher is awarded this certificate.",
                      period=period["name"])
    elif not content["has_minimum"]:
        statement = _("The rules set no minimum for this period.")
    elif content["met"]:
        statement = _("Every minimum of this period is met.")
    else:
        statement = _("Not every minimum of this period is met yet (see the table).")
    pdf.multi_cell(WIDTH, 7.5, statement, align="L", new_x="LMARGIN", new_y="NEXT")
    if content["as_of"] < period["end"]:
        pdf.multi_cell(WIDTH, 7.5, _("The period is still running: these are the figures as of %(as_of)s.",
                                     as_of=_day(content["as_of"])), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.use_font(9.5, colour=GREY)
    rule_set = content["rule_set"]
    pdf.multi_cell(WIDTH, 6, _("Rules applied: %(title)s (version %(version)s).", title=rule_set["title"],
                               version=rule_set["version"]), align="L", new_x="LMARGIN", new_y="NEXT")

    pdf.set_xy(MARGIN + WIDTH - 90, max(pdf.get_y() + 14, 200))
    pdf.use_font(12.5, "B")
    pdf.multi_cell(90, 8, content["issuer"], align="C", new_x="LEFT", new_y="NEXT")
    pdf.use_font(11.5)
    pdf.cell(90, 8, _day(content["issued_on"]), align="C")

    top, size = 238.0, 32.0
    pdf.set_draw_color(*GREY)
    pdf.set_line_width(0.2)
    pdf.line(MARGIN, top - 6, MARGIN + WIDTH, top - 6)
    pdf.draw_qr(url, MARGIN, top, size)
    left = MARGIN + size + 6
    pdf.set_xy(left, top)
    pdf.use_font(10, "B")
    pdf.cell(0, 6, _("Verification code: %(code)s", code=code), new_x="LEFT", new_y="NEXT")
    pdf.use_font(9)
    pdf.multi_cell(MARGIN + WIDTH - left, 5.5, _("Verify at: %(url)s", url=url), align="L", new_x="LEFT",
                   new_y="NEXT")
    pdf.use_font(8.5, colour=GREY)
    pdf.multi_cell(MARGIN + WIDTH - left, 5, _(
        "Scan the code or open the address to check that this certificate is genuine; upload this PDF there to "
        "check that it has not been changed."), align="L", new_x="LEFT", new_y="NEXT")
    pdf.set_xy(MARGIN, 278)
    pdf.use_font(7.5, colour=GREY)
    pdf.cell(WIDTH, 4, _("Issued by YanXun from the teacher's training-hour ledger."), align="C")
    return bytes(pdf.output())
