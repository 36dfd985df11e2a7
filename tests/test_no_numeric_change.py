"""No numeric change: the tutorial models train to the numbers an earlier main recorded.

The layout and speed work move code around without changing the math; this pins that. The
fingerprints in ``tests/fixtures/tutorial_fingerprints.json`` were made by
``tests/tutorial_fingerprints.py`` on the code before the layout issue (it explains what is
fingerprinted and how to regenerate them). On the machine that recorded them the bits must be
the same; on another CPU or BLAS kernel, which may sum in another order, the statistics must
agree to a tolerance instead, and the test says which comparison it made.
"""

import json
import os

import numpy as np
import pytest
import tutorial_fingerprints as tf_

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "tutorial_fingerprints.json")


@pytest.fixture(scope="module")
def recorded():
    with open(FIXTURE) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def now():
    machines, runs = [], {}
    for kernels in sorted({k for k, _ in tf_.RUNS}):
        where, found = tf_.run_in_subprocess(kernels)
        machines.append(where)
        runs.update(found)
    return machines, runs


def _compare(where, got, want, exact, compute_dtype):
    """Bit for bit on the recording machine; else to a tolerance of the dtype the run computed
    in (a float32 run's loss history is stored as float64 but carries float32 rounding)."""
    assert got["shape"] == want["shape"] and got["dtype"] == want["dtype"], (
        f"{where}: shape/dtype {got['shape']} {got['dtype']}, recorded {want['shape']} "
        f"{want['dtype']}"
    )
    if exact:
        assert got["sha256"] == want["sha256"], (
            f"{where}: the bits changed (sum {got['sum']!r}, recorded {want['sum']!r}; first "
            f"values {got['values'][:3]} against {want['values'][:3]}). A layout or speed change "
            "must not move any number; if this change of numbers is intended, regenerate the "
            "fixture as tests/tutorial_fingerprints.py says and say why in the commit."
        )
        return
    stats = [got["sum"], got["norm"], *got["values"]]
    expected = [want["sum"], want["norm"], *want["values"]]
    rtol = 1e-3 if compute_dtype == "float32" else 1e-8
    np.testing.assert_allclose(stats, expected, rtol=rtol, atol=rtol, err_msg=where)


def test_tutorial_models_train_to_the_recorded_numbers(recorded, now):
    machines, now = now
    exact = all(m == recorded["machine"] for m in machines)
    assert sorted(now) == sorted(recorded["runs"])
    for key, want in recorded["runs"].items():
        got, dtype = now[key], key.rsplit("/", 1)[1]  # key: kernels/model/dtype
        _compare(f"{key} history", got["history"], want["history"], exact, dtype)
        _compare(f"{key} predict", got["predict"], want["predict"], exact, dtype)
        assert len(got["weights"]) == len(want["weights"]), key
        for i, (g, w) in enumerate(zip(got["weights"], want["weights"])):
            _compare(f"{key} weight {i}", g, w, exact, dtype)
    print("compared", "bit for bit" if exact else "to a tolerance (another machine)")


def test_the_fingerprint_sees_a_one_ulp_change():
    a = np.linspace(-1, 1, 100, dtype=np.float32)
    b = a.copy()
    b[37] = np.nextafter(b[37], np.float32(2))
    assert tf_.fingerprint(a)["sha256"] != tf_.fingerprint(b)["sha256"]
    assert tf_.fingerprint(a) == tf_.fingerprint(a.copy())
