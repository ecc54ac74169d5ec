"""docker-compose.yml and the Dockerfile match the code: Docker cannot run here, so their structure is checked.

Every command names a real entry point (``webapp:create_app()``, the ``webapp.worker`` Celery app and its
jobs, the flask commands of the migration), every ``YANXUN_*`` variable is a setting the app reads, every
long-running service has a health check and a restart policy, there is one beat, and the evidence volume
is shared by web and the workers.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from webapp.config import DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
LONG_RUNNING = ("postgres", "redis", "web", "worker", "beat")
APP_SERVICES = ("migrate", "web", "worker", "beat")
JOBS = {"yanxun.tick_timers", "yanxun.deliver_notifications", "yanxun.daily_digest"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _command(service: dict) -> list[str]:
    command = service["command"]
    return command if isinstance(command, list) else command.split()


def _healthcheck(service: dict) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test[1:]) if isinstance(test, list) else test


def _app_environment(tmp_path: Path) -> dict[str, str]:
    """What the containers set, pointed at throw-away local resources (nothing is contacted on import)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("YANXUN_")}
    env.update({"YANXUN_DATABASE_URL": f"sqlite:///{tmp_path / 'compose.db'}", "YANXUN_SECRET_KEY": "c" * 40,
                "YANXUN_REDIS_URL": "redis://127.0.0.1:9/0", "YANXUN_EVIDENCE_DIR": str(tmp_path / "evidence"),
                "PYTHONPATH": str(ROOT)})
    return env


def test_the_stack_has_its_services(services):
    assert set(services) == {"postgres", "redis", "migrate", "web", "worker", "beat"}


def test_long_running_services_have_health_checks_and_restart(services):
    for name in LONG_RUNNING:
        service = services[name]
        assert service.get("restart") in {"unless-stopped", "always"}, name
        check = service.get("healthcheck") or {}
        assert check.get("test") and check.get("interval") and check.get("retries"), name
    assert services["migrate"]["restart"] == "no", "the migration runs once"


def test_app_services_start_after_the_migration(services):
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name


def test_web_serves_the_app_factory_with_gunicorn(services):
    import gunicorn  # noqa: F401  (a dependency of the image)

    from webapp import create_app

    command = _command(services["web"])
    assert command[0] == "gunicorn"
    assert command[-1] == "webapp:create_app()"
    assert callable(create_app)
    assert "/healthz" in _healthcheck(services["web"])


def test_worker_and_beat_run_the_celery_app(services):
    worker, beat = _command(services["worker"]), _command(services["beat"])
    assert worker[:4] == ["celery", "-A", "webapp.worker", "worker"]
    assert beat[:4] == ["celery", "-A", "webapp.worker", "beat"]
    assert "celery -A webapp.worker inspect ping" in _healthcheck(services["worker"])
    # $$ is compose's escape: the container's shell expands $HOSTNAME (the node name's %h).
    assert "-d celery@$$HOSTNAME" in _healthcheck(services["worker"]), "the worker pings itself, not any worker"
    assert "celery -A webapp.worker inspect ping" in _healthcheck(services["beat"])
    assert "-d celerybeat@$$HOSTNAME" in _healthcheck(services["beat"])
    assert "--enable-remote-control" in beat, "beat answers the ping only with remote control on"


def test_exactly_one_beat_with_its_schedule_on_a_volume(services):
    beat = services["beat"]
    assert beat["deploy"]["replicas"] == 1
    command = _command(beat)
    schedule = command[command.index("--schedule") + 1]
    mounts = dict(reversed(volume.split(":")[:2]) for volume in beat["volumes"])
    assert any(schedule.startswith(path.rstrip("/") + "/") for path in mounts), (schedule, mounts)


def test_the_celery_app_imports_with_the_containers_environment(tmp_path):
    """``celery -A webapp.worker`` finds ``celery`` there, with the jobs beat sends."""
    script = ("import json, webapp.worker as w; "
              "print(json.dumps({'tasks': sorted(w.celery.tasks), "
              "'beat': sorted(e['task'] for e in w.celery.conf.beat_schedule.values()), "
              "'broker': w.celery.conf.broker_url}))")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=_app_environment(tmp_path),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(found["tasks"]) >= JOBS
    assert set(found["beat"]) >= JOBS, "beat sends the timer tick, the email sweep and the digest"
    assert set(found["beat"]) <= set(found["tasks"]), "every job beat sends is one the workers know"
    assert found["broker"] == "redis://127.0.0.1:9/0"


def test_the_migration_runs_real_commands_on_real_folders(services, tmp_path):
    (shell, flag, script) = _command(services["migrate"])
    assert (shell, flag) == ("sh", "-c")
    steps = [step.split() for step in script.split("&&")]
    assert [step[:3] for step in steps] == [["flask", "--app", "webapp"]] * len(steps)
    assert [step[3:5] for step in steps] == [["db", "upgrade"], ["rules", "load"], ["rubrics", "load"],
                                         ["workflows", "deploy"]]
    for step in steps:
        for folder in step[5:]:
            assert (ROOT / folder).is_dir(), folder
        result = subprocess.run([sys.executable, "-m", "flask", *step[1:5], "--help"], cwd=ROOT,
                                env=_app_environment(tmp_path), capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, (step, result.stderr)


def test_every_yanxun_variable_is_a_setting(compose, services):
    names = set()
    for service in (compose["x-app"], *services.values()):
        names.update(key for key in (service.get("environment") or {}) if key.startswith("YANXUN_"))
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    names.update(re.findall(r"\$\{(YANXUN_\w+?)(?::?[-?][^}]*)?\}", text))
    assert names, "the stack configures the app through YANXUN_* variables"
    unknown = sorted(name for name in names if name.removeprefix("YANXUN_") not in DEFAULTS)
    assert not unknown, f"not settings of webapp/config.py: {unknown}"


def test_app_services_share_one_configuration(services):
    environments = [services[name]["environment"] for name in APP_SERVICES]
    assert all(env == environments[0] for env in environments)
    env = environments[0]
    assert env["YANXUN_ENV"] == "production"
    assert env["YANXUN_REDIS_URL"].startswith("redis://redis:")
    assert "@postgres:" in env["YANXUN_DATABASE_URL"]


def test_evidence_volume_is_shared_by_web_and_workers(compose, services):
    evidence_dir = compose["x-app"]["environment"]["YANXUN_EVIDENCE_DIR"]
    mounted = {}
    for name in ("web", "worker"):
        mounts = {target: source for source, target in (v.split(":")[:2] for v in services[name]["volumes"])}
        assert evidence_dir in mounts, name
        mounted[name] = mounts[evidence_dir]
    assert mounted["web"] == mounted["worker"]
    assert mounted["web"] in compose["volumes"], "a named volume, not a container's own folder"


def test_dockerfile_makes_the_mounted_folders_writable_and_ships_the_assets(services):
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    owned = {path for line in re.findall(r"chown\s+yanxun:yanxun\s+([^\n\\]+)", dockerfile) for path in line.split()}
    for name in ("web", "worker", "beat"):
        for volume in services[name]["volumes"]:
            assert volume.split(":")[1] in owned, f"{volume}: the image must create it owned by the app user"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    vendored = set(re.findall(r"node_modules/[\w.-]+/\S+\.(?:js|css)\b", makefile))
    assert vendored and vendored <= set(re.findall(r"node_modules/[\w.-]+/\S+\.(?:js|css)\b", dockerfile)), \
        "the image ships the same front-end files as `make assets`"
