"""Keep the notebooks clean in git: ``python scripts/notebooks.py refresh|check [NOTEBOOK ...]``.

Notebooks are source code. In git they carry no execution counts, no widget
state and no outputs, except the text outputs of the cells marked
``# NBVAL_CHECK_OUTPUT``: those are the key numbers nbval checks
(``pytest --nbval-lax``) when the notebook runs on the built-in sample org.

- ``refresh`` executes each notebook on the sample org (its default
  parameters) and stores only the marked cells' text outputs;
- ``check`` exits 1 if a notebook is not clean (used by tests/test_notebooks.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
MARK = "# NBVAL_CHECK_OUTPUT"
TEXT_TYPES = ("text/plain",)
CHECKED_COUNT = 1  # the execution_count stored on marked cells with outputs (nbval needs one)


def is_checked(cell) -> bool:
    return cell.cell_type == "code" and MARK in cell.source


def problems(nb, name: str) -> list[str]:
    """What makes a notebook unclean (empty list when clean)."""
    out = []
    if "widgets" in nb.metadata:
        out.append(f"{name}: widget state in the notebook metadata")
    if nb.metadata.get("kernelspec", {}).get("name") != "python3":
        out.append(f"{name}: kernelspec must be python3")
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        out.append(f"{name}: needs exactly one cell tagged 'parameters' (has {len(tagged)})")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        count = cell.get("execution_count")
        if count is not None and not (is_checked(cell) and cell.outputs and count == CHECKED_COUNT):
            out.append(f"{name} cell {i}: execution_count is set")
        if cell.outputs and not is_checked(cell):
            out.append(f"{name} cell {i}: has outputs but is not marked {MARK}")
        for o in cell.outputs:
            if o.output_type == "stream":
                continue
            kinds = set(o.get("data", {}))
            if o.output_type not in ("execute_result", "display_data") or not kinds <= set(TEXT_TYPES):
                out.append(f"{name} cell {i}: stores a non-text output ({o.output_type}: {sorted(kinds)})")
            if o.get("execution_count") is not None:
                out.append(f"{name} cell {i}: output has an execution_count")
    return out


def clean(nb):
    """Drop everything but the marked cells' text outputs."""
    nb.metadata.pop("widgets", None)
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.get("metadata", {}).pop("papermill", None)
        cell.get("metadata", {}).pop("execution", None)
        if cell.cell_type != "code":
            continue
        cell.execution_count = None
        keep = []
        if is_checked(cell):
            for o in cell.outputs:
                if o.output_type == "stream" and o.get("name") == "stdout":
                    keep.append(o)
                elif o.output_type in ("execute_result", "display_data") and "text/plain" in o.get(
                    "data", {}
                ):
                    o.data = {"text/plain": o.data["text/plain"]}
                    o.metadata = {}
                    if "execution_count" in o:
                        o.execution_count = None
                    keep.append(o)
        cell.outputs = keep
        # nbval skips a cell whose execution_count is None ("unrun reference cell has outputs"):
        # a marked cell with stored outputs gets a fixed count, so refreshes stay diff-stable
        cell.execution_count = CHECKED_COUNT if keep else None
    return nb


def refresh(path: Path) -> None:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    nbformat.write(clean(nb), path)
    print(f"refreshed {path.relative_to(ROOT)}")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("refresh", "check"):
        print(__doc__)
        return 2
    paths = [Path(a).resolve() for a in argv[1:]] or sorted(NOTEBOOKS.glob("*.ipynb"))
    if argv[0] == "refresh":
        for p in paths:
            refresh(p)
        return 0
    found = [msg for p in paths for msg in problems(nbformat.read(p, as_version=4), p.name)]
    print("\n".join(found) or "notebooks are clean")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
