"""``make test`` on a developer's machine: the whole suite, PostgreSQL and Redis tests included.

``python -m tests.servers [pytest arguments]`` runs pytest with ``YANXUN_TEST_DATABASE_URL`` and
``YANXUN_TEST_REDIS_URL`` pointing at throw-away servers it starts for this run (in a temporary folder, on free
ports, nothing kept) and stops afterwards. A variable that is set already is left alone: CI sets both
(``.ci/run``), and so may a developer with servers of their own. Under ``CI=true`` nothing is started (the suite
refuses to run without both there). ``YANXUN_TEST_SERVERS=off`` starts nothing, for a run on SQLite.

A server that is not installed is not started; the suite then runs without it and its summary says loudly what
was skipped and why (``tests/conftest.py``). PostgreSQL refuses to run as root: as root, the throw-away cluster
runs as the ``postgres`` user (Debian's package creates it), and is not started when there is no such user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.process_support import free_port, redis_answers, redis_command

#: Set by this wrapper for the test run: which servers it started (for the summary in ``tests/conftest.py``).
STARTED_VARIABLE = "YANXUN_TEST_THROWAWAY"
READY_SECONDS = 30


def say(message: str) -> None:
    print(f"[test servers] {message}", file=sys.stderr, flush=True)


def wait_until(check: Callable[[], bool], process: subprocess.Popen, what: str, log: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} ended at start (exit {process.returncode}); see {log}:\n{tail(log)}")
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer within {READY_SECONDS} s; see {log}:\n{tail(log)}")


def tail(log: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    return ""


def stop(process: subprocess.Popen, how: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(how)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- PostgreSQL ----------------------------------------------------------------------------------------------

def postgresql_binaries() -> Path | None:
    """The folder with ``initdb`` and ``postgres``: on PATH, else Debian's newest /usr/lib/postgresql/<v>/bin."""
    on_path = shutil.which("initdb")
    if on_path:
        folder = Path(os.path.realpath(on_path)).parent
        if (folder / "postgres").exists():
            return folder
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda path: [int(part) for part in Path(path).parts[-3].split(".") if part.isdigit()])
    return Path(versions[-1]).parent if versions else None


def postgresql_user() -> dict[str, object] | None:
    """How to run PostgreSQL's programs: as ourselves, or (as root, which they refuse) as the ``postgres`` user;
    None when we are root and there is no such user."""
    if os.geteuid() != 0:
        return {}
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        return None
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


@contextlib.contextmanager
def postgresql(folder: Path) -> Iterator[str]:
    """A PostgreSQL cluster in ``folder`` on a free port, trusting local connections; yields its URL."""
    binaries = postgresql_binaries()
    run_as = postgresql_user()
    if run_as is None:
        raise RuntimeError("PostgreSQL refuses to run as root and there is no 'postgres' user to run it as")
    assert binaries is not None
    if run_as:
        folder.parent.chmod(0o711)  # the run's temporary folder: the postgres user passes through to its own
        os.chown(folder, run_as["user"], run_as["group"])  # type: ignore[arg-type]
    log = folder / "postgresql.log"
    data = folder / "data"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    with open(log, "ab") as out:
        subprocess.run([str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                        "--no-locale", "--no-sync"], check=True, stdout=out, stderr=subprocess.STDOUT, cwd=folder,
                       env=env, **run_as)
    if run_as:
        os.chown(log, run_as["user"], run_as["group"])  # type: ignore[arg-type]
    port = free_port()
    with open(log, "ab") as out:
        server = subprocess.Popen(
            [str(binaries / "postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1", "-k", str(folder),
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=200"],
            stdout=out, stderr=subprocess.STDOUT, cwd=folder, env=env, start_new_session=True, **run_as)
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        wait_until(lambda: postgresql_answers(url), server, "PostgreSQL", log)
        yield url
    finally:
        stop(server, signal.SIGINT)  # "fast" shutdown: ends the sessions a killed test may have left


def postgresql_answers(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=1):
            return True
    except psycopg.OperationalError:
        return False


# -- Redis ---------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def redis(folder: Path) -> Iterator[str]:
    """A Redis server keeping nothing on disk, on a free port; yields the URL of its database 15."""
    port = free_port()
    log = folder / "redis.log"
    with open(log, "ab") as out:
        server = subprocess.Popen(redis_command(port, folder), stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    url = f"redis://127.0.0.1:{port}/15"
    try:
        wait_until(lambda: redis_answers(url), server, "Redis", log)
        yield url
    finally:
        stop(server)


# -- the run -------------------------------------------------------------------------------------------------

def main(pytest_args: list[str]) -> int:
    env = dict(os.environ)
    in_ci = env.get("CI", "").lower() in {"1", "true", "yes"}
    wanted = env.get("YANXUN_TEST_SERVERS", "auto").lower() not in {"off", "0", "no", "none"}
    started: list[str] = []
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="yanxun-test-servers-")))
        plans = (("YANXUN_TEST_DATABASE_URL", "PostgreSQL", postgresql_binaries() is not None, postgresql),
                 ("YANXUN_TEST_REDIS_URL", "Redis", shutil.which("redis-server") is not None, redis))
        for variable, name, installed, start in plans:
            if env.get(variable):
                say(f"{name}: {variable} is set; using it")
            elif in_ci or not wanted:
                say(f"{name}: not started ({'CI sets its own servers' if in_ci else 'YANXUN_TEST_SERVERS=off'})")
            elif not installed:
                say(f"{name}: NOT INSTALLED; the tests that need it will be skipped")
            else:
                place = folder / name.lower()
                place.mkdir()
                try:
                    env[variable] = stack.enter_context(start(place))
                except (OSError, RuntimeError, subprocess.CalledProcessError) as error:
                    say(f"{name}: COULD NOT START, the tests that need it will be skipped: {error}")
                    continue
                started.append(name)
                say(f"{name}: started a throw-away server for this run at {env[variable]}")
        env[STARTED_VARIABLE] = ",".join(started)
        test_run = subprocess.Popen([sys.executable, "-m", "pytest", *pytest_args], env=env)
        signal.signal(signal.SIGTERM, lambda signum, _: test_run.send_signal(signum))  # then stop the servers
        try:
            return test_run.wait()
        except KeyboardInterrupt:  # pytest got it too (same process group): let it finish its report
            return test_run.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
