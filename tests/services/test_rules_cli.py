"""``flask rules validate|load``: exact messages, exit codes, idempotent loading."""

from pathlib import Path

import sqlalchemy as sa

from webapp.models import RuleSet

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def broken_dali(tmp_path: Path) -> Path:
    path = tmp_path / "dali.yaml"
    path.write_text((RULES_DIR / "shaanxi-dali-2020.yaml").read_text(encoding="utf-8")
                    .replace("school_activity: {min: 18,", "school_activity: {min: abc,"), encoding="utf-8")
    return path


def test_validate_the_rules_folder(app, db):
    result = run(app, "rules", "validate", str(RULES_DIR))
    assert result.exit_code == 0, result.output
    assert f"{RULES_DIR / 'shaanxi-dali-2020.yaml'}: OK (dali-2020, 610523, from 2020-10-16)" in result.output


def test_validate_names_the_file_and_key(app, db, tmp_path):
    path = broken_dali(tmp_path)
    result = run(app, "rules", "validate", str(path))
    assert result.exit_code == 1
    message = f"{path}: requirements.semester.categories.school_activity.min: expected a number, got 'abc'"
    assert message in result.output


def test_load_twice_then_a_bad_file_loads_nothing(app, db, tmp_path):
    first = run(app, "rules", "load", str(RULES_DIR))
    assert first.exit_code == 0, first.output
    assert "dali-2020 version 1 loaded" in first.output
    assert "note: no organisation has the jurisdiction code yet" in first.output
    second = run(app, "rules", "load", str(RULES_DIR))
    assert second.exit_code == 0 and "dali-2020 version 1 unchanged" in second.output
    count = db.session.scalar(sa.select(sa.func.count()).select_from(RuleSet))
    assert count == 6
    bad = run(app, "rules", "load", str(RULES_DIR), str(broken_dali(tmp_path)))
    assert bad.exit_code == 1
    assert "school_activity.min: expected a number, got 'abc'" in bad.output
    assert "'dali-2020' is also the id of" in bad.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RuleSet)) == count


def test_missing_path(app, db, tmp_path):
    result = run(app, "rules", "validate", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 1 and "no such file or folder" in result.output
