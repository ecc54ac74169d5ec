"""The names the diagram and the campaign share: the process key, its user tasks, form keys and stages."""

from __future__ import annotations

PROCESS_KEY = "semester_summary"
PERSONAL, SUBGROUP, COMPILE, SIGN, REVIEW = (
    "PersonalSummary", "SubgroupSummary", "SchoolCompile", "PrincipalSign", "CountyReview")
FORM_KEYS = frozenset({"summary.personal", "summary.subgroup", "summary.compile", "summary.sign",
                       "summary.county_review"})
#: Message that ends the collection of personal summaries (截止收集).
CLOSE_MESSAGE = "summary.close_collection"
#: Campaign stage key -> the user tasks of that stage (the county's review has no deadline of its own).
STAGE_TASKS = {"personal": frozenset({PERSONAL}), "subgroup": frozenset({SUBGROUP}),
               "school": frozenset({COMPILE, SIGN})}
