"""Batch report generation: fault isolation, resume, atomic outputs, safe names, privacy, and
no state crossing between reps rendered in the same (reused) kernel.

Most tests read one batch run on a small sample org (8 reps x 3 months) whose rep ids and
names are hostile (quotes, slashes, ``..``, HTML, unicode, shell characters, ids that only
differ in case or in characters the file name drops), two of whose reps fail on purpose
through the test-only hook ``KPIKIT_TEST_FAULTS`` (one raises in its notebook, one's kernel
exits with ``os._exit``).
"""

from __future__ import annotations

import ast
import base64
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from typer.testing import CliRunner

import kpikit
from kpikit import batch, reports
from kpikit.batch import TEST_FAULTS_ENV, BatchError, ReusableKernel, data_fingerprint, run_batch
from kpikit.cli import app
from kpikit.reports import ReportError, check_parameters, file_stems, publish, render_rep_report
from kpikit.synth import write_demo_data

PERIOD = "2026-10"
#: sample rep id -> (hostile id, hostile name)
HOSTILE = {
    "R001": ("R'1\"", "O'Brien \"Bob\""),
    "R002": ("../../etc/passwd", "<img src=x onerror=alert(1)>"),
    "R003": ("<script>alert('x')</script>", "*Ann* _Lee_ [x](javascript:alert(1))"),
    "R004": ("Zoë Ø 東京", "Zoë Ødegård"),
    "R005": ("$(touch pwned); rm -rf ~ | x `id`", "Eve & <Mallory>"),
    "R006": ("Rep-Ab", "Quentin Quill"),
    "R007": ("rep-ab", "Wanda Wisp"),
    "R008": ("rep/ab", "Xavier Yarrow"),
}
TEAM = 'West <b>&</b> "Ops"'
RAISES = "Zoë Ø 東京"  # its notebook raises
EXITS = "rep/ab"  # its kernel calls os._exit(3)
FILE_NAME = re.compile(r"[A-Za-z0-9_-]+(\.failed)?\.(html|ipynb|pdf)|index\.html|manifest\.json")


def _hostile_org(folder: Path) -> Path:
    """The sample org with every rep id (in every table) and name replaced by a hostile one,
    and its last four reps moved to a team with a hostile name."""
    write_demo_data(folder, reps=8, months=3, end=PERIOD, seed=4)
    ids = {k: v[0] for k, v in HOSTILE.items()}
    names = {k: v[1] for k, v in HOSTILE.items()}
    for f in folder.glob("*.csv"):
        df = pd.read_csv(f, dtype=str, keep_default_na=False)
        if "rep_id" in df.columns:
            if f.name == "reps.csv":
                df["name"] = df["rep_id"].map(names)
                df.loc[df["rep_id"] >= "R005", "team"] = TEAM
            df["rep_id"] = df["rep_id"].map(lambda r: ids.get(r, r))
            df.to_csv(f, index=False)
    return folder


@pytest.fixture(scope="module")
def org(tmp_path_factory) -> Path:
    return _hostile_org(tmp_path_factory.mktemp("hostile") / "data")


@pytest.fixture(scope="module")
def ds(org) -> kpikit.Dataset:
    return kpikit.load(org)


@pytest.fixture(scope="module")
def run(org, tmp_path_factory) -> batch.BatchResult:
    out = tmp_path_factory.mktemp("batch") / "reports"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(TEST_FAULTS_ENV, json.dumps({RAISES: "raise", EXITS: "exit"}))
        return run_batch(org, PERIOD, out, workers=2, timeout=300, progress=False)


def _status(result: batch.BatchResult, rep_id: str) -> batch.RepStatus:
    return next(r for r in result.reports if r.rep_id == rep_id)


def _strings(value) -> list[str]:
    """Every string inside a JSON value (keys too), decoded."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _readable(path: Path) -> str:
    """A file's text as a reader (or a leak) would see it: HTML unescaped with its base64
    payloads (charts) decoded, a notebook's JSON strings decoded."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".ipynb":
        return text + "\n" + "\n".join(_strings(json.loads(text)))
    parts = [text, html.unescape(text)]
    for payload in re.findall(r"base64,([A-Za-z0-9+/=]+)", text):
        svg = base64.b64decode(payload).decode("utf-8", "replace")
        parts += [svg, html.unescape(svg)]
    return "\n".join(parts)


# -- fault isolation -------------------------------------------------------------------------------


def test_a_failing_rep_does_not_stop_the_batch_and_is_recorded_with_its_reason(run):
    assert _status(run, RAISES).status == "failed"
    assert "RuntimeError" in _status(run, RAISES).reason
    assert _status(run, EXITS).status == "killed"
    assert "kernel died (exit status 3)" in _status(run, EXITS).reason
    ok = [r for r in run.reports if r.rep_id not in (RAISES, EXITS)]
    assert [r.status for r in ok] == ["ok"] * 6
    assert all((run.out / r.outputs["html"]).exists() for r in ok)
    assert not run.ok and len(run.failed) == 2


def test_a_failed_rep_keeps_its_notebook_and_publishes_no_html(run):
    for rep_id, kind in ((RAISES, "error"), (EXITS, "killed")):
        st = _status(run, rep_id)
        assert st.outputs == {}
        assert not (run.out / f"{st.stem}.html").exists()
        assert not (run.out / f"{st.stem}.ipynb").exists()
        nb = nbformat.read(run.out / st.failed_notebook, as_version=4)
        assert st.failed_notebook == f"{st.stem}.failed.ipynb"
        assert nb.metadata.papermill.parameters.rep_id == rep_id
        if kind == "error":
            errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
            assert errors and errors[0].ename == "RuntimeError"


def test_the_summary_names_each_failure_and_how_to_redo_it(run):
    text = run.summary()
    assert "6 report(s) rendered" in text and "2 without a report" in text
    assert repr(RAISES) in text and repr(EXITS) in text and "--resume" in text


# -- names, parameters, escaping ---------------------------------------------------------------------


def test_file_names_are_safe_unique_and_stay_inside_the_folder(run, org):
    files = sorted(p.name for p in run.out.iterdir())
    assert all(FILE_NAME.fullmatch(f) for f in files), files
    stems = [r.stem for r in run.reports]
    assert len({s.casefold() for s in stems}) == 8  # unique even where case is ignored
    assert {s.casefold() for s in stems}.isdisjoint({"index", "manifest"})
    assert not list(run.out.parent.rglob("passwd*"))
    assert not (org.parent / "etc").exists() and not Path("pwned").exists()
    assert sorted(p.parent for p in run.out.rglob("*")) == [run.out] * len(files)


def test_names_and_ids_are_escaped_in_every_html(run):
    pages = sorted(run.out.glob("*.html"))
    assert len(pages) == 7  # six reports and the index
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "<script" not in text.lower() and "<img src=x" not in text and "<b>&</b>" not in text
        assert 'href="javascript' not in text.lower() and "<mallory>" not in text.lower()
    index = (run.out / "index.html").read_text(encoding="utf-8")
    assert html.escape("<script>alert('x')</script>") in index
    assert html.escape("<img src=x onerror=alert(1)>") in index and html.escape(TEAM) in index
    report = (run.out / _status(run, "../../etc/passwd").outputs["html"]).read_text(encoding="utf-8")
    assert "&lt;img src=x onerror=alert(1)&gt;" in report  # the name, shown as typed


def test_parameters_reach_each_notebook_as_the_exact_strings(run):
    for st in run.rendered:
        nb = nbformat.read(run.out / st.outputs["ipynb"], as_version=4)
        cell = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
        values = {
            node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(cell.source).body
        }
        assert values["rep_id"] == st.rep_id and isinstance(values["rep_id"], str)
        assert values["period"] == PERIOD and values["static"] is True
        assert nb.metadata.papermill.parameters.rep_id == st.rep_id


def test_check_parameters_refuses_unknown_names_and_non_json_values():
    with pytest.raises(ReportError, match="unknown report parameter"):
        check_parameters({"rep_id": "x", "__import__('os')": 1})
    with pytest.raises(ReportError, match="finite number"):
        check_parameters({"period": float("nan")})
    with pytest.raises(ReportError, match="must be text"):
        check_parameters({"rep_id": {"a": 1}})
    assert check_parameters({"rep_id": "0042"}) == {"rep_id": "0042"}  # strings stay strings


def test_file_stems_differ_for_ids_differing_only_in_case_or_dropped_characters():
    ids = ["Ab", "ab", "a/b", "a\\b", "a b", "a_b", "index", "CON", "..", ""]
    stems = file_stems(ids)
    assert len({s.casefold() for s in stems.values()}) == len(ids)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", s) for s in stems.values())
    assert stems["a_b"] == "a_b"  # ids that are already safe and unique keep their name
    assert stems["index"].startswith("index-") and stems["CON"].startswith("CON-")
    assert file_stems(["R001", "R002"]) == {"R001": "R001", "R002": "R002"}


# -- manifest and index ------------------------------------------------------------------------------


def test_manifest_records_parameters_status_duration_error_fingerprint_and_version(run, org):
    manifest = json.loads((run.out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["kpikit_version"] == kpikit.__version__
    assert manifest["data_fingerprint"] == data_fingerprint(org) == run.data_fingerprint
    assert manifest["period"] == PERIOD and manifest["formats"] == ["html", "ipynb"]
    assert manifest["counts"]["ok"] == 6 and manifest["counts"]["failed"] == 1
    assert manifest["runs"][-1]["rendered"] == 6 and manifest["runs"][-1]["failed"] == 2
    by_id = {r["rep_id"]: r for r in manifest["reports"]}
    assert set(by_id) == {v[0] for v in HOSTILE.values()}
    for rep_id, entry in by_id.items():
        assert entry["parameters"] == {
            "data": str(org.resolve()), "rep_id": rep_id, "period": PERIOD, "static": True
        }
        assert entry["duration_s"] > 0 and entry["run"] == 1
    assert by_id[RAISES]["error"].startswith("RuntimeError: kpikit test fault")


def test_index_lists_every_rep_with_its_status_and_links(run):
    index = (run.out / "index.html").read_text(encoding="utf-8")
    for st in run.reports:
        assert html.escape(st.rep_id) in index
        if st.status == "ok":
            assert f'href="{st.stem}.html"' in index
        else:
            assert f'href="{st.stem}.html"' not in index and f'href="{st.failed_notebook}"' in index
    assert "kernel died" in index and "6 of 8 reports ready" in index
    # it opens offline: relative links to the reports only, nothing loaded
    assert "http://" not in index and "https://" not in index and "<script" not in index


def test_index_and_manifest_hold_no_deal_data(run, ds):
    forbidden = set(ds.opportunities["opportunity_id"]) | set(ds.leads["lead_id"])
    forbidden |= set(ds.accounts["account_id"]) | set(ds.accounts["name"])
    forbidden |= {f"{a:,.0f}" for a in ds.opportunities["amount"].dropna() if a >= 1000}
    manifest = (run.out / "manifest.json").read_text(encoding="utf-8")
    for text in (_readable(run.out / "index.html"), manifest + "\n".join(_strings(json.loads(manifest)))):
        assert sorted(f for f in forbidden if f in text) == []


def test_no_rep_file_holds_another_reps_name_id_deals_leads_or_accounts(run, ds):
    assert any(st.kernel_reports_before >= 1 for st in run.rendered)  # reused kernels were used
    reps_table = ds.reps.set_index("rep_id")
    opps, leads, accounts = ds.opportunities, ds.leads, ds.accounts
    for st in run.reports:
        files = [run.out / f for f in st.outputs.values()]
        files += [run.out / st.failed_notebook] if st.failed_notebook else []
        assert files
        text = "\n".join(_readable(f) for f in files)
        others = [r for r in reps_table.index if r != st.rep_id]
        forbidden = set(others) | {reps_table.at[r, "name"] for r in others}
        forbidden |= set(opps.loc[opps["rep_id"] != st.rep_id, "opportunity_id"])
        forbidden |= set(leads.loc[leads["rep_id"] != st.rep_id, "lead_id"])
        forbidden |= set(accounts.loc[accounts["rep_id"] != st.rep_id, "name"])
        assert sorted(f for f in forbidden if f in text) == [], st.rep_id
        if st.status == "ok":  # the check can see names at all
            assert reps_table.at[st.rep_id, "name"] in text


# -- kernel reuse ----------------------------------------------------------------------------------


def test_a_report_rendered_in_a_reused_kernel_is_identical_to_one_from_a_fresh_kernel(run, org, tmp_path):
    st = max(run.rendered, key=lambda r: r.kernel_reports_before)
    assert st.kernel_reports_before >= 1
    fresh = render_rep_report(org, st.rep_id, PERIOD, tmp_path)
    assert fresh.html.read_bytes() == (run.out / st.outputs["html"]).read_bytes()
    a = nbformat.read(fresh.notebook, as_version=4)
    b = nbformat.read(run.out / st.outputs["ipynb"], as_version=4)
    assert [c.source for c in a.cells] == [c.source for c in b.cells]
    assert [c.get("outputs") for c in a.cells] == [c.get("outputs") for c in b.cells]
    assert [c.get("execution_count") for c in a.cells] == [c.get("execution_count") for c in b.cells]
    assert a.metadata.kpikit == b.metadata.kpikit


def test_no_variable_of_one_rep_exists_when_the_next_reps_cells_run(org, ds, tmp_path):
    batch._register_engine()
    kernel = ReusableKernel(str(org.resolve()))
    kernel.start()
    try:
        names_fresh = kernel.evaluate("__import__('kpikit.batch').batch._user_names()")
        rep_id = "Rep-Ab"
        job = batch._Job(
            rep_id,
            "Rep-Ab",
            reports.rep_parameters(org, rep_id, PERIOD),
            kpikit.report.header_metadata(ds, rep_id, PERIOD),
        )
        shared = batch._Batch(
            out=tmp_path, formats=("html",), timeout=300, kernel_name="python3",
            data=str(org.resolve()), stop=__import__("threading").Event(), redact=str,
        )
        # A variable a notebook could leave behind, set without the reset's knowledge:
        kernel.execute("left_by_rep_a = 42\nimport warnings\nwarnings.simplefilter('ignore')")
        status = batch._render_one(kernel, job, shared)
        assert status.status == "ok" and kernel.running  # reset, not restarted
        names_after = kernel.evaluate("__import__('kpikit.batch').batch._user_names()")
        assert names_after == names_fresh
        assert not {"left_by_rep_a", "ctx", "ds", "activity", "plan", "rep_id"} & set(names_after)
        assert kernel.evaluate("get_ipython().execution_count") == 1
        assert kernel.evaluate("len(__import__('warnings').filters)") == kernel.evaluate(
            "len(__import__('kpikit.batch').batch._KERNEL_STATE['filters'])"
        )
    finally:
        kernel.shutdown()


# -- timeout, resume, interruption ---------------------------------------------------------------


def test_a_rep_that_times_out_is_recorded_and_its_kernel_replaced(org, tmp_path, monkeypatch):
    monkeypatch.setenv(TEST_FAULTS_ENV, json.dumps({"Rep-Ab": "hang"}))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["reports", str(org), "--period", PERIOD, "--out", str(out), "--rep", "Rep-Ab",
         "--rep", "rep-ab", "--workers", "1", "--timeout", "5", "--no-progress"],
    )
    assert result.exit_code == 1, result.output
    assert "timeout: 'Rep-Ab': took more than 5 s" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    by_id = {r["rep_id"]: r for r in manifest["reports"]}
    assert by_id["Rep-Ab"]["status"] == "timeout" and by_id["Rep-Ab"]["failed_notebook"]
    assert by_id["rep-ab"]["status"] == "ok"
    assert by_id["rep-ab"]["kernel_reports_before"] == 0  # a new kernel after the timeout


def test_resume_redoes_only_the_failed_and_missing_reports(run, org, tmp_path):
    out = tmp_path / "again"
    shutil.copytree(run.out, out, copy_function=shutil.copy2)
    missing = _status(run, "Rep-Ab")
    (out / missing.outputs["html"]).unlink()
    kept = [r for r in run.rendered if r.rep_id != "Rep-Ab"]
    before = {f: f.stat().st_mtime_ns for r in kept for f in (out / n for n in r.outputs.values())}
    result = run_batch(org, PERIOD, out, workers=2, resume=True, progress=False)
    assert result.ok
    redone = sorted(r.rep_id for r in result.rendered)
    assert redone == sorted([RAISES, EXITS, "Rep-Ab"])
    assert sorted(r.rep_id for r in result.skipped) == sorted(r.rep_id for r in kept)
    assert {f: f.stat().st_mtime_ns for f in before} == before  # finished ones untouched
    assert not list(out.glob("*.failed.ipynb"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert [r["run"] for r in manifest["runs"]] == [1, 2] and manifest["runs"][1]["to_render"] == 3


def test_resume_refuses_a_folder_of_other_data(org, tmp_path):
    (tmp_path / "manifest.json").write_text(
        json.dumps({"data_fingerprint": "sha256:other", "period": PERIOD, "reports": []})
    )
    with pytest.raises(BatchError, match="other data or another period"):
        run_batch(org, PERIOD, tmp_path, resume=True, progress=False)


def test_an_interrupted_run_leaves_no_partial_report_or_temp_file(org, tmp_path):
    out = tmp_path / "out"
    tmp = tmp_path / "tmp"  # the batch's own temporary files (the dataset snapshot) go here
    tmp.mkdir()
    env = {**os.environ, TEST_FAULTS_ENV: json.dumps({"rep-ab": "hang"}), "TMPDIR": str(tmp)}
    cmd = [sys.executable, "-m", "kpikit.cli", "reports", str(org), "--period", PERIOD,
           "--out", str(out), "--rep", "Rep-Ab", "--rep", "rep-ab", "--workers", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait until the first report is done
            if (out / "manifest.json").exists() and '"status": "ok"' in (out / "manifest.json").read_text():
                break
            time.sleep(0.2)
        time.sleep(2)  # the second rep is now hanging in its notebook
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert not list(tmp.glob("kpikit-*"))
    manifest = json.loads((out / "manifest.json").read_text())
    by_id = {r["rep_id"]: r for r in manifest["reports"]}
    assert by_id["Rep-Ab"]["status"] == "ok" and by_id["rep-ab"]["status"] == "interrupted"
    assert not (out / f"{by_id['rep-ab']['stem']}.html").exists()
    for page in out.glob("*.html"):
        assert page.read_text(encoding="utf-8").rstrip().endswith("</html>")
    for notebook in out.glob("*.ipynb"):
        nbformat.read(notebook, as_version=4)  # complete JSON notebooks only


def test_an_interrupted_write_leaves_neither_the_file_nor_a_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "R1.html"

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(reports.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        reports.write_atomic(target, "<html>" + "x" * 100_000 + "</html>")
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_publish_writes_no_html_and_no_temp_file(tmp_path, monkeypatch):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("## Hi")])

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("kpikit.render.export_html", interrupted)
    with pytest.raises(KeyboardInterrupt):
        publish(nb, tmp_path, "R1", formats=("html", "ipynb"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["R1.ipynb"]  # complete, no HTML


# -- selection, formats, CLI -----------------------------------------------------------------------


def test_unknown_reps_and_teams_are_clear_errors(org, ds, tmp_path):
    with pytest.raises(BatchError, match="not in the dataset's reps table"):
        run_batch(org, PERIOD, tmp_path, reps=["nobody"], progress=False)
    result = CliRunner().invoke(
        app, ["reports", str(org), "--period", PERIOD, "--out", str(tmp_path), "--team", "Nowhere"]
    )
    assert result.exit_code == 2 and "team 'Nowhere' is not in the reps table" in result.output
    with pytest.raises(BatchError, match="none of the reps asked for is in team"):
        run_batch(org, PERIOD, tmp_path, reps=["R'1\""], team=TEAM, progress=False)


def test_pdf_without_chromium_is_a_clear_error(org, tmp_path, monkeypatch):
    monkeypatch.setattr(reports, "find_chromium", lambda: None)
    with pytest.raises(ReportError, match="pdf needs chromium: apt-get install chromium"):
        run_batch(org, PERIOD, tmp_path, formats="html,pdf", progress=False)
    with pytest.raises(ReportError, match="not supported"):
        run_batch(org, PERIOD, tmp_path, formats="html,docx", progress=False)


@pytest.mark.skipif(reports.find_chromium() is None, reason="needs chromium (apt-get install chromium)")
def test_pdf_is_printed_offline_beside_the_html(org, tmp_path):
    result = run_batch(org, PERIOD, tmp_path, reps=["Rep-Ab"], formats="html,pdf", progress=False)
    st = result.reports[0]
    assert st.status == "ok", st.reason
    assert sorted(st.outputs) == ["html", "pdf"]
    assert (tmp_path / st.outputs["pdf"]).read_bytes()[:5] == b"%PDF-"
    assert not (tmp_path / f"{st.stem}.ipynb").exists()


def test_the_built_in_sample_org_renders_without_a_data_folder(tmp_path):
    result = run_batch(None, PERIOD, tmp_path, reps=["R003"], progress=False)
    st = result.reports[0]
    assert result.ok and st.status == "ok" and st.parameters["data"] is None
    assert result.data_fingerprint == f"sample:{kpikit.__version__}"
    assert kpikit.sample_dataset().reps.set_index("rep_id").at["R003", "name"] in (
        tmp_path / st.outputs["html"]
    ).read_text(encoding="utf-8")
