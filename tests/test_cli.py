"""The kpikit command, called in-process."""

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from kpikit import __version__
from kpikit.cli import app

runner = CliRunner()


def _subcommands() -> list[str]:
    return sorted(get_command(app).commands)  # type: ignore[attr-defined]


def test_version_flag_prints_the_package_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"kpikit {__version__}"


@pytest.mark.parametrize("name", _subcommands())
def test_every_subcommand_has_help(name):
    result = runner.invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    # every subcommand documents itself in more than its usage line
    assert len(result.output.splitlines()) > 5


def test_schema_prints_every_canonical_table():
    from kpikit.schema import TABLE_NAMES

    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    for name in TABLE_NAMES:
        assert f"## `{name}`" in result.output


def test_validate_on_a_missing_path_is_a_clear_error_not_a_traceback(tmp_path):
    result = runner.invoke(app, ["validate", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "no such file or folder" in result.output
    assert "Traceback" not in result.output


def test_import_command_writes_and_validates_the_public_maven_dataset(tmp_path):
    from pathlib import Path

    maven = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "maven_crm"
    if not maven.exists():
        pytest.skip(f"the public dataset is not at {maven}")
    files = [str(p) for p in sorted(maven.glob("*.csv"))]
    result = runner.invoke(app, ["import", "maven", *files, "--out", str(tmp_path / "org")])
    assert result.exit_code == 0, result.output
    assert "the dataset is valid" in result.output
    assert "not available" in result.output  # what the export lacks is said, per metric
    assert (tmp_path / "org" / "opportunities.csv").exists()


def test_import_command_rejects_an_unknown_source(tmp_path):
    result = runner.invoke(app, ["import", "zoho", str(tmp_path / "x.csv"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_demo_command_generates_validates_and_renders_the_sample_org(tmp_path):
    result = runner.invoke(app, ["demo", str(tmp_path / "demo"), "--reps", "6", "--months", "3"])
    assert result.exit_code == 0, result.output
    assert "the dataset is valid" in result.output
    assert "Headline numbers for 2026-10" in result.output
    reports = tmp_path / "demo" / "reports"
    assert len(list(reports.glob("*.html"))) == 6 + 1  # six reps and the index
    assert (tmp_path / "demo" / "team_overview.html").exists()
