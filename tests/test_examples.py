"""Every example runs end to end in --limit mode, so none can rot.

Each script runs as a learner would run it (``python -m examples.<name>``) on a couple of hundred
images for two epochs: all five on scratchnet, the convnet on Keras too, and compare.py on both.
The checks are the script's own promises: it exits cleanly, writes its PNGs and its saved model,
reloads that model with the same predictions, and ends with the RESULT line run_all collects.
Every script also runs as a file, ``python examples/<name>.py``, from the root and from elsewhere:
its bootstrap, not the working folder, is what makes the repository importable.

Each example runs single-threaded (numba, BLAS, TensorFlow): the suite runs two pytest workers on
a two-core machine, and parallel kernels fighting over cores made these runs several times slower.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CNN_FILES = ("digits.png", "curves.png", "filters.png", "feature_maps.png", "model.keras")
MLP_FILES = ("digits.png", "curves.png", "confusion_matrix.png", "model.keras")
QUICK = ("--limit", "200", "--epochs", "2")
ONE_EPOCH = ("--limit", "200", "--epochs", "1")
# Every runnable script, as a module name under examples: "torres_mlp", "draw.app".
SCRIPTS = sorted(
    ".".join(path.relative_to(REPO / "examples").with_suffix("").parts)
    for path in (REPO / "examples").rglob("*.py")
    if 'if __name__ == "__main__":' in path.read_text()
)
ONE_THREAD = {
    name: "1"
    for name in (
        "NUMBA_NUM_THREADS",
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "TF_NUM_INTRAOP_THREADS",
        "TF_NUM_INTEROP_THREADS",
    )
}


def run_example(module, *args, as_file=False, cwd=REPO):
    """Run the example ``module`` (``torres_mlp``, ``draw.app``) with ``args``; return its stdout.

    By default ``python -m examples.<module>`` from the repository root. With ``as_file``, the
    script itself from ``cwd``: ``python examples/<module>.py`` at the root, its absolute path
    elsewhere.
    """
    if as_file:
        script = Path("examples", *module.split(".")).with_suffix(".py")
        target = [str(script if cwd == REPO else REPO / script)]
    else:
        target = ["-m", f"examples.{module}"]
    typed = " ".join(["python", *target, *args])
    done = subprocess.run(
        [sys.executable, *target, *args],
        cwd=cwd,
        env={**os.environ, **ONE_THREAD},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (
        f"{typed} (in {cwd}) exited with {done.returncode}\n"
        f"--- stdout (end) ---\n{done.stdout[-3000:]}\n--- stderr (end) ---\n{done.stderr[-3000:]}"
    )
    return done.stdout


@pytest.mark.parametrize(
    "module, impl, files",
    [
        ("seminar_cnn", "scratchnet", CNN_FILES),
        ("zhou_cnn", "scratchnet", CNN_FILES),
        ("hanoi_cnn", "scratchnet", CNN_FILES),
        ("torres_mlp", "scratchnet", MLP_FILES),
        ("keras_convnet", "scratchnet", CNN_FILES),
        ("keras_convnet", "keras", CNN_FILES),
    ],
)
def test_example_runs_end_to_end(module, impl, files, tmp_path):
    out = run_example(module, "--impl", impl, *QUICK, "--out", str(tmp_path))

    for name in files:
        path = tmp_path / name
        assert path.is_file() and path.stat().st_size > 0, f"{module} did not write {name}"
        if name.endswith(".png"):
            assert path.read_bytes()[:8] == PNG_MAGIC, f"{name} is not a PNG"
    assert "reloaded, it predicts the same: True" in out
    assert "First 20 test images:" in out
    result = re.search(
        r"^RESULT example=(\w+) impl=(\w+) test_acc=(\S+) sec_per_epoch=(\S+)$", out, re.M
    )
    assert result, f"{module} printed no RESULT line"
    assert result.group(2) == impl
    assert 0.0 <= float(result.group(3)) <= 1.0


def test_compare_runs_both_libraries_in_step(tmp_path):
    out = run_example("compare", "--program", "convnet", *QUICK, "--out", str(tmp_path))

    assert (tmp_path / "compare.png").read_bytes()[:8] == PNG_MAGIC
    rows = re.findall(
        r"^\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", out, re.M
    )
    assert [int(r[0]) for r in rows] == [1, 2], out
    for epoch, *values in rows:
        scratch_loss, keras_loss, loss_difference = float(values[0]), float(values[3]), values[6]
        # Same weights, dropout masks and batches: the curves agree to float32 round-off.
        assert abs(scratch_loss - keras_loss) < 1e-3, f"epoch {epoch}: {loss_difference}"


def test_run_all_writes_the_results_table(tmp_path):
    results = tmp_path / "RESULTS.md"
    run_example(
        "run_all", "--programs", "torres", *QUICK, "--results", str(results), "--out", str(tmp_path)
    )

    table = results.read_text()
    assert "dry run" in table
    row = next(line for line in table.splitlines() if line.startswith("| torres |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1] == "`python -m examples.torres_mlp --epochs 2 --limit 200`"
    assert all(cell != "-" for cell in cells), row


def test_the_scripts_are_found():
    assert {"torres_mlp", "zhou_cnn", "compare", "run_all", "draw.app"} <= set(SCRIPTS), SCRIPTS


@pytest.mark.parametrize("module", SCRIPTS)
def test_every_script_runs_as_a_file_from_another_folder(module, tmp_path):
    """``--help`` from outside the repository: the imports of examples and keras_impl work."""
    out = run_example(module, "--help", as_file=True, cwd=tmp_path)

    assert out.startswith(f"usage: {module.split('.')[-1]}.py"), out


@pytest.mark.parametrize(
    "module, as_file, where",
    [
        ("torres_mlp", True, "root"),
        ("torres_mlp", True, "elsewhere"),
        ("zhou_cnn", True, "root"),
        ("zhou_cnn", True, "elsewhere"),
        ("torres_mlp", False, "root"),
    ],
)
def test_an_example_trains_as_a_file_or_as_a_module(module, as_file, where, tmp_path):
    """One quick epoch on 200 images, run as ``python examples/<name>.py`` or with ``-m``."""
    cwd = REPO if where == "root" else tmp_path
    out = run_example(module, *ONE_EPOCH, "--out", str(tmp_path / "out"), as_file=as_file, cwd=cwd)

    assert (tmp_path / "out" / "model.keras").is_file()
    assert "reloaded, it predicts the same: True" in out
    assert re.search(r"^RESULT example=\w+ impl=scratchnet test_acc=", out, re.M), out


def test_the_custom_layer_example_trains_both_versions_to_the_same_numbers(tmp_path):
    """examples/custom_layer.py: the ops version and the hand-written backward pass both pass
    check_gradients and end with the same weights."""
    out = run_example("custom_layer", "--limit", "300", "--epochs", "1", "--out", str(tmp_path))
    assert out.count("passed (eps=") == 2  # both check_gradients reports
    gap = float(out.split("two trained models' weights: ")[1].split()[0])
    assert gap < 1e-6, out[-2000:]


def test_the_multi_output_example_reports_keras_history_keys(tmp_path):
    """examples/two_branch_multi_output.py: two inputs and two outputs, fit from dicts keyed by
    names; History has a loss and an accuracy per output (parity: test_two_branch_multi_output)."""
    out = run_example("two_branch_multi_output", *ONE_EPOCH, "--out", str(tmp_path))
    for key in ("'digit_loss'", "'even_accuracy'", "'val_even_loss'", "'loss'"):
        assert key in out.split("History keys:")[1].splitlines()[0], out[-2000:]
    assert re.search(
        r"^RESULT example=two_branch_multi_output impl=scratchnet test_acc=", out, re.M
    )
