"""Process packages: one self-contained package per process (its models, services, views, templates, service
handlers and its registration). ``create_app`` registers each; the generic layers meet them only through
``webapp.services.processes``, and no process imports another (import-linter holds both rules)."""
