"""Fingerprints of the five tutorial models after a few training steps: the "no numeric change" pin.

Each tutorial model is built from a fixed seed and trained for two epochs (shuffled, dropout on)
on fixed random data, with each kernel family and in float64; then every weight array, the loss
history and a prediction are fingerprinted: a SHA-256 of the raw bytes, plus a few statistics
(sum, norm, a handful of values) that a tolerance comparison can use.

``tests/fixtures/tutorial_fingerprints.json`` holds the fingerprints that the code of an earlier
main produced. ``tests/test_no_numeric_change.py`` trains again and compares: bit for bit on the
machine that recorded them (same CPU, BLAS kernel and NumPy/numba versions), within a tolerance
elsewhere (another BLAS kernel sums in another order).

Only the public API is used, so the same script runs on older checkouts. Regenerate (only when a
change of numbers is intended, and say so in the commit)::

    python -m tests.tutorial_fingerprints > tests/fixtures/tutorial_fingerprints.json

The kernel family is chosen by the environment variable ``SCRATCHNET_KERNELS``, read when
scratchnet is imported, so each family runs in a process of its own (``run_in_subprocess``).
"""

import hashlib
import json
import os
import platform
import subprocess
import sys

import numpy as np

OPTIMIZERS = {
    "seminar": "sgd",
    "zhou": "rmsprop",
    "hanoi": "adam",
    "torres": "sgd",
    "convnet": "adam",
}
# (SCRATCHNET_KERNELS, floatx) runs; float64 with the numba kernels covers the second dtype.
RUNS = (("numba", "float32"), ("numpy", "float32"), ("numba", "float64"))
SAMPLES = 16  # values kept per array for the tolerance comparison


def fingerprint(array):
    """The SHA-256 of ``array``'s C-order bytes, its shape, dtype, sum, norm and a few values."""
    array = np.ascontiguousarray(array)
    flat = array.reshape(-1).astype(np.float64)
    picks = np.linspace(0, flat.size - 1, num=min(SAMPLES, flat.size)).astype(int)
    return {
        "sha256": hashlib.sha256(array.tobytes()).hexdigest(),
        "shape": list(array.shape),
        "dtype": array.dtype.name,
        "sum": float(flat.sum()),
        "norm": float(np.sqrt((flat * flat).sum())),
        "values": [float(v) for v in flat[picks]],
    }


def train(name, floatx):
    """Train tutorial ``name`` for two shuffled epochs on fixed data; fingerprint the results."""
    import scratchnet as sn
    from keras_impl.architectures import build

    sn.config.set_floatx(floatx)
    sn.utils.set_random_seed(3)
    model = build(name, sn)
    model.compile(optimizer=OPTIMIZERS[name], loss="categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(1)
    shape = (784,) if name == "torres" else (28, 28, 1)
    x = rng.random((48, *shape)).astype(floatx)
    y = sn.utils.to_categorical(rng.integers(0, 10, 48), 10)
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=True, verbose=0)
    logs = np.array([history.history[k] for k in sorted(history.history)], dtype=np.float64)
    return {
        "weights": [fingerprint(w) for w in model.get_weights()],
        "history": fingerprint(logs),
        "predict": fingerprint(model.predict(x, batch_size=16, verbose=0)),
    }


def machine():
    """What decides the exact bits: the CPU, the BLAS kernel and the library versions."""
    import numba
    from threadpoolctl import threadpool_info

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    blas = sorted(
        f"{lib.get('internal_api')} {lib.get('architecture')} {lib.get('version')}"
        for lib in threadpool_info()
        if lib.get("user_api") == "blas"
    )
    return {"cpu": cpu, "blas": blas, "numpy": np.__version__, "numba": numba.__version__}


def run_here():
    """All tutorials in this process, with the kernel family it was started with, and the
    machine as this process sees it (after scratchnet's import loaded its BLAS libraries)."""
    floatx_runs = [f for k, f in RUNS if k == os.environ.get("SCRATCHNET_KERNELS", "numba")]
    runs = {
        f"{name}/{floatx}": train(name, floatx) for floatx in floatx_runs for name in OPTIMIZERS
    }
    return {"machine": machine(), "runs": runs}


def run_in_subprocess(kernels):
    """``run_here`` in a fresh process with ``SCRATCHNET_KERNELS=kernels``: (machine, runs)."""
    env = {**os.environ, "SCRATCHNET_KERNELS": kernels, "NUMBA_NUM_THREADS": "2"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, "-c", "import json, tests.tutorial_fingerprints as t; "
         "print(json.dumps(t.run_here()))"],
        env=env, cwd=root, capture_output=True, text=True, check=True,
    )  # fmt: skip
    result = json.loads(out.stdout)
    runs = {f"{kernels}/{key}": value for key, value in result["runs"].items()}
    return result["machine"], runs


def record():
    """Every run of ``RUNS``, with the machine they ran on."""
    runs = {}
    for kernels in sorted({k for k, _ in RUNS}):
        where, found = run_in_subprocess(kernels)
        runs.update(found)
    return {"machine": where, "runs": dict(sorted(runs.items()))}


if __name__ == "__main__":
    print(json.dumps(record(), indent=1))
