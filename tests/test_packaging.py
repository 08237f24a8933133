"""The conda environment and the pip install cannot drift apart."""

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _environment_pip() -> list[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    for dep in env["dependencies"]:
        if isinstance(dep, dict) and "pip" in dep:
            return dep["pip"]
    raise AssertionError("environment.yml has no pip section")


def test_environment_yml_mirrors_every_pyproject_requirement():
    project = _pyproject()["project"]
    wanted = list(project["dependencies"]) + list(project["optional-dependencies"]["dev"])
    pip = [d for d in _environment_pip() if not d.startswith("-e")]
    assert sorted(pip) == sorted(wanted)


def test_environment_yml_installs_the_package_itself():
    assert "-e ." in _environment_pip()


def test_environment_yml_python_matches_requires_python():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    requires = _pyproject()["project"]["requires-python"]
    assert f"python{requires}" in env["dependencies"]


def test_every_requirement_has_a_lower_bound():
    project = _pyproject()["project"]
    for req in list(project["dependencies"]) + list(project["optional-dependencies"]["dev"]):
        assert ">=" in req, f"{req} has no lower bound"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme
    assert "make test" in ci


def test_data_model_page_is_generated_from_the_schema():
    from kpikit.schema import data_model_markdown

    page = (ROOT / "docs" / "data-model.md").read_text(encoding="utf-8")
    assert page == data_model_markdown(), "run `kpikit schema > docs/data-model.md`"
