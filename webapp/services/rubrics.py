"""Scoring rubrics: YAML files checked indicator by indicator, stored as immutable versions, and the arithmetic of
scoring, aggregating experts' scores, finding disagreements and grading. Flushes, never commits.

The format is documented in ``rubrics/README.md``. Points, bands, the aggregation and the disagreement threshold
are configuration: the seed documents give none of them.

Trimming is **per indicator**: with ``trimmed_mean`` and at least ``trim_from_experts`` experts, each indicator's
highest and lowest score are dropped and the rest averaged (as panels usually score); the total is the sum of the
indicators' aggregated points. Points are kept exact to 0.01 (half up).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from flask_babel import gettext as _

from webapp.extensions import db
from webapp.models import Rubric, RubricUse, RubricVersion, User
from webapp.services.errors import ServiceError

AGGREGATIONS = ("mean", "trimmed_mean")
RUBRIC_SUFFIXES = (".yaml", ".yml")
TOP_KEYS = ("code", "title", "note", "effective_from", "grades", "veto_grade", "aggregation",
            "disagreement_threshold", "dimensions")
DIMENSION_KEYS = ("code", "name", "indicators")
INDICATOR_KEYS = ("code", "name", "max_points", "guidance", "evidence", "evidence_required", "veto", "pass_mark",
                  "source")
DEFAULT_TRIM_FROM = 5
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
_RUBRIC_CODE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
CENT = Decimal("0.01")


class RubricInvalid(ServiceError):
    """The rubric cannot be stored; ``problems`` are the messages, each naming the indicator or key at fault."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class ScoresRejected(ServiceError):
    """Experts' scores that cannot be aggregated; ``problems`` name the expert and the indicator."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# -- checking ------------------------------------------------------------------------------------------------


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _sources(value: Any) -> list[str]:
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return [s.strip() for s in items if _text(s)]


def _indicator_label(indicator: Mapping[str, Any], index: str) -> str:
    name = indicator.get("name") if _text(indicator.get("name")) else ""
    code = indicator.get("code") if isinstance(indicator.get("code"), str) else ""
    return _("indicator %(index)s %(name)s (%(code)s)", index=index, name=name, code=code).replace(" ()", "")


def check(content: Any) -> list[str]:
    """Every problem of a rubric document (parsed YAML), each naming the indicator or key; empty when valid."""
    if not isinstance(content, dict):
        return [_("The rubric must be a mapping of keys (code, title, note, grades, dimensions...).")]
    problems: list[str] = []
    for key in content:
        if key not in TOP_KEYS:
            problems.append(_("Unknown key %(key)s (expected one of: %(keys)s).", key=key, keys=", ".join(TOP_KEYS)))
    code = content.get("code")
    if not isinstance(code, str) or not _RUBRIC_CODE.match(code):
        problems.append(_("code: give the rubric's code (lower-case letters, digits, '.', '-', '_')."))
    for key in ("title", "note"):
        if not _text(content.get(key)):
            problems.append(_("%(key)s: missing; give it as text.", key=key))
    if content.get("effective_from") is not None and _day(content["effective_from"]) is None:
        problems.append(_("effective_from: expected a date (YYYY-MM-DD)."))
    total, indicator_problems = _check_tree(content.get("dimensions"))
    problems += indicator_problems
    problems += _check_bands(content.get("grades"), content.get("veto_grade"), total)
    problems += _check_aggregation(content.get("aggregation"))
    threshold = _number(content.get("disagreement_threshold"))
    if threshold is None or threshold < 0:
        problems.append(_("disagreement_threshold: expected points of at least 0 (a spread above it on any "
                          "indicator calls for reconciliation)."))
    return problems


def _check_tree(dimensions: Any) -> tuple[Decimal, list[str]]:
    problems: list[str] = []
    total = Decimal(0)
    if not isinstance(dimensions, list) or not dimensions:
        return total, [_("dimensions: give at least one dimension with its indicators.")]
    seen: dict[str, str] = {}
    for d_index, dimension in enumerate(dimensions, start=1):
        if not isinstance(dimension, dict):
            problems.append(_("Dimension %(index)s must be a mapping (code, name, indicators).", index=d_index))
            continue
        d_label = _("dimension %(index)s %(name)s", index=d_index, name=dimension.get("name") or "")
        for key in dimension:
            if key not in DIMENSION_KEYS:
                problems.append(_("%(where)s: unknown key %(key)s.", where=d_label, key=key))
        for key in ("code", "name"):
            if key == "code" and not (isinstance(dimension.get("code"), str) and _CODE.match(dimension["code"])):
                problems.append(_("%(where)s: code must be lower-case letters, digits and _.", where=d_label))
            elif key == "name" and not _text(dimension.get("name")):
                problems.append(_("%(where)s: name is missing.", where=d_label))
        d_code = dimension.get("code")
        if isinstance(d_code, str):
            if d_code in seen:
                problems.append(_("%(where)s: the code %(code)s is used twice (also %(other)s).",
                                  where=d_label, code=d_code, other=seen[d_code]))
            seen[d_code] = d_label
        indicators = dimension.get("indicators")
        if not isinstance(indicators, list) or not indicators:
            problems.append(_("%(where)s: give at least one indicator.", where=d_label))
            continue
        for i_index, indicator in enumerate(indicators, start=1):
            index = f"{d_index}.{i_index}"
            if not isinstance(indicator, dict):
                problems.append(_("Indicator %(index)s must be a mapping.", index=index))
                continue
            points, own = _check_indicator(indicator, index, seen)
            total += points
            problems += own
    return total, problems


def _check_indicator(indicator: dict[str, Any], index: str, seen: dict[str, str]) -> tuple[Decimal, list[str]]:
    label = _indicator_label(indicator, index)
    problems: list[str] = []
    for key in indicator:
        if key not in INDICATOR_KEYS:
            problems.append(_("%(where)s: unknown key %(key)s (expected one of: %(keys)s).",
                              where=label, key=key, keys=", ".join(INDICATOR_KEYS)))
    code = indicator.get("code")
    if not (isinstance(code, str) and _CODE.match(code)):
        problems.append(_("%(where)s: code must be lower-case letters, digits and _.", where=label))
    elif code in seen:
        problems.append(_("%(where)s: the code %(code)s is used twice (also %(other)s).",
                          where=label, code=code, other=seen[code]))
    else:
        seen[code] = label
    if not _text(indicator.get("name")):
        problems.append(_("%(where)s: name is missing.", where=label))
    points = _number(indicator.get("max_points"))
    if points is None or points <= 0:
        problems.append(_("%(where)s: max_points must be a number above 0.", where=label))
        points = Decimal(0)
    for key in ("guidance", "evidence"):
        if not _text(indicator.get(key)):
            problems.append(_("%(where)s: %(key)s is missing; describe it in Chinese.", where=label, key=key))
    if not isinstance(indicator.get("evidence_required"), bool):
        problems.append(_("%(where)s: evidence_required must be true or false.", where=label))
    if not _sources(indicator.get("source")):
        problems.append(_("%(where)s: source is missing; cite the clause it comes from (《…》第…条 “…”).",
                          where=label))
    veto = indicator.get("veto", False)
    if not isinstance(veto, bool):
        problems.append(_("%(where)s: veto must be true or false.", where=label))
    pass_mark = indicator.get("pass_mark")
    if veto is True and pass_mark is None:
        problems.append(_("%(where)s: a veto indicator needs a pass_mark.", where=label))
    if pass_mark is not None:
        mark = _number(pass_mark)
        if veto is not True:
            problems.append(_("%(where)s: pass_mark is only for veto indicators (veto: true).", where=label))
        elif mark is None or mark <= 0 or (points and mark > points):
            problems.append(_("%(where)s: pass_mark must be above 0 and at most max_points (%(max)s).",
                              where=label, max=_show(points)))
    return points, problems


def _check_bands(grades: Any, veto_grade: Any, total: Decimal) -> list[str]:
    if not isinstance(grades, list) or len(grades) < 2:
        return [_("grades: give at least two grade bands, from the highest, e.g. {grade: 优秀, min: 90}; the last "
                  "one without min.")]
    problems: list[str] = []
    names: list[str] = []
    previous: Decimal | None = None
    for index, band in enumerate(grades, start=1):
        last = index == len(grades)
        if not isinstance(band, dict) or not _text(band.get("grade")) or set(band) - {"grade", "min"}:
            problems.append(_("grades: band %(index)s must be {grade: name, min: points}.", index=index))
            continue
        name = band["grade"].strip()
        if name in names:
            problems.append(_("grades: the grade %(grade)s is listed twice.", grade=name))
        names.append(name)
        if last:
            if band.get("min") is not None:
                problems.append(_("grades: the last band (%(grade)s) takes everything below the one above it; "
                                  "remove its min.", grade=name))
            continue
        low = _number(band.get("min"))
        if low is None or low <= 0:
            problems.append(_("grades: %(grade)s needs a min above 0.", grade=name))
            continue
        if total and low > total:
            problems.append(_("grades: %(grade)s starts at %(min)s, above the rubric's total of %(total)s points.",
                              grade=name, min=_show(low), total=_show(total)))
        if previous is not None and low >= previous:
            problems.append(_("grades: the bands must descend; %(grade)s starts at %(min)s, not below the band "
                              "above it (%(above)s).", grade=name, min=_show(low), above=_show(previous)))
        previous = low
    if veto_grade is not None and veto_grade not in names:
        problems.append(_("veto_grade: %(grade)s is not one of the grades.", grade=veto_grade))
    return problems


def _check_aggregation(aggregation: Any) -> list[str]:
    if not isinstance(aggregation, dict) or aggregation.get("method") not in AGGREGATIONS:
        return [_("aggregation: method must be mean or trimmed_mean.")]
    problems = []
    if set(aggregation) - {"method", "trim_from_experts"}:
        problems.append(_("aggregation: only method and trim_from_experts may be given."))
    trim_from = aggregation.get("trim_from_experts", DEFAULT_TRIM_FROM)
    if isinstance(trim_from, bool) or not isinstance(trim_from, int) or trim_from < 3:
        problems.append(_("aggregation: trim_from_experts must be a whole number of at least 3."))
    return problems


def _day(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def _show(value: Decimal | float) -> str:
    number = Decimal(str(value)).quantize(CENT)
    return format(number.normalize(), "f")


# -- normalising and storing ------------------------------------------------------------------------------


def _normalised(content: dict[str, Any]) -> dict[str, Any]:
    """The canonical form stored and hashed: numbers as floats, sources as lists, defaults filled in."""
    tree = [{"code": d["code"], "name": d["name"].strip(), "indicators": [{
        "code": i["code"], "name": i["name"].strip(), "max_points": float(_number(i["max_points"])),
        "guidance": i["guidance"].strip(), "evidence": i["evidence"].strip(),
        "evidence_required": i["evidence_required"], "veto": bool(i.get("veto", False)),
        **({"pass_mark": float(_number(i["pass_mark"]))} if i.get("veto") else {}),
        "source": _sources(i["source"]),
    } for i in d["indicators"]]} for d in content["dimensions"]]
    bands = [{"grade": b["grade"].strip(), **({"min": float(_number(b["min"]))} if b.get("min") is not None else {})}
             for b in content["grades"]]
    aggregation = content["aggregation"]
    return {
        "title": content["title"].strip(), "note": content["note"].strip(), "tree": tree, "bands": bands,
        "veto_grade": content.get("veto_grade") or bands[-1]["grade"], "aggregation": aggregation["method"],
        "trim_from_experts": aggregation.get("trim_from_experts", DEFAULT_TRIM_FROM),
        "disagreement_threshold": float(_number(content["disagreement_threshold"])),
        "effective_from": (_day(content["effective_from"]) if content.get("effective_from") else date.today())
        .isoformat(),
    }


def _hash(normalised: dict[str, Any]) -> str:
    canonical = json.dumps(normalised, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def parse(text: str) -> dict[str, Any]:
    """The YAML text as a document; raises :class:`RubricInvalid` when it is not YAML or is invalid."""
    try:
        content = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else "?"
        raise RubricInvalid([_("Not valid YAML (line %(line)s): %(problem)s", line=line,
                               problem=getattr(error, "problem", None) or error)]) from error
    problems = check(content)
    if problems:
        raise RubricInvalid(problems)
    return content


def rubric(code: str) -> Rubric | None:
    return db.session.scalar(sa.select(Rubric).where(Rubric.code == code))


def latest(code: str) -> RubricVersion | None:
    """The newest version of rubric ``code``."""
    return db.session.scalar(sa.select(RubricVersion).join(Rubric).where(Rubric.code == code)
                             .order_by(RubricVersion.version.desc()).limit(1))


def in_force(code: str, on: date) -> RubricVersion | None:
    """The version a new evaluation on ``on`` uses: the newest whose ``effective_from`` is not after it."""
    return db.session.scalar(sa.select(RubricVersion).join(Rubric).where(
        Rubric.code == code, RubricVersion.effective_from <= on).order_by(RubricVersion.version.desc()).limit(1))


def new_version(code: str, content: dict[str, Any], actor: User | None, *,
                source_yaml: str | None = None) -> tuple[RubricVersion, bool]:
    """Store ``content`` (a parsed rubric document) as the next version of rubric ``code``; (version, created).
    The same content as the latest version is a no-op; an existing version is never changed."""
    if content.get("code") not in (None, code):
        raise RubricInvalid([_("code: the document is rubric %(other)s, not %(code)s.",
                               other=content.get("code"), code=code)])
    problems = check({**content, "code": code})
    if problems:
        raise RubricInvalid(problems)
    normalised = _normalised(content)
    content_hash = _hash(normalised)
    current = latest(code)
    if current is not None and current.content_hash == content_hash:
        return current, False
    owner = rubric(code)
    if owner is None:
        owner = Rubric(code=code, title=normalised["title"])
        db.session.add(owner)
    else:
        owner.title = normalised["title"]
    total = sum(Decimal(str(i["max_points"])) for d in normalised["tree"] for i in d["indicators"])
    version = RubricVersion(
        rubric=owner, version=(current.version + 1) if current else 1, title=normalised["title"],
        note=normalised["note"], tree=normalised["tree"], bands=normalised["bands"],
        veto_grade=normalised["veto_grade"], aggregation=normalised["aggregation"],
        trim_from_experts=normalised["trim_from_experts"],
        disagreement_threshold=normalised["disagreement_threshold"], total_points=float(total),
        effective_from=date.fromisoformat(normalised["effective_from"]), content_hash=content_hash,
        source_yaml=source_yaml if source_yaml is not None else yaml.safe_dump(content, allow_unicode=True,
                                                                              sort_keys=False),
        created_by=actor)
    db.session.add(version)
    db.session.flush()
    return version, True


def load_text(text: str, actor: User | None) -> tuple[RubricVersion, bool]:
    """Check and store one rubric's YAML text (its ``code`` names the rubric)."""
    content = parse(text)
    return new_version(content["code"], content, actor, source_yaml=text)


def rubric_files(paths: Iterable[str | Path]) -> list[Path]:
    """The YAML files named, or found below the folders named (``_*`` files skipped)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in RUBRIC_SUFFIXES
                                and not p.name.startswith("_")))
        elif path.is_file():
            found.append(path)
        else:
            raise RubricInvalid([_("%(path)s: no such file or folder", path=raw)])
    return found


def check_files(paths: Iterable[str | Path]) -> tuple[list[tuple[Path, str, dict[str, Any]]], list[str]]:
    """(file, text, document) of every valid file, and the problems of the others, each prefixed by its file."""
    valid, problems = [], []
    codes: dict[str, Path] = {}
    for path in rubric_files(paths):
        text = path.read_text(encoding="utf-8")
        try:
            content = parse(text)
        except RubricInvalid as error:
            problems += [f"{path}: {problem}" for problem in error.problems]
            continue
        if content["code"] in codes:
            problems.append(f"{path}: " + _("code: %(code)s is also the code of %(other)s",
                                             code=content["code"], other=codes[content["code"]]))
            continue
        codes[content["code"]] = path
        valid.append((path, text, content))
    return valid, problems


def load_files(paths: Iterable[str | Path]) -> list[tuple[Path, RubricVersion, bool]]:
    """Store every rubric file as a new version where it changed; any invalid file stores nothing (raises)."""
    valid, problems = check_files(paths)
    if problems:
        raise RubricInvalid(problems)
    return [(path, *new_version(content["code"], content, None, source_yaml=text)) for path, text, content in valid]


# -- use by processes --------------------------------------------------------------------------------------


def record_use(version: RubricVersion, process_key: str, instance_id: int) -> RubricUse:
    """Record that an evaluation (``process_key``'s instance) scores with ``version``; idempotent."""
    use = db.session.scalar(sa.select(RubricUse).where(RubricUse.version_id == version.id,
                                                       RubricUse.process_key == process_key,
                                                       RubricUse.instance_id == instance_id))
    if use is None:
        use = RubricUse(version=version, process_key=process_key, instance_id=instance_id)
        db.session.add(use)
        db.session.flush()
    return use


def in_use(version: RubricVersion) -> int:
    """How many evaluations score with ``version`` (versions are never changed; this tells whom a new one spares)."""
    return db.session.scalar(sa.select(sa.func.count(RubricUse.id)).where(RubricUse.version_id == version.id)) or 0


# -- scoring ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """One score sheet checked against a version: the valid points, the indicators without a score, the
    problems (outside 0..max, unknown indicator, not a number), the total and the failed veto indicators."""

    points: dict[str, float]
    missing: list[str]
    problems: list[str]
    total: float
    veto_failed: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.missing and not self.problems


@dataclass(frozen=True)
class Aggregate:
    """The panel's result: per-indicator aggregated points, their total, the grade, the failed veto indicators."""

    points: dict[str, float]
    total: float
    grade: str
    veto_failed: list[str]
    method: str
    experts: int


@dataclass(frozen=True)
class Disagreement:
    indicator: str
    name: str
    low: float
    high: float
    spread: float


def _indicators(version: RubricVersion) -> dict[str, dict[str, Any]]:
    return {i["code"]: i for i in version.indicators()}


def _name(indicator: Mapping[str, Any]) -> str:
    return f"{indicator['name']} ({indicator['code']})"


def _vetoes(indicators: Mapping[str, Mapping[str, Any]], points: Mapping[str, Decimal]) -> list[str]:
    return [code for code, i in indicators.items()
            if i.get("veto") and code in points and points[code] < Decimal(str(i["pass_mark"]))]


def _checked(version: RubricVersion, scores: Mapping[str, Any]) -> tuple[dict[str, Decimal], list[str], list[str]]:
    indicators = _indicators(version)
    points: dict[str, Decimal] = {}
    problems: list[str] = []
    for code, value in scores.items():
        indicator = indicators.get(code)
        if indicator is None:
            problems.append(_("%(code)s is not an indicator of this rubric.", code=code))
            continue
        if value in (None, ""):
            continue
        number = _number(value)
        maximum = Decimal(str(indicator["max_points"]))
        if number is None:
            problems.append(_("%(indicator)s: %(value)s is not a number of points.", indicator=_name(indicator),
                              value=value))
        elif number < 0 or number > maximum:
            problems.append(_("%(indicator)s: %(value)s points is outside 0 to %(max)s.", indicator=_name(indicator),
                              value=_show(number), max=_show(maximum)))
        else:
            points[code] = number
    given = {code for code, value in scores.items() if value not in (None, "")}
    return points, [code for code in indicators if code not in given], problems


def score(version: RubricVersion, scores: Mapping[str, Any]) -> Result:
    """One sheet (indicator code → points) checked against ``version``."""
    points, missing, problems = _checked(version, scores)
    return Result(points={c: float(p) for c, p in points.items()}, missing=missing, problems=problems,
                  total=float(sum(points.values(), Decimal(0))), veto_failed=_vetoes(_indicators(version), points))


def _sheets(version: RubricVersion, expert_scores: Sequence[Mapping[str, Any]]) -> list[dict[str, Decimal]]:
    """Every expert's complete, valid sheet; raises :class:`ScoresRejected` naming each expert's problems."""
    if not expert_scores:
        raise ScoresRejected([_("No expert has scored yet.")])
    indicators = _indicators(version)
    sheets, problems = [], []
    for number, scores in enumerate(expert_scores, start=1):
        points, missing, own = _checked(version, scores)
        problems += [_("Expert %(n)s: %(problem)s", n=number, problem=p) for p in own]
        problems += [_("Expert %(n)s: %(indicator)s has no score.", n=number, indicator=_name(indicators[c]))
                     for c in missing]
        sheets.append(points)
    if problems:
        raise ScoresRejected(problems)
    return sheets


def _aggregate_one(values: list[Decimal], version: RubricVersion) -> Decimal:
    if version.aggregation == "trimmed_mean" and len(values) >= version.trim_from_experts:
        values = sorted(values)[1:-1]
    return (sum(values, Decimal(0)) / len(values)).quantize(CENT, rounding=ROUND_HALF_UP)


def aggregate(version: RubricVersion, expert_scores: Sequence[Mapping[str, Any]]) -> Aggregate:
    """The panel's points per indicator (mean, or trimmed mean per indicator), total and grade."""
    sheets = _sheets(version, expert_scores)
    indicators = _indicators(version)
    points = {code: _aggregate_one([sheet[code] for sheet in sheets], version) for code in indicators}
    total = sum(points.values(), Decimal(0))
    veto_failed = _vetoes(indicators, points)
    trimmed = version.aggregation == "trimmed_mean" and len(sheets) >= version.trim_from_experts
    return Aggregate(points={c: float(p) for c, p in points.items()}, total=float(total),
                     grade=grade(version, total, bool(veto_failed)), veto_failed=veto_failed,
                     method="trimmed_mean" if trimmed else "mean", experts=len(sheets))


def disagreements(version: RubricVersion, expert_scores: Sequence[Mapping[str, Any]]) -> list[Disagreement]:
    """The indicators whose spread (highest − lowest expert score) is above the version's threshold."""
    sheets = _sheets(version, expert_scores)
    threshold = Decimal(str(version.disagreement_threshold))
    found = []
    for code, indicator in _indicators(version).items():
        values = [sheet[code] for sheet in sheets]
        spread = max(values) - min(values)
        if spread > threshold:
            found.append(Disagreement(code, indicator["name"], float(min(values)), float(max(values)), float(spread)))
    return found


def grade(version: RubricVersion, total: float | Decimal, veto_failed: bool) -> str:
    """The grade of ``total`` points; a failed veto indicator caps it at the version's ``veto_grade``."""
    total = Decimal(str(total))
    names = [band["grade"] for band in version.bands]
    earned = next((band["grade"] for band in version.bands
                   if "min" not in band or total >= Decimal(str(band["min"]))), names[-1])
    if veto_failed and names.index(earned) < names.index(version.veto_grade):
        return version.veto_grade
    return earned
