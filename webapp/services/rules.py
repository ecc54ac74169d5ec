"""Credit rule sets: YAML files checked key by key, resolved through ``extends``, stored as immutable versions.

The format is documented in ``rules/README.md``. In short: a file holds one rule set; metadata (``id``,
``title``, ``source``, ``jurisdiction``, ``effective_from``/``effective_to``, ``extends``) belongs to the
file, everything else is deep-merged over the parent's resolved rules (mappings merge key by key, a
``null`` removes the inherited key, lists are replaced). Every problem is reported with the file and the
exact key path, e.g. ``rules/dali.yaml: requirements.semester.categories.school_activity.min: expected a
number, got 'abc'``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from webapp.extensions import db
from webapp.models import ROLE_CODES, TRAINING_TIERS, BackboneLevel, EmploymentType, Org, RuleSet, User
from webapp.services.errors import ServiceError

#: Training levels a conversion or an item's hours may depend on.
LEVELS = ("national", "province", "city", "county", "school")
#: Who recognises a category's credits (used by the application flow to route reviews).
RECOGNISERS = ("school", "county", "city", "provider")
MEASURES = ("hours", "credits")
#: Period kinds every rule set shows; cycles add their own codes.
FIXED_PERIODS = ("semester", "school_year")
#: Period kinds a rule set may bound besides those: calendar months, ISO weeks (Monday–Sunday), and a new
#: teacher's first year, anchored on the hire date (before taking up the post and one year from it).
EXTRA_PERIODS = ("month", "week", "first_year")
#: What happens to hours above a ``max``: not counted (``cap``) or counted and flagged for review (``flag``).
OVER_MAX = ("cap", "flag")
RULE_SUFFIXES = (".yaml", ".yml")
METADATA_KEYS = ("id", "title", "source", "jurisdiction", "effective_from", "effective_to", "version_effective_from",
                 "entries_from", "extends", "notes")

_CODE = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
_RULE_SET_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_MONTH_DAY = re.compile(r"^(\d\d)-(\d\d)$")
_DEFAULT_SEMESTER_NAMES = ("第一学期", "第二学期", "第三学期", "第四学期")


# -- problems ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    file: str
    #: Dotted key path inside the file (``requirements.semester.total.min``); empty for the file itself.
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}" if self.path else f"{self.file}: {self.message}"


class RuleFileError(ServiceError):
    """One or more rule files are invalid; ``problems`` name each file and key at fault."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


# -- YAML that refuses duplicate keys -----------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


def _construct_timestamp(loader: _StrictLoader, node: yaml.ScalarNode) -> Any:
    """A date-like scalar that is no real date (2020-02-30) stays text, for the checker to name."""
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError:
        return loader.construct_scalar(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


# -- checking one body ---------------------------------------------------------------------------------


Check = Callable[[Any, str], None]


class _Checker:
    """Type checks of every key; ``partial`` (a file that extends another) skips required keys in entries."""

    def __init__(self, file: str, *, partial: bool) -> None:
        self.file = file
        self.partial = partial
        self.problems: list[Problem] = []

    def fail(self, path: str, message: str) -> None:
        problem = Problem(self.file, path, message)
        if problem not in self.problems:
            self.problems.append(problem)

    # scalars

    def number(self, value: Any, path: str, *, positive: bool = False) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(path, f"expected a number, got {_describe(value)}")
        elif positive and value <= 0:
            self.fail(path, f"expected a number above 0, got {value}")
        elif value < 0:
            self.fail(path, f"expected a number of at least 0, got {value}")

    def integer(self, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, f"expected a whole number, got {_describe(value)}")
        elif value < 1:
            self.fail(path, f"expected a whole number of at least 1, got {value}")

    def text(self, value: Any, path: str) -> None:
        if not isinstance(value, str) or not value.strip():
            self.fail(path, f"expected text, got {_describe(value)}")

    def boolean(self, value: Any, path: str) -> None:
        if not isinstance(value, bool):
            self.fail(path, f"expected true or false, got {_describe(value)}")

    def day(self, value: Any, path: str) -> None:
        if parse_date(value) is None:
            self.fail(path, f"expected a date (YYYY-MM-DD), got {_describe(value)}")

    def month_day(self, value: Any, path: str) -> None:
        if parse_month_day(value) is None:
            self.fail(path, f"expected a month and day (MM-DD, quoted), got {_describe(value)}")

    def code(self, value: Any, path: str) -> None:
        if not isinstance(value, str) or not _CODE.match(value):
            self.fail(path, f"expected a code (lower-case letters, digits, _), got {_describe(value)}")

    def choice(self, options: Iterable[str]) -> Check:
        options = tuple(options)

        def check(value: Any, path: str) -> None:
            if value not in options:
                self.fail(path, f"expected one of {', '.join(options)}; got {_describe(value)}")
        return check

    # containers

    def list_of(self, item: Check, *, min_items: int = 0) -> Check:
        def check(value: Any, path: str) -> None:
            if not isinstance(value, list):
                self.fail(path, f"expected a list, got {_describe(value)}")
                return
            if len(value) < min_items:
                self.fail(path, f"expected at least {min_items} entries, got {len(value)}")
            for index, element in enumerate(value):
                item(element, f"{path}[{index}]")
        return check

    def mapping(self, keys: dict[str, Check], *, required: tuple[str, ...] = ()) -> Check:
        def check(value: Any, path: str) -> None:
            if not isinstance(value, dict):
                self.fail(path, f"expected a mapping, got {_describe(value)}")
                return
            for key, sub in value.items():
                sub_path = _join(path, key)
                if key not in keys:
                    self.fail(sub_path, f"unknown key (expected one of: {', '.join(keys)})")
                elif sub is not None:  # null: absent, or removes what the parent set
                    keys[key](sub, sub_path)
            if not self.partial:
                for key in required:
                    if value.get(key) is None:
                        self.fail(_join(path, key), "missing required key")
        return check

    def codes(self, entry: Check, *, key_check: Check | None = None) -> Check:
        """A mapping keyed by codes (categories, items, cycles...), each value checked by ``entry``."""
        def check(value: Any, path: str) -> None:
            if not isinstance(value, dict):
                self.fail(path, f"expected a mapping, got {_describe(value)}")
                return
            for key, sub in value.items():
                sub_path = _join(path, key)
                if key_check is not None:
                    key_check(key, sub_path)
                elif not isinstance(key, str) or not _CODE.match(key):
                    self.fail(sub_path, "expected a code as key (lower-case letters, digits, _)")
                    continue
                if sub is not None:
                    entry(sub, sub_path)
        return check

    # the format

    def conversion(self, *, levels: bool) -> Check:
        keys: dict[str, Check] = {"hours": lambda v, p: self.number(v, p, positive=True), "credits": self.number}
        if levels:
            keys["by_level"] = self.codes(self.conversion(levels=False), key_check=self.choice(LEVELS))
        inner = self.mapping(keys)

        def check(value: Any, path: str) -> None:
            inner(value, path)
            if isinstance(value, dict) and not self.partial and ("hours" in value) != ("credits" in value):
                missing = "credits" if "hours" in value else "hours"
                self.fail(_join(path, missing), "missing required key (give both hours and credits)")
        return check

    def bound(self) -> Check:
        return self.mapping({"min": self.number, "min_exclusive": self.number, "max": self.number,
                             "over_max": self.choice(OVER_MAX), "measure": self.choice(MEASURES), "note": self.text})

    def day_or_month_day(self, value: Any, path: str) -> None:
        if parse_date(value) is None and parse_month_day(value) is None:
            self.fail(path, f"expected a date (YYYY-MM-DD) or a month and day (MM-DD, quoted), got {_describe(value)}")

    def requirements(self) -> Check:
        block = self.mapping({"total": self.bound(), "categories": self.codes(self.bound()), "note": self.text})
        return self.codes(block)

    def body(self) -> Check:
        units = self.mapping({
            "measure": self.choice(MEASURES),
            "default": self.conversion(levels=True),
            "categories": self.codes(self.conversion(levels=True)),
        })
        periods = self.mapping({
            "school_year_start": self.month_day,
            "semester_starts": self.list_of(self.month_day, min_items=1),
            "semester_names": self.list_of(self.text, min_items=1),
            "cycles": self.codes(self.mapping({"anchor": self.day, "years": self.integer, "name": self.text},
                                              required=("anchor", "years"))),
            "first_year": self.mapping({"months_before": self.number, "months": self.integer, "name": self.text}),
        })
        categories = self.codes(self.mapping({
            "name": self.text, "parent": self.code, "recognised_by": self.choice(RECOGNISERS),
            "description": self.text,
            "window": self.mapping({"from": self.day_or_month_day, "to": self.day_or_month_day, "note": self.text},
                                   required=("from", "to")),
        }, required=("name",)))
        items = self.codes(self.mapping({
            "category": self.code, "name": self.text, "hours": self.number,
            "hours_by_level": self.codes(self.number, key_check=self.choice(LEVELS)),
            "conversion": self.conversion(levels=True), "caps": self.codes(self.bound()),
            "evidence": self.list_of(self.text), "recognised_by": self.choice(RECOGNISERS), "description": self.text,
        }, required=("category", "name")))
        when = self.mapping({
            "new_teacher": self.boolean, "class_teacher": self.boolean,
            "roles": self.list_of(self.choice(sorted(ROLE_CODES)), min_items=1),
            "backbone_levels": self.list_of(self.choice([level.value for level in BackboneLevel]), min_items=1),
            "tiers": self.list_of(self._tier, min_items=1),
            "employment_types": self.list_of(self.choice([kind.value for kind in EmploymentType]), min_items=1),
        })
        audiences = self.codes(self.mapping({
            "name": self.text, "when": when, "requirements": self.requirements(), "description": self.text,
        }, required=("name", "when")))
        shared = self.list_of(self.mapping({
            "categories": self.list_of(self.code, min_items=2), "note": self.text,
        }, required=("categories",)))
        certificates = self.codes(self.mapping({
            "name": self.text, "period": self.code, "requires_met": self.boolean, "note": self.text,
        }, required=("name", "period")))
        return self.mapping({
            "id": self._rule_set_id, "title": self.text, "source": self.text, "jurisdiction": self._jurisdiction,
            "effective_from": self.day, "effective_to": self.day, "version_effective_from": self.day,
            "entries_from": self.day, "extends": self._rule_set_id, "notes": self.text,
            "units": units, "periods": periods, "categories": categories, "items": items,
            "requirements": self.requirements(), "audiences": audiences, "shared_evidence": shared,
            "certificates": certificates,
        })

    def _rule_set_id(self, value: Any, path: str) -> None:
        if not isinstance(value, str) or not _RULE_SET_ID.match(value):
            self.fail(path, f"expected a rule set id (lower-case letters, digits, '.', '-', '_'), "
                            f"got {_describe(value)}")

    def _tier(self, value: Any, path: str) -> None:
        if value not in TRAINING_TIERS or isinstance(value, bool):
            self.fail(path, f"expected a training tier ({', '.join(map(str, TRAINING_TIERS))}), got {_describe(value)}")

    def _jurisdiction(self, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
            self.fail(path, f"expected an organisation code, got {_describe(value)}")


def parse_date(value: Any) -> date | None:
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def parse_month_day(value: Any) -> tuple[int, int] | None:
    """``"09-01"`` → (9, 1); a day that exists in every year (so not 02-29)."""
    if not isinstance(value, str) or not (match := _MONTH_DAY.match(value)):
        return None
    month, day = int(match.group(1)), int(match.group(2))
    try:
        date(2001, month, day)
    except ValueError:
        return None
    return month, day


# -- references, checked on the resolved rules -------------------------------------------------------


def _check_references(checker: _Checker, body: dict[str, Any]) -> None:
    categories: dict[str, dict] = body.get("categories") or {}
    if not categories:
        checker.fail("categories", "a rule set needs at least one category")
    for code, category in categories.items():
        parent = category.get("parent")
        if parent is not None and parent not in categories:
            checker.fail(f"categories.{code}.parent", f"unknown category {parent!r}")
    for code in categories:  # parent cycles
        seen, current = [code], categories[code].get("parent")
        while current in categories:
            if current in seen:
                checker.fail(f"categories.{code}.parent", f"parent cycle: {' → '.join([*seen, current])}")
                break
            seen.append(current)
            current = categories[current].get("parent")

    def known_category(code: str, path: str) -> None:
        if code not in categories:
            checker.fail(path, f"unknown category {code!r}")

    for code in (body.get("units") or {}).get("categories") or {}:
        known_category(code, f"units.categories.{code}")

    periods = body.get("periods") or {}
    cycles = periods.get("cycles") or {}
    for code in cycles:
        if code in FIXED_PERIODS or code in EXTRA_PERIODS:
            checker.fail(f"periods.cycles.{code}", f"{code!r} is a fixed period kind; name the cycle otherwise")
    period_kinds = (*FIXED_PERIODS, *EXTRA_PERIODS, *cycles)
    year_start = parse_month_day(periods.get("school_year_start"))
    starts = [parse_month_day(s) for s in periods.get("semester_starts") or []]
    if year_start and starts and all(starts):
        if starts[0] != year_start:
            checker.fail("periods.semester_starts[0]", "the first semester must start on school_year_start "
                                                       f"({periods['school_year_start']})")
        ordered = [_days_into_year(s, year_start) for s in starts]
        for index in range(1, len(ordered)):
            if ordered[index] <= ordered[index - 1]:
                checker.fail(f"periods.semester_starts[{index}]", "semesters must start in order through the year")
    names = periods.get("semester_names")
    if names is not None and len(names) != len(starts):
        checker.fail("periods.semester_names", f"expected {len(starts)} names, one per semester, got {len(names)}")

    def check_bound(bound: dict, path: str) -> None:
        low = bound.get("min", bound.get("min_exclusive"))
        if "min" in bound and "min_exclusive" in bound:
            checker.fail(f"{path}.min_exclusive", "give min or min_exclusive, not both")
        if low is not None and bound.get("max") is not None and bound["max"] < low:
            checker.fail(f"{path}.max", f"the maximum {bound['max']} is below the minimum {low}")
        if bound.get("over_max") is not None and bound.get("max") is None:
            checker.fail(f"{path}.over_max", "over_max needs a max")

    def check_requirements(requirements: dict, path: str) -> None:
        for kind, block in requirements.items():
            kind_path = f"{path}.{kind}"
            if kind not in period_kinds:
                checker.fail(kind_path, f"unknown period (expected one of: {', '.join(period_kinds)})")
                continue
            if not block:
                continue
            if block.get("total"):
                check_bound(block["total"], f"{kind_path}.total")
            for code, bound in (block.get("categories") or {}).items():
                known_category(code, f"{kind_path}.categories.{code}")
                if bound:
                    check_bound(bound, f"{kind_path}.categories.{code}")

    check_requirements(body.get("requirements") or {}, "requirements")
    for code, item in (body.get("items") or {}).items():
        if item.get("category") is not None:
            known_category(item["category"], f"items.{code}.category")
        for kind, bound in (item.get("caps") or {}).items():
            if kind not in period_kinds:
                checker.fail(f"items.{code}.caps.{kind}",
                             f"unknown period (expected one of: {', '.join(period_kinds)})")
            elif bound.get("max") is None:
                checker.fail(f"items.{code}.caps.{kind}.max", "missing required key")
    for code, audience in (body.get("audiences") or {}).items():
        if not audience.get("when"):
            checker.fail(f"audiences.{code}.when", "give at least one condition")
        check_requirements(audience.get("requirements") or {}, f"audiences.{code}.requirements")
    for code, category in categories.items():
        window = category.get("window") or {}
        start, end = window.get("from"), window.get("to")
        if parse_date(start) and parse_date(end) and parse_date(end) < parse_date(start):
            checker.fail(f"categories.{code}.window.to", f"{end} is before {start}")
        if start is not None and end is not None and (parse_date(start) is None) != (parse_date(end) is None):
            checker.fail(f"categories.{code}.window", "give both ends as dates, or both as month and day")
    for code, certificate in (body.get("certificates") or {}).items():
        if certificate.get("period") is not None and certificate["period"] not in period_kinds:
            checker.fail(f"certificates.{code}.period",
                         f"unknown period (expected one of: {', '.join(period_kinds)})")
    for index, rule in enumerate(body.get("shared_evidence") or []):
        for position, code in enumerate(rule.get("categories") or []):
            known_category(code, f"shared_evidence[{index}].categories[{position}]")


def _days_into_year(month_day: tuple[int, int], year_start: tuple[int, int]) -> int:
    start = date(2001, *year_start)
    day = date(2001, *month_day)
    if day < start:
        day = date(2002, *month_day)
    return (day - start).days


# -- resolving files -------------------------------------------------------------------------------------


@dataclass
class Resolved:
    """A rule set checked and resolved, ready to store."""

    code: str
    title: str
    source: str
    jurisdiction: str
    effective_from: date
    effective_to: date | None
    extends: str | None
    body: dict[str, Any]
    source_yaml: str
    file: str
    #: ``version_effective_from``: the day this version takes effect (None: not given in the file).
    version_from: date | None = None
    #: ``entries_from`` as given, else the start of the earliest period containing ``effective_from``.
    entries_from: date | None = None

    @property
    def content_hash(self) -> str:
        canonical = json.dumps(self.body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class _Parsed:
    file: str
    text: str
    raw: dict[str, Any] | None
    problems: list[Problem] = field(default_factory=list)


def rule_files(paths: Iterable[str | Path]) -> list[Path]:
    """The YAML files named, or found below the folders named (README and ``_*`` files skipped)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in RULE_SUFFIXES
                                and not p.name.startswith("_")))
        elif path.is_file():
            found.append(path)
        else:
            raise RuleFileError([Problem(str(raw), "", "no such file or folder")])
    return found


def _parse(file: str, text: str) -> _Parsed:
    parsed = _Parsed(file, text, None)
    try:
        documents = list(yaml.load_all(text, Loader=_StrictLoader))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        parsed.problems.append(Problem(file, "", f"not valid YAML: {where}{problem}"))
        return parsed
    documents = [d for d in documents if d is not None]
    if len(documents) != 1:
        parsed.problems.append(Problem(file, "", f"expected one rule set in the file, found {len(documents)}"))
        return parsed
    raw = documents[0]
    checker = _Checker(file, partial=isinstance(raw, dict) and raw.get("extends") is not None)
    checker.body()(raw, "")
    if isinstance(raw, dict):
        for key in ("id", "title", "source", "jurisdiction", "effective_from"):
            if raw.get(key) is None:
                checker.fail(key, "missing required key")
        start, end = parse_date(raw.get("effective_from")), parse_date(raw.get("effective_to"))
        if start and end and end < start:
            checker.fail("effective_to", f"{end.isoformat()} is before effective_from {start.isoformat()}")
    parsed.problems = checker.problems
    parsed.raw = raw if isinstance(raw, dict) else None
    return parsed


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def merge(base: Any, override: Any) -> Any:
    """Deep merge: mappings key by key (``None`` removes the key), anything else replaced by ``override``."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            if value is None:
                if key in merged:
                    merged.pop(key)
                else:  # nothing to remove here: kept, for an audience's requirements to remove a bound
                    merged[key] = None
            elif key in merged:
                merged[key] = merge(merged[key], value)
            else:
                merged[key] = merge({}, value) if isinstance(value, dict) else copy.deepcopy(value)
        return merged
    return copy.deepcopy(override)


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value


def _with_defaults(body: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled in; nulls left by the merge dropped, except in audiences' requirements, where a null
    bound removes the general bound for that audience (``total: {min: null}``)."""
    audiences = body.get("audiences") or {}
    body = _strip_nulls({k: v for k, v in body.items() if k != "audiences"})
    if audiences:
        body["audiences"] = {
            code: {**_strip_nulls({k: v for k, v in (audience or {}).items() if k != "requirements"}),
                   **({"requirements": audience["requirements"]} if (audience or {}).get("requirements") else {})}
            for code, audience in audiences.items() if audience is not None}
    body = copy.deepcopy(body)
    units = body.setdefault("units", {})
    units.setdefault("measure", "hours")
    units.setdefault("default", {"hours": 1, "credits": 1})
    units.setdefault("categories", {})
    periods = body.setdefault("periods", {})
    periods.setdefault("school_year_start", "09-01")
    periods.setdefault("semester_starts", [periods["school_year_start"], "02-01"])
    periods.setdefault("semester_names", list(_DEFAULT_SEMESTER_NAMES[:len(periods["semester_starts"])]))
    periods.setdefault("cycles", {})
    for key in ("categories", "items", "requirements", "audiences"):
        body.setdefault(key, {})
    body.setdefault("shared_evidence", [])
    return body


def check_files(paths: Iterable[str | Path]) -> tuple[list[Resolved], list[Problem]]:
    """Parse, check and resolve the files; a parent not among them is looked up in the database."""
    parsed: list[_Parsed] = []
    problems: list[Problem] = []
    for path in rule_files(paths):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            problems.append(Problem(str(path), "", f"cannot be read: {error}"))
            continue
        parsed.append(_parse(str(path), text))
    by_code: dict[str, _Parsed] = {}
    for item in parsed:
        problems.extend(item.problems)
        code = item.raw.get("id") if item.raw else None
        if isinstance(code, str):
            if code in by_code:
                problems.append(Problem(item.file, "id", f"{code!r} is also the id of {by_code[code].file}"))
            else:
                by_code[code] = item
    resolved: dict[str, Resolved | None] = {}

    def resolve(code: str, chain: tuple[str, ...]) -> Resolved | None:
        if code in resolved:
            return resolved[code]
        item = by_code[code]
        if item.problems:
            resolved[code] = None
            return None
        raw = item.raw
        assert raw is not None
        base: dict[str, Any] = {}
        parent_code = raw.get("extends")
        if parent_code is not None:
            if parent_code in chain or parent_code == code:
                problems.append(Problem(item.file, "extends",
                                        f"extends cycle: {' → '.join([*chain, code, parent_code])}"))
                resolved[code] = None
                return None
            if parent_code in by_code:
                parent = resolve(parent_code, (*chain, code))
                if parent is None:
                    problems.append(Problem(item.file, "extends", f"the parent {parent_code!r} is invalid"))
                    resolved[code] = None
                    return None
                base = parent.body
            else:
                stored = latest(parent_code)
                if stored is None:
                    problems.append(Problem(item.file, "extends", f"unknown rule set {parent_code!r}"))
                    resolved[code] = None
                    return None
                base = stored.body
        own = {k: v for k, v in _jsonable(raw).items() if k not in METADATA_KEYS}
        body = _with_defaults(merge({k: v for k, v in base.items() if k not in METADATA_KEYS}, own))
        checker = _Checker(item.file, partial=False)
        checker.body()(body, "")
        _check_references(checker, body)
        if checker.problems:
            problems.extend(checker.problems)
            resolved[code] = None
            return None
        meta = {"id": code, "title": raw["title"].strip(), "source": raw["source"].strip(),
                "jurisdiction": str(raw["jurisdiction"]).strip(),
                "effective_from": parse_date(raw["effective_from"]).isoformat(),
                "effective_to": raw.get("effective_to") and parse_date(raw["effective_to"]).isoformat(),
                "extends": parent_code}
        if raw.get("version_effective_from") is not None:
            meta["version_effective_from"] = parse_date(raw["version_effective_from"]).isoformat()
        if raw.get("entries_from") is not None:
            meta["entries_from"] = parse_date(raw["entries_from"]).isoformat()
        if raw.get("notes"):
            meta["notes"] = raw["notes"].strip()
        effective_from = parse_date(raw["effective_from"])
        entries_from = parse_date(raw.get("entries_from")) or earliest_period_start(body, effective_from)
        if entries_from > effective_from:
            problems.append(Problem(item.file, "entries_from", f"{entries_from.isoformat()} is after effective_from "
                                                               f"{effective_from.isoformat()}"))
            resolved[code] = None
            return None
        body = {**meta, **body}
        resolved[code] = Resolved(code=code, title=meta["title"], source=meta["source"],
                                  jurisdiction=meta["jurisdiction"],
                                  effective_from=parse_date(raw["effective_from"]),
                                  effective_to=parse_date(raw.get("effective_to")), extends=parent_code,
                                  body=body, source_yaml=item.text, file=item.file,
                                  version_from=parse_date(raw.get("version_effective_from")), entries_from=entries_from)
        return resolved[code]

    results = [resolve(code, ()) for code in by_code]
    return [r for r in results if r is not None], problems


def _version_problem(rule: Resolved, current: RuleSet | None) -> Problem | None:
    """A changed rule set must say from when its new version applies, so that no earlier day's answer moves."""
    if current is None or current.content_hash == rule.content_hash or rule.version_from is not None:
        return None
    return Problem(rule.file, "version_effective_from",
                   f"{rule.code!r} is already stored (version {current.version}, from "
                   f"{current.version_from.isoformat()}) and this file changes it: give version_effective_from, the "
                   f"day the new version takes effect (effective_from, {rule.effective_from.isoformat()}, to correct "
                   f"it from its start)")


def store(rule: Resolved) -> tuple[RuleSet, bool]:
    """Store ``rule`` as a new version unless the latest version has the same content. Flushes, never commits."""
    current = latest(rule.code)
    if current is not None and current.content_hash == rule.content_hash:
        return current, False
    if (problem := _version_problem(rule, current)) is not None:
        raise RuleFileError([problem])
    rule_set = RuleSet(code=rule.code, version=(current.version + 1) if current else 1,
                       content_hash=rule.content_hash, title=rule.title, source=rule.source,
                       jurisdiction_code=rule.jurisdiction, effective_from=rule.effective_from,
                       effective_to=rule.effective_to, extends_code=rule.extends, body=rule.body,
                       version_from=rule.version_from or rule.effective_from,
                       entries_from=rule.entries_from or rule.effective_from,
                       source_yaml=rule.source_yaml, file_name=Path(rule.file).name)
    db.session.add(rule_set)
    db.session.flush()
    return rule_set, True


def load_rule_files(paths: Iterable[str | Path]) -> list[RuleSet]:
    """Check every file, then store each rule set (identical content is a no-op); nothing is stored
    when any file is invalid (:class:`RuleFileError`). Parents are stored before their children."""
    resolved, problems = check_files(paths)
    ordered = parents_first(resolved)
    changed_from: dict[str, date] = {}
    for rule in ordered:  # a child changed only through its parent takes the parent's new version date
        current = latest(rule.code)
        if current is not None and current.content_hash != rule.content_hash and rule.version_from is None:
            rule.version_from = changed_from.get(rule.extends or "")
        if current is None or current.content_hash != rule.content_hash:
            changed_from[rule.code] = rule.version_from or rule.effective_from
        if (problem := _version_problem(rule, current)) is not None:
            problems.append(problem)
    if problems:
        raise RuleFileError(problems)
    return [store(rule)[0] for rule in ordered]


def parents_first(resolved: list[Resolved]) -> list[Resolved]:
    by_code = {r.code: r for r in resolved}
    ordered: list[Resolved] = []
    seen: set[str] = set()

    def visit(rule: Resolved) -> None:
        if rule.code in seen:
            return
        seen.add(rule.code)
        if rule.extends in by_code:
            visit(by_code[rule.extends])
        ordered.append(rule)

    for rule in resolved:
        visit(rule)
    return ordered


def latest(code: str) -> RuleSet | None:
    return db.session.scalar(sa.select(RuleSet).where(RuleSet.code == code).order_by(RuleSet.version.desc()).limit(1))


# -- which rule set governs an organisation -------------------------------------------------------------


def rule_set_for(org: Org | None, on: date | None = None, *, posting: bool = False) -> RuleSet | None:
    """The rule set in force on ``on`` (today) for ``org``: walking up from ``org``, the nearest jurisdiction
    with a rule set whose effective range covers the day; of each rule set, the version that applies on that
    day (the latest ``version_from`` not after it); at one jurisdiction the one that took effect last wins.

    ``posting``: the rule set an entry earned on ``on`` is posted under: as above, else one that accepts
    entries from before it took effect (``entries_from``), so a cycle that began earlier can be completed."""
    if org is None:
        return None
    return rule_sets_for([org], on, posting=posting)[org.id]


def version_on(versions: Iterable[RuleSet], day: date) -> RuleSet | None:
    """Of one rule set's versions, the one that applies on ``day``: the latest ``version_from`` not after it
    (ties: the higher version); before every version's date, the first version."""
    versions = list(versions)
    if not versions:
        return None
    started = [v for v in versions if v.version_from <= day]
    if started:
        return max(started, key=lambda v: (v.version_from, v.version))
    first = min(v.version_from for v in versions)
    return max((v for v in versions if v.version_from == first), key=lambda v: v.version)


def rule_sets_for(orgs: Iterable[Org], on: date | None = None, *, posting: bool = False) -> dict[int, RuleSet | None]:
    """:func:`rule_set_for` for many organisations in two queries."""
    day = on or date.today()
    orgs = list(orgs)
    ancestor_ids = {i for org in orgs for i in org.ancestor_ids}
    if not ancestor_ids:
        return {}
    codes = dict(db.session.execute(sa.select(Org.id, Org.code).where(Org.id.in_(ancestor_ids))).tuples().all())
    by_code: dict[str, list[RuleSet]] = {}
    for rule_set in db.session.scalars(sa.select(RuleSet).where(RuleSet.jurisdiction_code.in_(set(codes.values())))):
        by_code.setdefault(rule_set.code, []).append(rule_set)
    by_jurisdiction: dict[str, list[RuleSet]] = {}
    for versions in by_code.values():
        version = version_on(versions, day)
        if version is not None and (version.covers(day) or (posting and version.accepts(day))):
            by_jurisdiction.setdefault(version.jurisdiction_code, []).append(version)
    answer: dict[int, RuleSet | None] = {}
    for org in orgs:
        answer[org.id] = None
        for ancestor_id in org.ancestor_ids:
            found = by_jurisdiction.get(codes.get(ancestor_id, ""))
            if found:
                answer[org.id] = max(found, key=lambda r: (r.covers(day), r.effective_from, r.id))
                break
    return answer


# -- periods ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    #: ``semester``, ``school_year`` or a cycle's code.
    kind: str
    #: ``2026-2027-1``, ``2026-2027``, ``2026-2030``.
    key: str
    name: str
    start: date
    #: Inclusive.
    end: date

    def __contains__(self, day: date) -> bool:
        return self.start <= day <= self.end


def _on_month_day(year: int, month_day: tuple[int, int]) -> date:
    return date(year, *month_day)


def school_year_of(day: date, start: str = "09-01") -> Period:
    """The school year (September–August by default) that ``day`` falls in."""
    month_day = parse_month_day(start) or (9, 1)
    begin = _on_month_day(day.year, month_day)
    if day < begin:
        begin = _on_month_day(day.year - 1, month_day)
    end = _on_month_day(begin.year + 1, month_day) - timedelta(days=1)
    key = f"{begin.year}-{begin.year + 1}" if month_day != (1, 1) else str(begin.year)
    return Period("school_year", key, f"{key.replace('-', '–')}学年", begin, end)


def semester_of(day: date, school_year_start: str = "09-01", starts: Iterable[str] = ("09-01", "02-01"),
                names: Iterable[str] | None = None) -> Period:
    """The semester of ``day``: the school year cut at each of ``starts`` (MM-DD, the first = the year's start)."""
    year = school_year_of(day, school_year_start)
    bounds = []
    for month_day in (parse_month_day(s) for s in starts):
        assert month_day is not None
        candidate = _on_month_day(year.start.year, month_day)
        bounds.append(candidate if candidate >= year.start else _on_month_day(year.start.year + 1, month_day))
    names = list(names or _DEFAULT_SEMESTER_NAMES)
    index = max(i for i, b in enumerate(bounds) if b <= day) if any(b <= day for b in bounds) else 0
    end = bounds[index + 1] - timedelta(days=1) if index + 1 < len(bounds) else year.end
    name = names[index] if index < len(names) else f"第{index + 1}学期"
    return Period("semester", f"{year.key}-{index + 1}", f"{year.name}{name}", bounds[index], end)


def _add_years(day: date, years: int) -> date:
    return day.replace(year=day.year + years)


def cycle_of(day: date, anchor: date, years: int, kind: str = "cycle", name: str | None = None) -> Period:
    """The ``years``-long cycle containing ``day``, cycles running back and forth from ``anchor``."""
    k = (day.year - anchor.year) // years
    start = _add_years(anchor, k * years)
    if start > day:
        k -= 1
        start = _add_years(anchor, k * years)
    elif _add_years(anchor, (k + 1) * years) <= day:
        k += 1
        start = _add_years(anchor, k * years)
    end = _add_years(anchor, (k + 1) * years) - timedelta(days=1)
    key = f"{start.year}-{end.year}"
    return Period(kind, key, f"{name or '培训周期'}（{start.year}–{end.year}）", start, end)


def month_of(day: date) -> Period:
    start = day.replace(day=1)
    end = (start.replace(year=start.year + 1, month=1) if start.month == 12
           else start.replace(month=start.month + 1)) - timedelta(days=1)
    return Period("month", f"{start.year}-{start.month:02d}", f"{start.year}年{start.month}月", start, end)


def week_of(day: date) -> Period:
    """The ISO week (Monday–Sunday) of ``day``."""
    start = day - timedelta(days=day.weekday())
    year, week, _ = day.isocalendar()
    return Period("week", f"{year}-W{week:02d}", f"{year}年第{week}周（{start.month}月{start.day}日起）", start,
                  start + timedelta(days=6))


def _add_months(day: date, months: int) -> date:
    """``day`` moved by whole months, clamped to the end of a shorter month (31 Jan + 1 month = 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)


def first_year_of(hire_date: date, months_before: float = 12, months: int = 12, name: str | None = None) -> Period:
    """A new teacher's first year: from ``months_before`` months before the hire date (pre-service training)
    to the day before the hire date's anniversary ``months`` later (Sichuan [001] 三(一): "上岗前和上岗一年内")."""
    start = _add_months(hire_date, -int(months_before))
    end = _add_months(hire_date, months) - timedelta(days=1)
    label = name or f"{hire_date.year}年{hire_date.month}月{hire_date.day}日上岗：上岗前及上岗一年内"
    return Period("first_year", f"first-{hire_date.isoformat()}", label, start, end)


def earliest_period_start(body: dict[str, Any], day: date) -> date:
    """The start of the earliest semester, school year or cycle of ``body``'s calendar containing ``day``."""
    periods = body.get("periods") or {}
    year_start = periods.get("school_year_start", "09-01")
    starts = [school_year_of(day, year_start).start]
    for spec in (periods.get("cycles") or {}).values():
        starts.append(cycle_of(day, parse_date(spec["anchor"]), spec["years"]).start)
    return min(starts)


# -- a rule set, ready to use ----------------------------------------------------------------------------


class Rules:
    """Read access to a resolved rule set's body."""

    def __init__(self, rule_set: RuleSet) -> None:
        self.rule_set = rule_set
        self.body: dict[str, Any] = rule_set.body
        self.categories: dict[str, dict[str, Any]] = self.body["categories"]
        self.items: dict[str, dict[str, Any]] = self.body["items"]
        self.measure: str = self.body["units"]["measure"]
        self._periods = self.body["periods"]
        self._bounded: set[str] | None = None
        self._display_measure: str | None = None

    # categories

    def category_name(self, code: str) -> str:
        category = self.categories.get(code)
        return category["name"] if category else code

    def lineage(self, code: str) -> list[str]:
        """``code`` and its ancestors, nearest first."""
        chain = []
        while code is not None and code in self.categories and code not in chain:
            chain.append(code)
            code = self.categories[code].get("parent")
        return chain

    def subtree(self, code: str) -> set[str]:
        """``code`` and every category below it."""
        return {c for c in self.categories if code in self.lineage(c)}

    def top_level(self) -> list[str]:
        return [c for c, v in self.categories.items() if not v.get("parent")]

    def recogniser(self, category: str, item: str | None = None) -> str | None:
        """Who recognises credits of this item or category: the item's, else the nearest category's."""
        if item and self.items.get(item, {}).get("recognised_by"):
            return self.items[item]["recognised_by"]
        for code in self.lineage(category):
            if self.categories[code].get("recognised_by"):
                return self.categories[code]["recognised_by"]
        return None

    # conversion

    def conversion(self, category: str, item: str | None = None, level: str | None = None) -> tuple[float, float]:
        """(hours, credits): so many hours count as so many credits. The most specific rule wins: the
        item's, then the category's (by level, then flat), then its parents', then the default."""
        units = self.body["units"]
        candidates = []
        if item and self.items.get(item, {}).get("conversion"):
            candidates.append(self.items[item]["conversion"])
        candidates.extend(units["categories"][code] for code in self.lineage(category) if code in units["categories"])
        candidates.append(units["default"])
        for rule in candidates:
            if level and level in (rule.get("by_level") or {}):
                by_level = rule["by_level"][level]
                return float(by_level["hours"]), float(by_level["credits"])
            if "hours" in rule:
                return float(rule["hours"]), float(rule["credits"])
        return 1.0, 1.0

    def credits_for(self, hours: float, category: str, item: str | None = None, level: str | None = None) -> float:
        per_hours, credits = self.conversion(category, item, level)
        return round(hours * credits / per_hours, 2)

    def default_hours(self, item: str, level: str | None = None) -> float | None:
        spec = self.items[item]
        if level and level in (spec.get("hours_by_level") or {}):
            return float(spec["hours_by_level"][level])
        return float(spec["hours"]) if spec.get("hours") is not None else None

    # periods

    def school_year(self, day: date) -> Period:
        return school_year_of(day, self._periods["school_year_start"])

    def semester(self, day: date) -> Period:
        return semester_of(day, self._periods["school_year_start"], self._periods["semester_starts"],
                           self._periods.get("semester_names"))

    def cycle_kinds(self) -> list[str]:
        return list(self._periods["cycles"])

    def first_year(self, user: User) -> Period | None:
        """The user's first year as a new teacher (None without a hire date)."""
        if user.hire_date is None:
            return None
        spec = self._periods.get("first_year") or {}
        return first_year_of(user.hire_date, spec.get("months_before", 12), spec.get("months", 12), spec.get("name"))

    def period(self, kind: str, day: date, user: User | None = None) -> Period | None:
        """The period of ``kind`` containing ``day`` (``first_year``: the user's, None when ``day`` is outside)."""
        if kind == "semester":
            return self.semester(day)
        if kind == "school_year":
            return self.school_year(day)
        if kind == "month":
            return month_of(day)
        if kind == "week":
            return week_of(day)
        if kind == "first_year":
            first = self.first_year(user) if user is not None else None
            return first if first is not None and day in first else None
        spec = self._periods["cycles"][kind]
        return cycle_of(day, parse_date(spec["anchor"]), spec["years"], kind, spec.get("name"))

    def bounded_kinds(self) -> set[str]:
        """Period kinds any requirement, audience or item cap bounds."""
        if self._bounded is not None:
            return self._bounded
        kinds = set(self.body["requirements"])
        for audience in self.body["audiences"].values():
            kinds.update(audience.get("requirements") or {})
        for item in self.items.values():
            kinds.update(item.get("caps") or {})
        self._bounded = kinds
        return kinds

    def periods_on(self, day: date, user: User | None = None) -> list[Period]:
        """Every period containing ``day``: the first year of ``user`` (a new teacher) where the rules bound it, the
        semester, the school year, each cycle, then the months and weeks where the rules bound them."""
        bounded = self.bounded_kinds()
        # a new teacher's own year first: while it runs it is what matters most to them
        kinds = [*(["first_year"] if "first_year" in bounded else []), *FIXED_PERIODS, *self.cycle_kinds(),
                 *(k for k in ("month", "week") if k in bounded)]
        return [p for p in (self.period(kind, day, user) for kind in kinds) if p is not None]

    def window(self, category: str) -> tuple[str, str, str] | None:
        """The ``window`` of the category or its nearest ancestor that has one: (that category, from, to)."""
        for code in self.lineage(category):
            window = self.categories[code].get("window")
            if window:
                return code, str(window["from"]), str(window["to"])
        return None

    def in_window(self, category: str, day: date) -> bool:
        """True when hours of ``category`` earned on ``day`` may be recognised (no window: always)."""
        window = self.window(category)
        if window is None:
            return True
        _, start, end = window
        if parse_date(start) is not None:
            return parse_date(start) <= day <= parse_date(end)
        year = self.school_year(day)
        low = self._in_year(year, parse_month_day(start))
        high = self._in_year(year, parse_month_day(end))
        return low <= day <= high if low <= high else (day >= low or day <= high)

    @staticmethod
    def _in_year(year: Period, month_day: tuple[int, int] | None) -> date:
        assert month_day is not None
        candidate = date(year.start.year, *month_day)
        return candidate if candidate >= year.start else date(year.start.year + 1, *month_day)

    # audiences and requirements

    def audiences_for(self, user: User, on: date, roles: Iterable[str] = ()) -> list[str]:
        """The audiences (in declaration order) whose every condition the user meets on ``on``."""
        roles = set(roles)
        matched = []
        for code, audience in self.body["audiences"].items():
            when = audience["when"]
            checks = []
            if "new_teacher" in when:
                first = self.first_year(user)
                checks.append((first is not None and on in first) == when["new_teacher"])
            if "class_teacher" in when:
                checks.append(bool(user.is_class_teacher) == when["class_teacher"])
            if "roles" in when:
                checks.append(bool(roles & set(when["roles"])))
            if "backbone_levels" in when:
                level = user.backbone_level.value if user.backbone_level else None
                checks.append(level in when["backbone_levels"])
            if "tiers" in when:
                checks.append(user.training_tier in when["tiers"])
            if "employment_types" in when:
                checks.append(user.employment_type in when["employment_types"])
            if checks and all(checks):
                matched.append(code)
        return matched

    def needs_roles(self) -> bool:
        return any("roles" in a["when"] for a in self.body["audiences"].values())

    def requirements(self, audiences: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
        """The requirements per period kind, with each audience's merged over them in order."""
        requirements = self.body["requirements"]
        for code in audiences:
            requirements = merge(requirements, self.body["audiences"][code].get("requirements") or {})
        return _strip_nulls(requirements)

    def bound_measure(self, bound: dict[str, Any]) -> str:
        return bound.get("measure") or self.measure

    def display_measure(self) -> str:
        """What a line without a bound of its own is shown in: the measure of the rule set's totals when they all
        agree (the demo city bounds totals in hours over Yueyang's credits), else ``units.measure``; so one
        period's lines are not shown in credits beside another's in hours for the same entries."""
        if self._display_measure is None:
            blocks = [*self.body["requirements"].values(),
                      *(block for a in self.body["audiences"].values()
                        for block in (a.get("requirements") or {}).values())]
            measures = {self.bound_measure(block["total"]) for block in blocks if block and block.get("total")}
            self._display_measure = measures.pop() if len(measures) == 1 else self.measure
        return self._display_measure

    def certificates(self) -> dict[str, dict[str, Any]]:
        """Certificates the rule set defines (``certificates``): code → name, period kind, requires_met."""
        return self.body.get("certificates") or {}

    def may_share(self, first: str, second: str) -> bool:
        """True when one piece of evidence may back entries in both categories (``shared_evidence``)."""
        for rule in self.body["shared_evidence"]:
            groups = rule["categories"]
            hit_first = {g for g in groups if g in self.lineage(first)}
            hit_second = {g for g in groups if g in self.lineage(second)}
            if hit_first and hit_second and hit_first != hit_second:
                return True
        return False


def compile_rules(rule_set: RuleSet) -> Rules:
    return Rules(rule_set)
