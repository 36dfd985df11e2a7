"""The loading half of tests/test_file_fuzz.py, in a process of its own.

It reads one JSON request per line on stdin, loads the file it names with scratchnet and
answers one JSON line on stdout, so the test can time each load out (a hang), see a crash of
the process itself (HDF5 is C code), and measure memory here, away from pytest:

    {"path": "...", "architecture": null or the .keras file to build the model from first}
    -> {"outcome": "loaded" | "refused" | "unnamed" | "crash", "message": ...,
        "predictions": [...], "consistent": true, "peak": bytes, "maxrss": bytes}

"refused" is a ValueError naming the file; "unnamed" a ValueError that does not name it;
"crash" any other exception. "peak" is tracemalloc's peak during the load (Python and NumPy
allocations), "maxrss" the process's peak resident memory so far. "consistent" says that every
weight the model holds is what h5py reads at its path in the file (the model holds exactly what
the file says, nothing else).
"""

import io
import json
import resource
import sys
import traceback
import tracemalloc
import warnings
import zipfile

import h5py
import numpy as np

from scratchnet import models, optimizers
from scratchnet.saving.weights import _saveables, _state_of, _vars_path

X = np.random.default_rng(0).random((3, 8, 8, 1)).astype("float32")


def load(request):
    if request["architecture"] is None:
        return models.load_model(request["path"])
    model = models.load_model(request["architecture"])
    model.load_weights(request["path"])
    return model


def consistent(model, path):
    """Whether every array of the model equals the dataset at its path in the file."""
    if path.endswith(".keras"):
        with zipfile.ZipFile(path) as archive:
            source = io.BytesIO(archive.read("model.weights.h5"))
    else:
        source = path
    with h5py.File(source, "r") as f:
        for where, obj in _saveables(model):
            if isinstance(obj, optimizers.Optimizer):
                continue
            for i, array in enumerate(_state_of(obj)):
                saved = np.asarray(f[f"{_vars_path(where)}/{i}"][()]).astype(array.dtype)
                if not np.array_equal(array, saved, equal_nan=array.dtype.kind == "f"):
                    return False
    return True


def answer(request):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a skipped optimizer state warns: that is fine
            model = load(request)
            predictions = model.predict(X, verbose=0)
        return {
            "outcome": "loaded",
            "predictions": np.asarray(predictions, "float64").tolist(),
            "consistent": consistent(model, request["path"]),
        }
    except ValueError as e:
        named = request["path"] in str(e)
        return {"outcome": "refused" if named else "unnamed", "message": str(e)[:2000]}
    except Exception:
        return {"outcome": "crash", "message": traceback.format_exc()[-4000:]}


def main():
    for line in sys.stdin:
        tracemalloc.start()
        reply = answer(json.loads(line))
        reply["peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        reply["maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
