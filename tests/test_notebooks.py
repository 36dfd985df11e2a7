"""Every notebook runs top to bottom (on short data), and is stored without outputs.

Each notebook asserts its own claims in its cells (the loops equal scratchnet's layer, the training
loop by hand equals ``fit``, the summed gradient is the sum), so running it is the test. The kernel
is the interpreter running the tests (``ipykernel``), started in ``notebooks/`` as a learner's
Jupyter would; ``SCRATCHNET_NOTEBOOK_QUICK=1`` makes the notebooks use short data, and one thread
each keeps them from fighting the other pytest worker for the two cores.
"""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
QUICK = {
    "SCRATCHNET_NOTEBOOK_QUICK": "1",
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}


def test_there_are_the_notebooks_the_course_promises():
    assert len(NOTEBOOKS) >= 6, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_notebook_is_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name}: a cell keeps its outputs; clear them before committing "
                "(jupyter nbconvert --clear-output --inplace notebooks/*.ipynb)"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_notebook_runs(path, monkeypatch):
    for name, value in QUICK.items():
        monkeypatch.setenv(name, value)  # the kernel process inherits them
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": path.parent}}
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on an error
    printed = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    assert printed, f"{path.name} showed nothing"
