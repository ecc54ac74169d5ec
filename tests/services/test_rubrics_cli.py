"""``flask rubrics validate|load``: messages naming the indicator, exit codes, idempotent loading."""

from pathlib import Path

import sqlalchemy as sa
from flask_babel import force_locale

from webapp.models import RubricVersion

RUBRICS_DIR = Path(__file__).resolve().parents[2] / "rubrics"


def run(app, *args):
    with force_locale("en"):
        return app.test_cli_runner().invoke(args=list(args))


def test_validate_the_rubrics_folder(app, db):
    result = run(app, "rubrics", "validate", str(RUBRICS_DIR))
    assert result.exit_code == 0, result.output
    assert f"{RUBRICS_DIR / 'school-based-training.yaml'}: OK (school-based-training)" in result.output


def test_load_twice_then_a_bad_file_loads_nothing(app, db, tmp_path):
    first = run(app, "rubrics", "load", str(RUBRICS_DIR))
    assert first.exit_code == 0, first.output
    assert "school-based-training version 1 loaded" in first.output
    again = run(app, "rubrics", "load", str(RUBRICS_DIR))
    assert "school-based-training version 1 unchanged" in again.output
    bad = tmp_path / "bad.yaml"
    bad.write_text((RUBRICS_DIR / "school-based-training.yaml").read_text(encoding="utf-8")
                   .replace("max_points: 6\n        guidance: 有学校", "max_points: -6\n        guidance: 有学校"),
                   encoding="utf-8")
    result = run(app, "rubrics", "load", str(bad))
    assert result.exit_code == 1
    message = "indicator 1.1 校本研修规划制定与方案审定 (plan): max_points must be a number above 0."
    assert f"{bad}: {message}" in result.output
    assert db.session.scalar(sa.select(sa.func.count(RubricVersion.id))) == 1
