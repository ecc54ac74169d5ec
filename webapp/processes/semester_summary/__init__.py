"""Semester summary and self-check (学期总结与自查): run by a county as a campaign over its schools. In each school
the teachers write their personal summaries, the subgroup leaders their subgroups', the school's training officer
compiles the school's summary and self-check with the ledger's figures, the principal signs and the county
accepts or returns it.

The seeds ask for it: [000] 第26条 "学校每学年都应进行校本培训工作的总结和自查"; [003] 七.3(3) "集团总校、各学校做好
网络研修、校本研修学期总结工作".

Everything of this process lives here plus ``workflows/semester_summary/`` and ``forms/summary.py``; the app calls
:func:`register` at start.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

import forms.summary  # noqa: F401  (registers the summary.* form keys the diagram names)
from webapp.models import Role
from webapp.processes.semester_summary import archive, demo, records, summaries, views
from webapp.processes.semester_summary.stages import FORM_KEYS, PROCESS_KEY, REVIEW, STAGE_TASKS
from webapp.services import processes

PACKAGE = processes.ProcessPackage(
    key=PROCESS_KEY,
    name=_l("Semester summary and self-check"),
    form_keys=FORM_KEYS,
    started_by_package=True,  # the campaign starts one instance per school, with the school's teachers
    summarise=records.summarise,
    task_page=views.task_page,
    complete=summaries.complete_from_api,
    event_words={"summary.close_collection": _l("Closed the collection of personal summaries"),
                 "summary.personal_save": _l("Saved a draft of the personal summary")},
    describe_completion=records.describe_completion,
    steps_to_come=records.steps_to_come,
    demo=demo.seed,
    nav=(processes.NavLink("summary_archive.mine", _l("My semester summaries"), frozenset({Role.TEACHER})),
         processes.NavLink("summaries.school", _l("School semester summaries"),
                           frozenset({Role.SCHOOL_OFFICER, Role.PRINCIPAL})),
         processes.NavLink("summary_archive.index", _l("Semester summary archive"), archive.ARCHIVE_ROLES)),
    home=(processes.NavLink("summary_archive.mine", _l("My semester summaries"), frozenset({Role.TEACHER})),),
    campaign=processes.CampaignSpec(
        stages=(processes.CampaignStage("personal", _l("Personal summaries"), STAGE_TASKS["personal"]),
                processes.CampaignStage("subgroup", _l("Subgroup summaries"), STAGE_TASKS["subgroup"], 21),
                processes.CampaignStage("school", _l("School summary and self-check"), STAGE_TASKS["school"], 28),
                processes.CampaignStage("county", _l("County review"), frozenset({REVIEW}), timed=False)),
        start_variables=summaries.start_variables,
        default_title=records.default_title,
        facts=(("personal_in", _l("Personal summaries in")), ("personal_expected", _l("Personal summaries due")))),
    withdrawn_when_assignee_leaves=frozenset({"summary.personal"}),
    on_withdrawn=summaries.withdrawn,
)


def register(app: Flask) -> None:
    """Add the process to the registry and its pages to ``app`` (the core registers ``campaign.remind``)."""
    processes.register(PACKAGE)
    app.register_blueprint(archive.bp)
    app.register_blueprint(views.bp)
