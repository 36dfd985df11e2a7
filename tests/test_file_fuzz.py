"""Fuzzing: valid ``.keras`` and ``.weights.h5`` files, scratchnet's and Keras's, mutated.

Mutations (drawn by hypothesis, derandomized under ``HYPOTHESIS_PROFILE=ci``): flipped bits,
truncations; zip members dropped, duplicated and renamed; values in ``config.json`` replaced by
other shapes, dtypes, huge numbers and wrong types; datasets of the HDF5 weights given other
shapes (declared up to 2**40 values) and dtypes, deleted, added, swapped and linked.

Every load runs in one worker process (tests/file_fuzz_worker.py), and every outcome must be:

* a ValueError naming the file, or
* a model that loads and predicts what the original file's model did (exactly, or to the
  precision of a dtype the mutation declared), holding exactly the arrays the file holds.
  One exception, since HDF5 keeps no checksum of its arrays: a bit flipped inside the numbers of
  a ``.weights.h5`` loads those numbers (the model must still hold exactly what h5py reads);

never another exception, a crash of the process, a load over 20 s (a hang), more than 32 MiB
allocated by one load (tracemalloc's peak; the files are tens of KiB) or the worker's peak
resident memory growing by more than 256 MiB over the whole run.
"""

import io
import json
import os
import selectors
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scratchnet import Input, layers, models, utils

MIB = 2**20
TIMEOUT = 20  # seconds for one load; a normal one takes well under one
PEAK_BOUND = 32 * MIB  # tracemalloc's peak of one load
RSS_GROWTH_BOUND = 256 * MIB  # the worker's peak resident memory, over the whole run
EXAMPLES = 40  # per original file; four files


def data():
    rng = np.random.default_rng(0)
    return rng.random((8, 8, 8, 1)).astype("float32"), np.eye(4)[rng.integers(0, 4, 8)]


def scratchnet_model():
    utils.set_random_seed(0)
    return models.Sequential(
        [
            Input((8, 8, 1)),
            layers.Conv2D(3, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(4, activation="softmax"),
        ]
    )


def keras_model():
    from keras_impl.setup import keras

    keras.utils.set_random_seed(0)
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            L.Conv2D(3, 3, activation="relu"),
            L.MaxPooling2D(),
            L.Flatten(),
            L.Dense(4, activation="softmax"),
        ]
    )


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """{name: (path, architecture)}: the four trained files (architecture: the .keras file a
    ``.weights.h5`` is loaded into)."""
    folder = tmp_path_factory.mktemp("originals")
    x, y = data()
    found = {}
    for lib, build in (("scratchnet", scratchnet_model), ("keras", keras_model)):
        model = build()
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
        model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
        model.save(folder / f"{lib}.keras")
        model.save_weights(folder / f"{lib}.weights.h5")
        found[f"{lib}.keras"] = (folder / f"{lib}.keras", None)
        found[f"{lib}.weights.h5"] = (folder / f"{lib}.weights.h5", folder / f"{lib}.keras")
    return found


class Worker:
    """The worker process: ``ask(path, architecture)`` sends one load, waits for its answer."""

    def __init__(self):
        root = Path(__file__).resolve().parent.parent
        env = {
            **os.environ,
            "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        }
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("file_fuzz_worker.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=root,
            env=env,
            text=True,
        )
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.process.stdout, selectors.EVENT_READ)
        self.first_rss = None

    def ask(self, path, architecture, what):
        request = {"path": str(path), "architecture": architecture and str(architecture)}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        if not self.selector.select(TIMEOUT):
            self.process.kill()
            pytest.fail(f"{what}: loading took more than {TIMEOUT} s (a hang)")
        line = self.process.stdout.readline()
        if not line:
            pytest.fail(f"{what}: the worker process died (exit code {self.process.wait()})")
        reply = json.loads(line)
        self.first_rss = self.first_rss or reply["maxrss"]
        return reply

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.close()


@pytest.fixture(scope="module")
def references(originals, worker):
    """{name: predictions of the original file's model}, loaded by the worker."""
    found = {}
    for name, (path, architecture) in originals.items():
        reply = worker.ask(path, architecture, name)
        assert reply["outcome"] == "loaded", reply
        found[name] = np.array(reply["predictions"])
    return found


# ---------------------------------------------------------------------------------- anatomy


def config_paths(value, prefix=()):
    """Every path (keys and indices) into the config, except activations: a different
    activation is a different valid model, not a damaged one."""
    found = [prefix]
    if isinstance(value, (dict, list)):
        for key, child in value.items() if isinstance(value, dict) else enumerate(value):
            if key != "activation":
                found += config_paths(child, prefix + (key,))
    return found


def h5_anatomy(blob):
    """({dataset path: shape}, [group paths]) of a good HDF5 weights file."""
    datasets, groups = {}, []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            datasets[name] = obj.shape
        else:
            groups.append(name)

    with h5py.File(io.BytesIO(blob), "r") as f:
        f.visititems(visit)
    return datasets, groups


@pytest.fixture(scope="module")
def anatomy(originals):
    """{name: dict(blob, members, config, config_paths, datasets, groups)} of each original."""
    found = {}
    for name, (path, _) in originals.items():
        blob = path.read_bytes()
        entry = {"blob": blob}
        if name.endswith(".keras"):
            with zipfile.ZipFile(path) as z:
                entry["members"] = {i.filename: z.read(i) for i in z.infolist()}
            entry["config"] = json.loads(entry["members"]["config.json"])
            entry["config_paths"] = config_paths(entry["config"])
            weights = entry["members"]["model.weights.h5"]
        else:
            weights = blob
        entry["weights"] = weights
        entry["datasets"], entry["groups"] = h5_anatomy(weights)
        found[name] = Anatomy(name, entry)
    return found


class Anatomy(dict):
    """One original's parts (a dict), shown by its name only in hypothesis's reports."""

    def __init__(self, name, parts):
        super().__init__(parts)
        self.name = name

    def __repr__(self):
        return f"<anatomy of {self.name}>"


# ---------------------------------------------------------------------------------- mutations

HUGE = [10**11, 2**31, 2**63, 10**30, 10**400, 1e308, -(10**11)]
ODD = [-1, 0, 1, 2, 3, 1.5, float("nan"), float("inf"), "x", "", None, True, False, [], {}]
DTYPES = ["float16", "float64", "int32", "bool", "complex64", "string", "float128"]
VALUES = HUGE + ODD + DTYPES + [[1, 2], [None, 8, 8, 1], {"a": 1}, [[[[[]]]]]]
H5_DTYPES = ["f2", "f8", "i4", "i8", "u1", "bool", "c8", "S4"]


def shapes():
    small = st.lists(st.integers(0, 6), max_size=4).map(tuple)
    return st.one_of(small, st.sampled_from([(2**40,), (2**20, 2**20), (3, 3, 1, 2**30)]))


def h5_mutation(draw, entry):
    datasets, groups = list(entry["datasets"]), entry["groups"]
    kind = draw(st.sampled_from(["shape", "dtype", "delete", "add", "swap", "link"]))
    if kind == "shape":
        return (kind, draw(st.sampled_from(datasets)), draw(shapes()))
    if kind == "dtype":
        return (kind, draw(st.sampled_from(datasets)), draw(st.sampled_from(H5_DTYPES)))
    if kind == "delete":
        return (kind, draw(st.sampled_from(datasets + groups)))
    if kind == "add":
        return (kind, draw(st.sampled_from(groups)))
    if kind == "swap":
        a = draw(st.sampled_from(datasets))
        return (kind, a, draw(st.sampled_from([d for d in datasets if d != a])))
    return (kind, draw(st.sampled_from(datasets)), draw(st.sampled_from(["soft", "external"])))


def apply_h5(blob, mutation):
    buffer = io.BytesIO(blob)
    with h5py.File(buffer, "a") as f:
        kind, path = mutation[0], mutation[1]
        if kind == "shape":
            del f[path]
            shape = mutation[2]
            if np.prod(shape, dtype=object) <= 10**4:
                f.create_dataset(path, data=np.ones(shape, "f4"))
            else:  # declared, never written: the file stays small
                f.create_dataset(path, shape=shape, dtype="f4")
        elif kind == "dtype":
            values = f[path][()]
            del f[path]
            dtype = mutation[2]
            f.create_dataset(path, data=np.asarray(values).astype(dtype))
        elif kind == "delete":
            del f[path]
        elif kind == "add":
            group = f[path]
            group.create_dataset(str(len(group)), data=np.zeros(2, "f4"))
        elif kind == "swap":
            a, b = f[path][()], f[mutation[2]][()]
            del f[path], f[mutation[2]]
            f[path], f[mutation[2]] = b, a
        else:
            del f[path]
            target = f"/{mutation[1]}"
            f[path] = (
                h5py.SoftLink(target)
                if mutation[2] == "soft"
                else h5py.ExternalLink("/etc/hostname", "/")
            )
    return buffer.getvalue()


def set_path(config, path, value):
    config = json.loads(json.dumps(config))
    if not path:
        return value
    node = config
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return config


def zip_of(members):
    """(name, bytes) pairs as a stored zip, duplicates and all."""
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as z:
        warnings.simplefilter("ignore")  # zipfile warns about a duplicated name
        for name, blob in members:
            z.writestr(name, blob)
    return buffer.getvalue()


@st.composite
def mutations(draw, entry):
    """A description of one mutation of an original, e.g. ``("truncate", 812)``."""
    blob = entry["blob"]
    kinds = ["flip", "truncate", "h5"]
    if entry.name.endswith(".keras"):
        kinds += ["drop", "duplicate", "rename", "config", "config"]
    kind = draw(st.sampled_from(kinds))
    if kind == "flip":
        bits = st.tuples(st.integers(0, len(blob) - 1), st.integers(0, 7))
        return (kind, draw(st.lists(bits, min_size=1, max_size=4)))
    if kind == "truncate":
        return (kind, draw(st.integers(0, len(blob) - 1)))
    if kind == "h5":
        return (kind, h5_mutation(draw, entry))
    names = list(entry["members"])
    member = draw(st.sampled_from(names))
    if kind == "drop":
        return (kind, member)
    if kind == "duplicate":
        return (kind, member, draw(st.sampled_from(names)))
    if kind == "rename":
        return (kind, member, draw(st.sampled_from(names + ["config.JSON", "x", "a/"])))
    return (kind, draw(st.sampled_from(entry["config_paths"])), draw(st.sampled_from(VALUES)))


def mutate(entry, mutation):
    """(the mutated file's bytes, whether a dtype changed, whether the numbers may change)."""
    kind = mutation[0]
    if kind == "flip":
        mutated = bytearray(entry["blob"])
        for position, bit in mutation[1]:
            mutated[position] ^= 1 << bit
        # HDF5 keeps no checksum of its numbers: a flip there loads those numbers
        return bytes(mutated), False, entry.name.endswith(".weights.h5")
    if kind == "truncate":
        return entry["blob"][: mutation[1]], False, False
    if kind == "h5":
        h5 = mutation[1]
        weights = apply_h5(entry["weights"], h5)
        shapes = entry["datasets"]
        # two datasets of one shape swapped (a kernel and its Adam slot) are a valid file
        same = h5[0] == "swap" and shapes[h5[1]] == shapes[h5[2]]
        if entry.name.endswith(".weights.h5"):
            return weights, h5[0] == "dtype", same
        members = {**entry["members"], "model.weights.h5": weights}
        return zip_of(members.items()), h5[0] == "dtype", same
    members = list(entry["members"].items())
    if kind == "drop":
        return zip_of([m for m in members if m[0] != mutation[1]]), False, False
    if kind == "duplicate":
        return zip_of(members + [(mutation[1], entry["members"][mutation[2]])]), False, False
    if kind == "rename":
        renamed = [(mutation[2] if n == mutation[1] else n, b) for n, b in members]
        return zip_of(renamed), False, False
    _, path, value = mutation
    text = json.dumps(set_path(entry["config"], path, value))
    members = [(n, text if n == "config.json" else b) for n, b in members]
    return zip_of(members), "dtype" in path or value in DTYPES, False


# ---------------------------------------------------------------------------------- the test

NAMES = ["scratchnet.keras", "scratchnet.weights.h5", "keras.keras", "keras.weights.h5"]


@pytest.mark.parametrize("name", NAMES)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(draw=st.data())
def test_a_mutated_file_is_refused_or_loads_as_the_original(
    name, draw, originals, anatomy, references, worker, tmp_path_factory
):
    entry = anatomy[name]
    description = draw.draw(mutations(entry), label="mutation")
    mutated, dtype_changed, numbers_may_change = mutate(entry, description)
    folder = tmp_path_factory.getbasetemp() / "mutated"
    folder.mkdir(exist_ok=True)
    path = folder / f"m{len(os.listdir(folder))}_{name}"
    path.write_bytes(mutated)
    what = f"{name} mutated by {description}"
    reply = worker.ask(path, originals[name][1], what)
    assert reply["outcome"] in ("refused", "loaded"), f"{what}: {reply['outcome']}: {reply}"
    assert reply["peak"] <= PEAK_BOUND, f"{what}: one load allocated {reply['peak']:,} bytes"
    growth = reply["maxrss"] - worker.first_rss
    assert growth <= RSS_GROWTH_BOUND, f"{what}: the worker's peak memory grew by {growth:,}"
    if reply["outcome"] == "refused":
        return
    assert reply["consistent"], f"{what}: the model does not hold what the file holds"
    if numbers_may_change:
        return
    tolerance = dict(rtol=2e-2, atol=2e-3) if dtype_changed else dict(rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        np.array(reply["predictions"]), references[name], **tolerance, err_msg=what
    )
