"""Batch report generation: every rep's coaching report, fast, private and fault-tolerant.

:func:`run_batch` (``kpikit reports``) executes ``notebooks/rep_coaching.ipynb`` with
papermill for each rep and writes, into one folder::

    <rep>.html            the report (self-contained, opens offline)
    <rep>.ipynb           the executed notebook
    <rep>.pdf             with --format pdf (headless Chromium, offline)
    <rep>.failed.ipynb    a failed run's notebook, kept for debugging (no HTML for that rep)
    index.html            every rep with its status and links
    manifest.json         parameters, status, duration and error summary of each rep,
                          the data fingerprint and the kpikit version of each run

Design
------
**Reused kernels, one per worker.** A kernel start costs about a second, importing
kpikit and its chart stack a second or two, loading the dataset and computing the
period's org-wide tables (every rep's metrics, peer groups, leakage) more; a rep's own
report is well under a second of that. So ``workers`` threads each own one long-lived
Jupyter kernel (jupyter_client + nbclient) and run papermill against it for rep after
rep (papermill's own parameterisation, metadata and error handling; only the kernel is
not started anew, through the papermill engine ``kpikit_reuse`` registered here). At
start each kernel gets the dataset the batch process loaded and validated (a pickle in a
private temporary file, read in milliseconds) into ``kpikit.demo.SHARED_DATASETS`` (the
notebook's ``kpikit.open_dataset(data)`` returns it while the files are unchanged) and
:mod:`kpikit.report` memoises the org-wide tables on that dataset, so each kernel
computes them once per batch. The rendering (HTML, PDF) happens in the worker threads.
Kernels rather than forked worker processes running the cells: the notebook runs exactly
as papermill runs it for anyone (same kernel, display formatters, outputs and error
cells), so a batch report and :func:`kpikit.reports.render_rep_report`'s are the same
document, and a crash (``os._exit``, a segfault, the OOM killer) takes down one kernel.

**No state crosses from one rep to the next.** Between two reps the kernel's user
namespace is wiped and a fresh session started (``InteractiveShell.reset``: variables,
``In``/``Out``, ``_`` and the execution counter), and the process state a notebook could
touch is put back as it was after start-up: working directory, environment variables,
``sys.path``, warning filters and "already warned" registries, pandas options, Altair's
theme, renderer and data transformer, the random generators. What stays is what was
loaded before the first rep: modules, and the org-wide dataset and tables, which every
rep's report reads in full anyway (a report shows only its rep's rows; see
:mod:`kpikit.report`). A kernel whose report failed (an error, a timeout, a crash) is
never reused: it is replaced by a fresh one. ``tests/test_batch.py`` checks that a
report rendered in a reused kernel is identical to one rendered in a fresh kernel, and
that no variable of one rep exists when the next rep's cells run.

**Fault isolation.** One rep's failure (an exception in the notebook, a timeout, a killed
kernel) is recorded with its reason, its notebook kept as ``<rep>.failed.ipynb``, no
HTML published for it (a stale one is removed) and the batch goes on; the command exits
non-zero at the end. ``resume=True`` redoes only reps that failed or whose files are
missing. Every file is written to a hidden temporary file and renamed into place, and
the HTML comes last, so an interrupted run (Ctrl-C) never leaves a half-written report;
the manifest is rewritten as reps finish (at most once a second, and at the end), and
interrupted reps are recorded as such.

**Privacy.** A rep's files hold that rep's records and anonymous aggregates only (the
report module's contract). ``index.html`` and ``manifest.json`` hold rep ids, names and
teams, statuses and timings, never deal data: error messages are summarised with quoted
values and record ids redacted.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import html
import json
import logging
import math
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from kpikit._version import __version__
from kpikit.errors import KpikitError
from kpikit.reports import (
    NOTEBOOKS_DIR,
    REP_NOTEBOOK,
    file_stems,
    keep_failed,
    notebook_path,
    output_paths,
    parse_formats,
    publish,
    rep_parameters,
    require_chromium,
    temp_path,
    write_atomic,
)

__all__ = [
    "ENGINE_NAME",
    "BatchResult",
    "RepStatus",
    "data_fingerprint",
    "run_batch",
]

#: the papermill engine that runs a notebook in an already running kernel
ENGINE_NAME = "kpikit_reuse"
#: statuses of a rep in a batch
STATUSES = ("ok", "failed", "timeout", "killed", "interrupted", "skipped", "pending")
MANIFEST = "manifest.json"
INDEX = "index.html"
#: test-only: JSON ``{rep_id: "raise" | "exit" | "hang"}`` makes those reps' notebooks fail
TEST_FAULTS_ENV = "KPIKIT_TEST_FAULTS"
_KEEP_RUNS = 20
_KERNEL_START_TIMEOUT = 120.0


# -- results -------------------------------------------------------------------------------------


@dataclass
class RepStatus:
    """One rep's outcome in a batch.

    ``status``: ``ok``; ``failed`` (an error in the notebook or while writing);
    ``timeout``; ``killed`` (the kernel died); ``interrupted`` (Ctrl-C); ``skipped``
    (done by an earlier run, with ``resume=True``); ``pending`` (not rendered yet, while a
    run goes on). ``reason`` is a short explanation
    without data values; ``error`` the exception's summary with values redacted.
    ``outputs`` maps a format to its file name inside the output folder.
    """

    rep_id: str
    stem: str
    name: str | None = None
    team: str | None = None
    status: str = "pending"
    reason: str = ""
    error: str = ""
    duration_s: float | None = None
    finished_at: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    failed_notebook: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    run: int | None = None
    #: reports the same kernel had rendered before this one (0: a fresh kernel)
    kernel_reports_before: int | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "skipped")


@dataclass
class BatchResult:
    """What :func:`run_batch` did: one :class:`RepStatus` per selected rep (dataset order)."""

    out: Path
    period: str
    reports: list[RepStatus]
    elapsed_s: float
    workers: int
    data_fingerprint: str
    interrupted: bool = False

    @property
    def index(self) -> Path:
        return self.out / INDEX

    @property
    def manifest(self) -> Path:
        return self.out / MANIFEST

    def by_status(self, *statuses: str) -> list[RepStatus]:
        return [r for r in self.reports if r.status in statuses]

    @property
    def rendered(self) -> list[RepStatus]:
        """Reports rendered by this run."""
        return self.by_status("ok")

    @property
    def failed(self) -> list[RepStatus]:
        """Reps without a report after this run (failed, timed out, killed, interrupted)."""
        return self.by_status("failed", "timeout", "killed", "interrupted", "pending")

    @property
    def skipped(self) -> list[RepStatus]:
        return self.by_status("skipped")

    @property
    def ok(self) -> bool:
        """True when every selected rep has its report."""
        return not self.failed and not self.interrupted

    @property
    def reports_per_minute(self) -> float:
        done = len(self.rendered)
        return 60.0 * done / self.elapsed_s if self.elapsed_s > 0 and done else 0.0

    def summary(self) -> str:
        """A few plain lines: counts, speed, the failures with their reasons, the index."""
        lines = [
            f"{len(self.rendered)} report(s) rendered in {self.elapsed_s:.1f} s "
            f"({self.reports_per_minute:.0f} a minute, {self.workers} worker(s))"
            + (f", {len(self.skipped)} already done" if self.skipped else "")
            + (f", {len(self.failed)} without a report" if self.failed else "")
            + (" - interrupted" if self.interrupted else "")
        ]
        for r in self.failed:
            where = f" (notebook kept: {r.failed_notebook})" if r.failed_notebook else ""
            lines.append(f"  {r.status}: {r.rep_id!r}: {r.reason or r.status}{where}")
        if self.failed:
            lines.append("rerun with --resume to redo only these")
        lines.append(f"index: {self.index}")
        return "\n".join(lines)


class BatchError(KpikitError):
    """A batch cannot start (bad selection, an incompatible output folder, ...)."""


# -- fingerprints ----------------------------------------------------------------------------------


def data_fingerprint(data: str | Path | None) -> str:
    """A content hash of a dataset (every regular file of the folder, or the database file).

    ``"sha256:<hex>"``; the built-in sample org (``data=None``) is
    ``"sample:<kpikit version>"`` (generated, deterministic for a version).

    >>> data_fingerprint(None).startswith("sample:")
    True
    """
    if data is None or str(data).strip() == "":
        return f"sample:{__version__}"
    path = Path(data)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    else:
        files = [path]
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode("utf-8") + b"\0")
        with open(f, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return f"sha256:{digest.hexdigest()}"


def _stat_signature(data: str) -> tuple:
    path = Path(data)
    if path.is_dir():
        return tuple(
            sorted(
                (e.name, e.stat().st_size, e.stat().st_mtime_ns)
                for e in os.scandir(path)
                if e.is_file() and not e.name.startswith(".")
            )
        )
    st = path.stat()
    return ((path.name, st.st_size, st.st_mtime_ns),)


# -- inside a worker kernel ------------------------------------------------------------------------
# These run in the kernel (``import kpikit.batch``), never in the batch process.

_KERNEL_STATE: dict[str, Any] = {}


def _kernel_setup(data: str | None, snapshot: str | None = None, signature: tuple | None = None) -> None:
    """Prepare a worker kernel: load the dataset once, start vl-convert, snapshot the state.

    ``snapshot`` is a pickle of the dataset the batch process loaded (written by
    :func:`run_batch`, read here in milliseconds instead of parsing and validating the
    files again); it is used while the files still have their ``signature``
    (:func:`_stat_signature` when the batch loaded them)."""
    import gc
    import pickle
    import random
    import warnings

    import altair as alt
    import numpy as np
    import pandas as pd

    import kpikit
    import kpikit.report  # noqa: F401  (imported now, not by the first rep)
    from kpikit import demo, plots

    key = "" if data is None else str(data)
    if data is None:
        still_valid = lambda: True  # noqa: E731  (the sample org is generated, never changes)
    else:
        if signature is None or snapshot is None:
            signature = _stat_signature(key)
        still_valid = lambda: _stat_signature(key) == signature  # noqa: E731
    if snapshot is not None and still_valid():
        with open(snapshot, "rb") as handle:
            ds = pickle.load(handle)
    else:
        ds = kpikit.open_dataset(data)
    demo.SHARED_DATASETS[key] = (still_valid, ds)
    plots.to_svg(plots.channel_bars(pd.DataFrame({"channel": ["-"], "revenue": [0.0]})))
    _KERNEL_STATE.update(
        cwd=os.getcwd(),
        environ=dict(os.environ),
        path=list(sys.path),
        filters=list(warnings.filters),
        theme=alt.theme.active,
        renderer=alt.renderers.active,
        transformer=alt.data_transformers.active,
        pandas=_pandas_options(),
        np_random=np.random.get_state(),
        py_random=random.getstate(),
    )
    _kernel_reset()
    # The dataset and the modules live as long as the kernel: keep them out of the cyclic
    # garbage collector's full passes (IPython runs one at every reset).
    gc.freeze()


def _pandas_options() -> dict[str, Any]:
    import warnings

    import pandas as pd
    from pandas._config import config

    values = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key in config._registered_options:
            if key not in config._deprecated_options:
                with contextlib.suppress(Exception):
                    values[key] = pd.get_option(key)
    return values


def _kernel_reset() -> None:
    """Make the kernel what it was right after :func:`_kernel_setup`: a new session with an
    empty namespace, and the process state a notebook can change put back."""
    import random
    import warnings

    import altair as alt
    import numpy as np
    import pandas as pd
    from IPython import get_ipython

    state = _KERNEL_STATE
    shell = get_ipython()
    if shell is not None:
        shell.reset(new_session=True, aggressive=False)
    os.chdir(state["cwd"])
    os.environ.clear()
    os.environ.update(state["environ"])
    sys.path[:] = state["path"]
    warnings.filters[:] = state["filters"]
    for module in list(sys.modules.values()):
        registry = getattr(module, "__warningregistry__", None)
        if isinstance(registry, dict):
            registry.clear()
    warnings._filters_mutated()  # type: ignore[attr-defined]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, value in state["pandas"].items():
            with contextlib.suppress(Exception):
                if pd.get_option(key) != value:
                    pd.set_option(key, value)
    alt.theme.enable(state["theme"])
    alt.renderers.enable(state["renderer"])
    alt.data_transformers.enable(state["transformer"])
    np.random.set_state(state["np_random"])
    random.setstate(state["py_random"])


def _user_names() -> list[str]:
    """The user namespace's names a notebook could have defined (for the no-leak tests)."""
    from IPython import get_ipython

    shell = get_ipython()
    hidden = set(shell.user_ns_hidden) if shell is not None else set()
    ns = shell.user_ns if shell is not None else {}
    return sorted(k for k in ns if k not in hidden and not k.startswith("_"))


# -- the papermill engine and the reusable kernel ------------------------------------------------


class WorkerError(KpikitError):
    """A worker kernel could not start, or failed between reports."""


def _register_engine() -> None:
    """Register the papermill engine :data:`ENGINE_NAME` (once)."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import Engine, papermill_engines

    if ENGINE_NAME in papermill_engines._engines:
        return
    # nbclient logs timeouts and dead kernels as errors; the batch records them per rep.
    logger = logging.getLogger("kpikit.batch.kernel")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False

    class ReusedKernelClient(PapermillNotebookClient):
        """papermill's client on a kernel (and its channels) that outlive the notebook."""

        def __init__(self, nb_man, *, kernel: ReusableKernel, deadline: float, **kw):
            super().__init__(nb_man, km=kernel.km, **kw)
            self.kc = kernel.kc
            self.timeout_func = lambda cell: max(1, math.ceil(deadline - time.monotonic()))

    class ReusedKernelEngine(Engine):
        """Execute in the :class:`ReusableKernel` given as ``kpikit_kernel``; never start or
        stop a kernel (papermill's default engine does both for every notebook)."""

        @classmethod
        def execute_managed_notebook(
            cls,
            nb_man,
            kernel_name,
            log_output=False,
            stdout_file=None,
            stderr_file=None,
            start_timeout=60,
            execution_timeout=None,
            kpikit_kernel=None,
            kpikit_deadline=None,
            **kwargs,
        ):
            if kpikit_kernel is None:
                raise WorkerError(f"the {ENGINE_NAME} engine needs kpikit_kernel=")
            client = ReusedKernelClient(
                nb_man,
                kernel=kpikit_kernel,
                deadline=kpikit_deadline or math.inf,
                kernel_name=kernel_name,
                log=logger,
                log_output=log_output,
                stdout_file=stdout_file,
                stderr_file=stderr_file,
                startup_timeout=start_timeout,
            )
            try:
                return client.execute()
            finally:
                kpikit_kernel.last_nb = nb_man.nb

    papermill_engines.register(ENGINE_NAME, ReusedKernelEngine)


class ReusableKernel:
    """A Jupyter kernel prepared for a batch (:func:`_kernel_setup`), used by one thread.

    Call every method from the thread that called :meth:`start` (its event loop owns the
    kernel's channels), except :meth:`kill`, which only signals the process.
    """

    def __init__(
        self,
        data: str | None,
        *,
        kernel_name: str = "python3",
        cwd: Path = NOTEBOOKS_DIR,
        snapshot: str | None = None,
        signature: tuple | None = None,
    ):
        self.data = data
        self.snapshot = snapshot
        self.signature = signature
        self.kernel_name = kernel_name
        self.cwd = cwd
        self.km: Any = None
        self.kc: Any = None
        self.pid: int | None = None
        self.last_nb: Any = None
        self.reports = 0

    @property
    def running(self) -> bool:
        return self.km is not None

    def start(self) -> None:
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        km = AsyncKernelManager(kernel_name=self.kernel_name)
        run_sync(km.start_kernel)(
            extra_arguments=["--HistoryManager.hist_file=:memory:"],
            cwd=str(self.cwd),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.km = km
        self.pid = getattr(km.provisioner, "pid", None)
        try:
            kc = km.client()
            kc.start_channels()
            run_sync(kc.wait_for_ready)(timeout=_KERNEL_START_TIMEOUT)
            kc.allow_stdin = False
            self.kc = kc
            self.execute(
                "import kpikit.batch as __kb\n"
                f"__kb._kernel_setup({self.data!r}, {self.snapshot!r}, {self.signature!r})",
                timeout=_KERNEL_START_TIMEOUT,
            )
        except BaseException:
            self.shutdown()
            raise
        self.reports = 0

    def execute(self, code: str, *, timeout: float = 60.0) -> dict[str, Any]:
        """Run ``code`` silently (no history, no outputs); raise :class:`WorkerError` on error.

        Returns the reply's ``user_expressions`` (none are asked for; kept for callers that
        add some)."""
        from jupyter_core.utils import run_sync

        reply = run_sync(self.kc.execute_interactive)(
            code,
            silent=True,
            store_history=False,
            allow_stdin=False,
            timeout=timeout,
            output_hook=lambda msg: None,
        )
        content = reply["content"]
        if content.get("status") != "ok":
            raise WorkerError(
                f"the worker kernel failed: {content.get('ename', '?')}: {content.get('evalue', '')}"
            )
        return content

    def evaluate(self, expression: str, *, timeout: float = 60.0) -> Any:
        """The JSON value of ``expression`` in the kernel (tests use it to look inside)."""
        from jupyter_core.utils import run_sync

        reply = run_sync(self.kc.execute_interactive)(
            "",
            silent=True,
            store_history=False,
            user_expressions={"value": f"__import__('json').dumps({expression})"},
            timeout=timeout,
            output_hook=lambda msg: None,
        )
        value = reply["content"]["user_expressions"]["value"]
        if value.get("status") != "ok":
            raise WorkerError(f"{expression}: {value.get('ename')}: {value.get('evalue')}")
        return json.loads(ast.literal_eval(value["data"]["text/plain"]))

    def reset(self) -> None:
        """Wipe the user namespace and put the process state back (between two reps)."""
        self.execute("__import__('kpikit.batch').batch._kernel_reset()")

    def exit_code(self) -> int | None:
        """The kernel process's exit status once it died (None while it runs)."""
        proc = getattr(getattr(self.km, "provisioner", None), "process", None)
        return None if proc is None else proc.poll()

    def kill(self) -> None:
        """Kill the kernel process now (from any thread)."""
        if self.pid:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)

    def shutdown(self) -> None:
        """Stop the kernel and close its channels (quietly: it may be dead already)."""
        from jupyter_core.utils import run_sync

        if self.kc is not None:
            with contextlib.suppress(Exception):
                self.kc.stop_channels()
        if self.km is not None:
            with contextlib.suppress(Exception):
                run_sync(self.km.shutdown_kernel)(now=True)
            with contextlib.suppress(Exception):
                run_sync(self.km.cleanup_resources)()
        self.kill()
        self.km = self.kc = None
        self.pid = None

    def restart(self) -> None:
        self.shutdown()
        self.start()


# -- one rep in a worker ---------------------------------------------------------------------------


@dataclass
class _Job:
    rep_id: str
    stem: str
    parameters: dict[str, Any]
    metadata: dict[str, str]
    fault: str | None = None


@dataclass
class _Batch:
    """What every worker thread shares (read-only, but for ``stop``)."""

    out: Path
    formats: tuple[str, ...]
    timeout: float
    kernel_name: str
    data: str | None
    stop: threading.Event
    redact: Any  # callable(str) -> str
    snapshot: str | None = None
    signature: tuple | None = None
    kernels: list[ReusableKernel] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


_FAULT_CODE = {
    "raise": "raise RuntimeError('kpikit test fault: this report fails on purpose')",
    "exit": "import os\nos._exit(3)",
    "hang": "import time\ntime.sleep(3600)",
}


def _notebook_for(job: _Job, tmpdir: Path) -> str:
    """The notebook path to execute: the report notebook, or (test faults only) a copy of it
    with a fault cell after the parameters."""
    source = notebook_path(REP_NOTEBOOK)
    if job.fault is None:
        return str(source)
    import nbformat

    nb = nbformat.read(source, as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    cell = nbformat.v4.new_code_cell(_FAULT_CODE[job.fault], metadata={"tags": ["kpikit-test-fault"]})
    nb.cells.insert(index + 1, cell)
    path = temp_path(tmpdir, f"{job.stem}-fault.ipynb")
    nbformat.write(nb, path)
    return str(path)


def _render_one(kernel: ReusableKernel, job: _Job, batch: _Batch) -> RepStatus:
    """Execute and publish one rep's report in ``kernel``; never raises for the rep's own
    failures (they become the returned status), only for KeyboardInterrupt."""
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    status = RepStatus(job.rep_id, job.stem, parameters=job.parameters)
    tmp_nb = temp_path(batch.out, f"{job.stem}.ipynb")
    source = _notebook_for(job, batch.out)
    nb = None
    reuse = False
    started = time.monotonic()
    try:
        if not kernel.running:
            try:
                kernel.start()
            except Exception as exc:
                status.status, status.reason = "failed", f"the kernel could not start: {type(exc).__name__}"
                status.error = batch.redact(f"{type(exc).__name__}: {exc}")
                return status
        if batch.stop.is_set():
            status.status, status.reason = "interrupted", "the batch was interrupted"
            return status
        kernel.last_nb = None
        status.kernel_reports_before = kernel.reports
        started = time.monotonic()
        try:
            nb = pm.execute_notebook(
                source,
                str(tmp_nb),
                parameters=job.parameters,
                engine_name=ENGINE_NAME,
                kernel_name=batch.kernel_name,
                progress_bar=False,
                request_save_on_cell_execute=False,
                kpikit_kernel=kernel,
                kpikit_deadline=started + batch.timeout,
            )
            nb.metadata.papermill["input_path"] = str(notebook_path(REP_NOTEBOOK))
            status.outputs = {
                k: p.name for k, p in publish(nb, batch.out, job.stem, formats=batch.formats,
                                              metadata=job.metadata).items()
            }
            status.status = "ok"
            reuse = True
        except PapermillExecutionError as exc:
            status.status = "failed"
            status.reason = f"error in the notebook: {exc.ename} (cell [{exc.exec_count}])"
            status.error = batch.redact(f"{exc.ename}: {exc.evalue}")
        except CellTimeoutError:
            status.status, status.reason = "timeout", f"took more than {batch.timeout:g} s"
        except DeadKernelError:
            code = kernel.exit_code()
            if batch.stop.is_set():
                status.status, status.reason = "interrupted", "the batch was interrupted"
            else:
                status.status = "killed"
                status.reason = "the kernel died" + (f" (exit status {code})" if code is not None else "")
        except Exception as exc:  # writing the outputs, or anything unexpected
            status.status = "failed"
            status.reason = f"could not produce the report: {type(exc).__name__}"
            status.error = batch.redact(f"{type(exc).__name__}: {exc}")
        if status.status != "ok":
            failed = keep_failed(nb or kernel.last_nb, batch.out, job.stem, tmp_nb)
            status.failed_notebook = failed.name if failed else None
    finally:
        tmp_nb.unlink(missing_ok=True)
        if source != str(notebook_path(REP_NOTEBOOK)):
            Path(source).unlink(missing_ok=True)
        status.duration_s = round(time.monotonic() - started, 3)
        status.finished_at = _now()
    try:
        if reuse and not batch.stop.is_set():
            kernel.reset()
            kernel.reports += 1
        else:
            kernel.shutdown()  # a kernel whose report failed is never reused
    except Exception:
        kernel.shutdown()
    return status


def _worker(batch: _Batch, jobs: queue.Queue, results: queue.Queue) -> None:
    kernel = ReusableKernel(
        batch.data, kernel_name=batch.kernel_name, snapshot=batch.snapshot, signature=batch.signature
    )
    with batch.lock:
        batch.kernels.append(kernel)
    try:
        while not batch.stop.is_set():
            try:
                job = jobs.get_nowait()
            except queue.Empty:
                break
            try:
                results.put(_render_one(kernel, job, batch))
            except BaseException as exc:  # pragma: no cover - a bug: report it, do not hang
                st = RepStatus(job.rep_id, job.stem, status="failed", parameters=job.parameters)
                st.reason = f"internal error: {type(exc).__name__}"
                results.put(st)
    finally:
        try:
            kernel.shutdown()
        finally:
            results.put(None)  # the batch waits for one of these per worker


# -- manifest and index ----------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _load_manifest(out: Path) -> dict[str, Any] | None:
    path = out / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BatchError(
            f"{path} is not a kpikit manifest ({exc}); remove it or choose another --out folder"
        ) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("reports"), list):
        raise BatchError(f"{path} is not a kpikit manifest; remove it or choose another --out folder")
    return manifest


def _status_from(entry: Any, path: Path) -> RepStatus:
    known = set(RepStatus.__dataclass_fields__)
    try:
        return RepStatus(**{k: v for k, v in entry.items() if k in known})
    except (AttributeError, TypeError):
        raise BatchError(
            f"{path} is not a kpikit manifest (a report entry without rep_id and stem); "
            "remove it or choose another --out folder"
        ) from None


def _write_manifest(out: Path, manifest: dict[str, Any], statuses: dict[str, RepStatus]) -> None:
    manifest["updated_at"] = _now()
    manifest["counts"] = {s: sum(r.status == s for r in statuses.values()) for s in STATUSES}
    manifest["reports"] = [asdict(r) for r in statuses.values()]
    write_atomic(out / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


_STATUS_WORDS = {
    "ok": "ready",
    "skipped": "ready",
    "failed": "failed",
    "timeout": "timed out",
    "killed": "kernel died",
    "interrupted": "interrupted",
    "pending": "not rendered yet",
}


def _index_html(manifest: dict[str, Any], statuses: Iterable[RepStatus]) -> str:
    """The index page: a table of reps with status and links; everything escaped, no data."""
    e = html.escape
    rows = []
    for r in statuses:
        links = []
        for kind, label in (("html", "report"), ("pdf", "PDF"), ("ipynb", "notebook")):
            if r.ok and kind in r.outputs:
                links.append(f'<a href="{e(quote(r.outputs[kind]))}">{label}</a>')
        if not r.ok and r.failed_notebook:
            links.append(f'<a href="{e(quote(r.failed_notebook))}">failed notebook</a>')
        duration = "" if r.duration_s is None else f"{r.duration_s:.1f} s"
        cls = "ok" if r.ok else "bad"
        rows.append(
            f'<tr class="{cls}"><td>{e(r.name or "")}</td><td><code>{e(r.rep_id)}</code></td>'
            f"<td>{e(r.team or '')}</td><td>{e(_STATUS_WORDS.get(r.status, r.status))}</td>"
            f"<td>{e(r.reason if not r.ok else '')}</td><td class=num>{e(duration)}</td>"
            f"<td>{' · '.join(links)}</td></tr>"
        )
    counts = manifest.get("counts", {})
    ready = counts.get("ok", 0) + counts.get("skipped", 0)
    total = len(manifest.get("reports", []))
    fp = str(manifest.get("data_fingerprint", ""))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Coaching reports · {e(str(manifest.get("period", "")))}</title>
<style>
body {{ font-family: Helvetica, Arial, 'DejaVu Sans', sans-serif; color: #333; margin: 2em; }}
table {{ border-collapse: collapse; }}
th, td {{ text-align: left; padding: .3em .8em; border-bottom: 1px solid #e5e5e5; vertical-align: top; }}
td.num {{ text-align: right; }}
tr.bad td {{ color: #b34700; }}
.meta {{ color: #666; font-size: .9em; }}
</style></head><body>
<h1>Coaching reports · {e(str(manifest.get("period", "")))}</h1>
<p>{ready} of {total} reports ready.</p>
<table>
<thead><tr><th>Rep</th><th>Id</th><th>Team</th><th>Status</th><th>Why</th><th>Time</th>
<th>Files</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
<p class="meta">kpikit {e(__version__)} · data {e(fp[:19])} ·
updated {e(str(manifest.get("updated_at", "")))}</p>
</body></html>
"""


# -- redaction -----------------------------------------------------------------------------------


_QUOTED = re.compile(r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")


class _Redactor:
    """Error summaries for the team-level files: quoted values and record ids removed."""

    def __init__(self, ds: Any):
        self.ds = ds
        self._ids: set[str] | None = None

    def ids(self) -> set[str]:
        if self._ids is None:
            ids: set[str] = set()
            for table, column in (
                ("opportunities", "opportunity_id"),
                ("opportunities", "account_id"),
                ("leads", "lead_id"),
                ("activities", "activity_id"),
                ("accounts", "account_id"),
                ("accounts", "name"),
                ("customers", "account_id"),
            ):
                df = self.ds.tables.get(table) if self.ds is not None else None
                if df is not None and column in df.columns:
                    ids.update(str(v) for v in df[column].dropna().unique() if len(str(v)) >= 3)
            self._ids = ids
        return self._ids

    def __call__(self, text: str) -> str:
        first = next((ln for ln in str(text).splitlines() if ln.strip()), "")
        first = _QUOTED.sub("'…'", first)[:300]
        tokens = set(re.findall(r"[\w.@/-]{3,}", first))
        for token in tokens & self.ids():
            first = first.replace(token, "[redacted]")
        for name in self.ids():
            if " " in name and name in first:
                first = first.replace(name, "[redacted]")
        return first


# -- the batch -----------------------------------------------------------------------------------


def _select(ds: Any, reps: Sequence[str] | None, team: str | None) -> list[str]:
    all_ids = [str(r) for r in ds.rep_ids]
    known = set(all_ids)
    if isinstance(reps, str):
        reps = [reps]
    if reps:
        wanted = list(dict.fromkeys(str(r) for r in reps))
        unknown = [r for r in wanted if r not in known]
        if unknown:
            raise BatchError(
                f"rep(s) {', '.join(map(repr, unknown))} not in the dataset's reps table "
                f"(rep ids look like: {', '.join(all_ids[:5])}, ...)"
            )
        selected = [r for r in all_ids if r in set(wanted)]
    else:
        selected = all_ids
    if team is not None:
        if not ds.has("reps", "team"):
            raise BatchError("--team needs a team column in the reps table")
        teams = ds.rep_attribute("team").astype("string")
        names = sorted(teams.dropna().unique())
        if team not in set(names):
            raise BatchError(f"team {team!r} is not in the reps table; teams: {', '.join(names)}")
        members = set(teams.index[(teams == team).fillna(False).to_numpy(bool)].astype(str))
        selected = [r for r in selected if r in members]
        if not selected:
            raise BatchError(f"none of the reps asked for is in team {team!r}")
    return selected


def _test_faults() -> dict[str, str]:
    """Test-only failure injection (see :data:`TEST_FAULTS_ENV`); empty unless tests set it."""
    raw = os.environ.get(TEST_FAULTS_ENV)
    if not raw:
        return {}
    faults = json.loads(raw)
    bad = {k: v for k, v in faults.items() if v not in _FAULT_CODE}
    if bad:
        raise BatchError(f"{TEST_FAULTS_ENV}: unknown fault(s) {bad}; known: {', '.join(_FAULT_CODE)}")
    return {str(k): str(v) for k, v in faults.items()}


def _files_present(out: Path, entry: RepStatus, formats: Sequence[str]) -> bool:
    paths = output_paths(out, entry.stem)
    return all(paths[f].exists() for f in formats)


def run_batch(
    data: str | Path | None,
    period: str,
    out: str | Path,
    *,
    reps: Sequence[str] | None = None,
    team: str | None = None,
    workers: int | None = None,
    resume: bool = False,
    timeout: float = 600,
    formats: str | Sequence[str] = ("html", "ipynb"),
    progress: bool = True,
    kernel_name: str = "python3",
) -> BatchResult:
    """Render the coaching report of every rep (or of ``reps`` / ``team``) into ``out``.

    Parameters
    ----------
    data : str, Path or None
        The dataset folder or database file; None = the built-in sample org.
    period : str
        ``YYYY-MM``, ``YYYY-Qn`` or ``YYYY``.
    out : str or Path
        The folder for the reports, ``index.html`` and ``manifest.json`` (created).
    reps, team
        Only these rep ids; only the reps of this team (both: the given reps of the team).
    workers : int, optional
        Kernels rendering in parallel (default: the number of CPUs, at most the reps).
    resume : bool
        Redo only the reps whose report failed or whose files are missing; refused when
        ``out`` holds reports of other data or another period.
    timeout : float
        Seconds one report may take (its notebook's execution).
    formats : str or sequence
        Any of ``html``, ``ipynb``, ``pdf`` (``"html,pdf"`` or a sequence).
    progress : bool
        Show a progress bar (counts and ETA) on stderr.

    Returns
    -------
    BatchResult
        Per-rep statuses; ``result.ok`` is False when any rep has no report.

    Raises
    ------
    KpikitError
        Before anything is rendered: bad data, unknown reps or team, bad options.
    KeyboardInterrupt
        After recording the interrupted reps in the manifest and the index.
    """
    import pandas as pd

    from kpikit import report
    from kpikit.demo import open_dataset
    from kpikit.periods import Period

    fmt = parse_formats(formats)
    if "pdf" in fmt:
        require_chromium()
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise BatchError(f"workers must be a whole number of at least 1, got {workers!r}")
    if not timeout or timeout <= 0:
        raise BatchError(f"timeout must be a positive number of seconds, got {timeout!r}")
    p = Period.parse(period)
    out = Path(out).resolve()
    data_str = str(Path(data).resolve()) if data is not None and str(data).strip() else None
    if data_str is not None and not Path(data_str).exists():
        raise BatchError(f"no dataset at {data_str}: give a folder of tables or a database file")
    signature = _stat_signature(data_str) if data_str is not None else None
    ds = open_dataset(data_str)
    fingerprint = data_fingerprint(data_str)
    selected = _select(ds, reps, team)
    stems = file_stems(str(r) for r in ds.rep_ids)
    names = ds.rep_attribute("name").astype("string") if ds.has("reps", "name") else None
    teams = ds.rep_attribute("team").astype("string") if ds.has("reps", "team") else None

    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".tmp-*"):  # left by a run that was killed outright
        stale.unlink(missing_ok=True)
    previous = _load_manifest(out)
    compatible = previous is not None and (
        previous.get("data_fingerprint") == fingerprint and previous.get("period") == p.label
    )
    if resume and previous is not None and not compatible:
        raise BatchError(
            f"{out} holds reports of other data or another period "
            f"({previous.get('period')}, data {str(previous.get('data_fingerprint'))[:19]}); "
            f"--resume only continues a run on the same data and period: run without --resume"
        )
    statuses: dict[str, RepStatus] = {}
    if compatible and previous is not None:
        for entry in previous["reports"]:
            st = _status_from(entry, out / MANIFEST)
            statuses[st.rep_id] = st
    runs = list(previous.get("runs", [])) if compatible and previous is not None else []
    run_no = (runs[-1]["run"] + 1) if runs else 1

    def label(value: Any) -> str | None:
        return None if value is None or pd.isna(value) else str(value)

    todo: list[_Job] = []
    faults = _test_faults()
    for rep_id in selected:
        earlier = statuses.get(rep_id)
        if (
            resume
            and earlier is not None
            and earlier.status in ("ok", "skipped")
            and _files_present(out, earlier, fmt)
        ):
            earlier.status = "skipped"
            continue
        params = rep_parameters(data_str, rep_id, p.label)
        todo.append(
            _Job(rep_id, stems[rep_id], params, report.header_metadata(ds, rep_id, p),
                 faults.get(rep_id))
        )
        statuses[rep_id] = RepStatus(
            rep_id,
            stems[rep_id],
            name=label(names.get(rep_id)) if names is not None else None,
            team=label(teams.get(rep_id)) if teams is not None else None,
            status="pending",
            parameters=params,
            run=run_no,
        )
    for rep_id in selected:  # names and teams as the data has them now
        st = statuses[rep_id]
        st.name = label(names.get(rep_id)) if names is not None else None
        st.team = label(teams.get(rep_id)) if teams is not None else None

    order = {str(r): i for i, r in enumerate(ds.rep_ids)}
    statuses = dict(sorted(statuses.items(), key=lambda kv: order.get(kv[0], len(order))))
    manifest: dict[str, Any] = {
        "kpikit_version": __version__,
        "notebook": REP_NOTEBOOK,
        "data": data_str,
        "data_fingerprint": fingerprint,
        "period": p.label,
        "formats": list(fmt),
        "runs": runs,
    }
    n_workers = max(1, min(workers or (os.cpu_count() or 1), len(todo) or 1))
    run_info: dict[str, Any] = {
        "run": run_no,
        "started_at": _now(),
        "resume": resume,
        "workers": n_workers,
        "selected": len(selected),
        "to_render": len(todo),
    }
    manifest["runs"] = [*runs, run_info][-_KEEP_RUNS:]

    started = time.monotonic()
    interrupted = False
    if todo:
        _register_engine()
    snapshot = _write_snapshot(ds) if todo else None
    if todo:
        batch = _Batch(
            out=out,
            formats=fmt,
            timeout=float(timeout),
            kernel_name=kernel_name,
            data=data_str,
            stop=threading.Event(),
            redact=_Redactor(ds),
            snapshot=snapshot,
            signature=signature,
        )
        jobs: queue.Queue = queue.Queue()
        for job in todo:
            jobs.put(job)
        results: queue.Queue = queue.Queue()
        threads = [
            threading.Thread(target=_worker, args=(batch, jobs, results), name=f"kpikit-worker-{i}",
                             daemon=True)
            for i in range(n_workers)
        ]
        _write_manifest(out, manifest, statuses)
        bar = _progress(len(todo), progress)
        counts = {"ok": 0, "failed": 0}
        written = time.monotonic()
        try:
            for t in threads:
                t.start()
            alive = len(threads)
            while alive:
                try:
                    st = results.get(timeout=0.2)
                except queue.Empty:
                    continue
                if st is None:
                    alive -= 1
                    continue
                st.run = run_no
                st.name, st.team = statuses[st.rep_id].name, statuses[st.rep_id].team
                statuses[st.rep_id] = st
                if time.monotonic() - written > 1.0:  # a few writes a second at most
                    _write_manifest(out, manifest, statuses)
                    written = time.monotonic()
                counts["ok" if st.status == "ok" else "failed"] += 1
                bar.set_postfix(counts, refresh=False)
                bar.update(1)
        except KeyboardInterrupt:
            interrupted = True
            batch.stop.set()
            with batch.lock:
                for kernel in batch.kernels:
                    kernel.kill()
            for t in threads:
                t.join(timeout=30)
            while True:
                try:
                    st = results.get_nowait()
                except queue.Empty:
                    break
                if st is not None:
                    st.run = run_no
                    st.name, st.team = statuses[st.rep_id].name, statuses[st.rep_id].team
                    statuses[st.rep_id] = st
            for job in todo:
                if statuses[job.rep_id].status == "pending":
                    statuses[job.rep_id].status = "interrupted"
                    statuses[job.rep_id].reason = "the batch was interrupted"
        finally:
            bar.close()
            if snapshot is not None:
                Path(snapshot).unlink(missing_ok=True)
    elapsed = time.monotonic() - started
    run_info.update(
        finished_at=_now(),
        duration_s=round(elapsed, 3),
        interrupted=interrupted,
        rendered=sum(s.status == "ok" and s.run == run_no for s in statuses.values()),
        failed=sum(
            s.status in ("failed", "timeout", "killed") and s.run == run_no for s in statuses.values()
        ),
    )
    run_info["reports_per_minute"] = round(60 * run_info["rendered"] / elapsed, 1) if elapsed > 0 else None
    _write_manifest(out, manifest, statuses)
    write_atomic(out / INDEX, _index_html(manifest, statuses.values()))
    for stale in out.glob(".tmp-*"):
        stale.unlink(missing_ok=True)
    result = BatchResult(
        out=out,
        period=p.label,
        reports=[statuses[r] for r in selected],
        elapsed_s=elapsed,
        workers=n_workers,
        data_fingerprint=fingerprint,
        interrupted=interrupted,
    )
    if interrupted:
        raise KeyboardInterrupt
    return result


def _write_snapshot(ds: Any) -> str:
    """Pickle the batch's dataset for the worker kernels (a private temporary file; the
    kernels load it in milliseconds instead of reading and validating the files again)."""
    import pickle
    import tempfile

    from kpikit.dataset import Dataset

    bare = Dataset(tables=ds.tables, config=ds.config, source=ds.source, report=ds.report)
    fd, path = tempfile.mkstemp(prefix="kpikit-batch-", suffix=".pickle")
    try:
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(bare, handle, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException:
        Path(path).unlink(missing_ok=True)
        raise
    return path


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, *args: Any, **kw: Any) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="report", desc="reports", file=sys.stderr, smoothing=0.1,
                dynamic_ncols=True)

