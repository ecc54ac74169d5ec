"""Credit-hour application and recognition (学时申请与认定): a teacher applies with evidence, the subgroup leader,
the school and (for some categories) the county review, and recognised hours go to the teacher's ledger.

Everything of this process lives here (models, services, service-task handlers, views, templates, what its
records say on the generic pages) plus ``workflows/credit_application/`` and ``forms/credit.py``. The app
calls :func:`register` at start; the generic layers then find it through ``webapp.services.processes``.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

import forms.credit  # noqa: F401  (registers the credit.* form keys the diagram names)
from webapp.models import Role
from webapp.processes.credit_application import applications, demo, handlers, records, views
from webapp.services import processes
from webapp.services.runtime import services

PACKAGE = processes.ProcessPackage(
    key=applications.PROCESS_KEY,
    name=_l("Credit-hour application"),
    form_keys=applications.FORM_KEYS,
    protected=True,  # it posts credits: new versions need an administrator
    started_by_package=True,  # the application page creates the record the instance references
    self_review_forms=frozenset({"credit.review"}),  # the applicant never reviews their own application
    quiet_forms=frozenset({"credit.application"}),  # credit.notify tells the teacher why it came back
    service_handlers=handlers.HANDLERS,
    summarise=records.summarise,
    search=records.search,
    filters=(processes.InboxFilter("category", _l("Category"), records.categories_of, records.instances_in_category),),
    task_page=views.task_page,
    complete=applications.complete_from_api,
    bulk=processes.BulkAction(
        form_keys=frozenset({"credit.review"}), run=applications.bulk_approve,
        label=_l("Approve the selected applications with the hours asked, with one comment:"),
        confirm=_l("Approve the {n} selected applications, {total} hours in all, with the hours asked?")),
    event_words={"application.submit": _l("Submitted the application"),
                 "application.resubmit": _l("Revised and resubmitted")},
    describe_completion=records.describe_completion,
    steps_to_come=records.steps_to_come,
    on_cancel=applications.cancelled,
    demo=demo.seed,
    nav=(processes.NavLink("applications.index", _l("My applications"), frozenset({Role.TEACHER})),),
    home=(processes.NavLink("applications.new", _l("Apply for credit hours"), frozenset({Role.TEACHER}),
                            primary=True),),
)


def register(app: Flask) -> None:
    """Add the process to the registry, its service handlers to the runtime and its pages to ``app``."""
    processes.register(PACKAGE)
    for topic, handler in PACKAGE.service_handlers.items():
        if topic not in services:
            services.register(topic, handler)
    app.register_blueprint(views.bp)
