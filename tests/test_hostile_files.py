"""Hostile and corrupt files: each is refused with a ValueError naming the file, fast, small.

The three files reported in issue 17 (a weights member that inflates to 4 GiB, a config asking
for ``Dense(units=10**11)``, a ``config.json`` nested 100,000 levels deep) and the other ways a
file could make scratchnet allocate, import, follow a link or run code. The guarantees are in
the README's "Reliability" section; tests/test_file_fuzz.py mutates files at random.
"""

import io
import json
import struct
import time
import tracemalloc
import zipfile
import zlib

import h5py
import numpy as np
import pytest

from scratchnet import Input, layers, models

MIB = 2**20


def small_model():
    model = models.Sequential([Input((4,)), layers.Dense(3, activation="relu"), layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    return model


def members(path):
    with zipfile.ZipFile(path) as z:
        return {info.filename: z.read(info) for info in z.infolist()}


def write_zip(path, entries):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)


def with_config(path, tmp_path, edit, name="edited.keras"):
    """A copy of the .keras file at ``path`` with ``edit(config)`` applied to its config.json."""
    entries = members(path)
    config = json.loads(entries["config.json"])
    edit(config)
    entries["config.json"] = json.dumps(config)
    out = tmp_path / name
    write_zip(out, entries)
    return out


@pytest.fixture
def saved(tmp_path):
    model = small_model()
    model.save(tmp_path / "m.keras")
    model.save_weights(tmp_path / "m.weights.h5")
    return model, tmp_path / "m.keras", tmp_path / "m.weights.h5"


def refused_fast(load, match, seconds=1.0, peak_mib=32):
    """``load()`` raises a ValueError matching ``match`` within ``seconds``, allocating at most
    ``peak_mib`` MiB (tracemalloc's peak: Python and NumPy allocations)."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ValueError, match=match):
            load()
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < seconds, f"refused after {elapsed:.2f} s"
    assert peak < peak_mib * MIB, f"allocated {peak / MIB:.0f} MiB before refusing"


# ---------------------------------------------------------------------------------- zip bombs


def _deflated_zeros(size):
    """A raw deflate stream of ``size`` zero bytes (size a multiple of 1 MiB), and its CRC.

    Each MiB is compressed once, fully flushed (byte-aligned, no back-references), so the
    stream is that block repeated: 4 GiB of zeros in 4 MB, built in a second or two.
    """
    zeros = bytes(MIB)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(size // MIB):
        crc = zlib.crc32(zeros, crc)
    return block * (size // MIB) + c.flush(), crc


def _zip_with_raw_member(entries, name, raw, size, crc):
    """A zip of ``entries`` (stored) plus member ``name`` whose deflated bytes are ``raw``,
    declaring ``size`` bytes and ``crc``: written by hand, since zipfile would compress it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for member, data in entries.items():
            z.writestr(member, data)
    body = buffer.getvalue()
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        cd_start = z.start_dir
    local_headers, central = body[:cd_start], body[cd_start : body.rindex(b"PK\x05\x06")]
    encoded = name.encode()
    offset = len(local_headers)
    local = struct.pack(
        "<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(raw), size, len(encoded), 0
    )
    record = struct.pack(
        "<4s6H3L5H2L",
        b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(raw), size, len(encoded), 0, 0, 0, 0, 0,
        offset,
    )  # fmt: skip
    data = local_headers + local + encoded + raw
    directory = central + record + encoded
    count = len(entries) + 1
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(directory), len(data), 0)
    return data + directory + end


@pytest.fixture(scope="module")
def deflated_4gib():
    return _deflated_zeros(4096 * MIB - MIB)  # just under 4 GiB: no zip64 records needed


def test_zip_bomb_in_the_weights_member_is_refused_without_inflating_it(
    saved, tmp_path, deflated_4gib
):
    model, path, _ = saved
    raw, crc = deflated_4gib
    entries = {k: v for k, v in members(path).items() if k != "model.weights.h5"}
    bomb = tmp_path / "bomb.keras"
    bomb.write_bytes(_zip_with_raw_member(entries, "model.weights.h5", raw, 4095 * MIB, crc))
    with zipfile.ZipFile(bomb) as z:  # a well-formed bomb: zipfile would inflate it all
        info = z.getinfo("model.weights.h5")
        assert (info.file_size, info.compress_size) == (4095 * MIB, len(raw))
        assert len(raw) < 5 * MIB
    refused_fast(
        lambda: models.load_model(bomb), r"bomb.keras.*model\.weights\.h5.*out of all proportion"
    )
    refused_fast(lambda: small_model().load_weights(bomb), r"bomb.keras.*out of all proportion")


def test_zip_bomb_in_config_json_is_refused(saved, tmp_path, deflated_4gib):
    _, path, _ = saved
    raw, crc = deflated_4gib
    entries = {k: v for k, v in members(path).items() if k != "config.json"}
    bomb = tmp_path / "config_bomb.keras"
    bomb.write_bytes(_zip_with_raw_member(entries, "config.json", raw, 4095 * MIB, crc))
    refused_fast(lambda: models.load_model(bomb), r"config_bomb.keras.*'config.json' declares")


def test_a_header_that_understates_the_size_cannot_inflate_past_it(saved, tmp_path, deflated_4gib):
    """The header says 2 KiB; the stream would inflate to 4 GiB: the read stops at 2 KiB."""
    _, path, _ = saved
    raw, crc = deflated_4gib
    entries = {k: v for k, v in members(path).items() if k != "model.weights.h5"}
    liar = tmp_path / "liar.keras"
    liar.write_bytes(_zip_with_raw_member(entries, "model.weights.h5", raw, 2048, crc))
    refused_fast(lambda: models.load_model(liar), r"liar.keras.*damaged.*model\.weights\.h5")


def test_an_oversized_weights_file_is_refused_before_reading(saved, tmp_path):
    model, _, weights = saved
    padded = tmp_path / "padded.weights.h5"
    padded.write_bytes(weights.read_bytes() + bytes(64 * MIB))
    refused_fast(lambda: model.load_weights(padded), r"padded.weights.h5.*out of all proportion")


# ---------------------------------------------------------------------------------- configs


@pytest.mark.parametrize("units", [10**11, 10**30, 2**63])
def test_a_huge_layer_is_refused_before_allocating(saved, tmp_path, units):
    _, path, _ = saved

    def huge(config):
        config["config"]["layers"][1]["config"]["units"] = units

    edited = with_config(path, tmp_path, huge)
    refused_fast(
        lambda: models.load_model(edited),
        r"edited.keras.*layer 'dense\w*' \(Dense\).*shape \(4, " + str(units) + r"\)",
    )


def test_config_nested_100000_levels_is_refused(saved, tmp_path):
    _, path, _ = saved
    entries = members(path)
    depth = 100_000
    config = json.loads(entries["config.json"])
    text = json.dumps(config)[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"
    entries["config.json"] = text
    write_zip(tmp_path / "deep.keras", entries)
    refused_fast(lambda: models.load_model(tmp_path / "deep.keras"), r"deep.keras.*nested")


def test_config_nested_deeper_than_the_bound_is_refused(saved, tmp_path):
    """500 levels: JSON parses it, but rebuilding would recurse that deep; refused at 100."""
    _, path, _ = saved
    value = []
    for _ in range(500):
        value = [value]
    edited = with_config(path, tmp_path, lambda c: c["config"].update(deep=value))
    with pytest.raises(ValueError, match=r"edited.keras.*nested more than 100 levels"):
        models.load_model(edited)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda c: c["config"].update(layers=5), "TypeError"),
        (lambda c: c.update(config=[]), "AttributeError|does not describe"),
        (lambda c: c["config"]["layers"][1].update(config=[1, 2]), "AttributeError|TypeError"),
        (lambda c: c["config"]["layers"][1]["config"].update(units="ten"), "units|ten"),
        (lambda c: c["config"]["layers"][1]["config"].update(units=-3), "units|-3"),
        (lambda c: c["config"]["layers"][1]["config"].update(units=float("inf")), "units|inf"),
        (
            lambda c: c["config"]["layers"][1]["config"].update(dtype="S999999999999"),
            "dtype|data type",
        ),
        (
            lambda c: c["config"]["layers"][1]["config"].update(dtype="no_such_type"),
            "dtype|data type",
        ),
        (lambda c: c["config"]["layers"][0]["config"].update(batch_shape=[None, "4"]), "shape"),
        (
            lambda c: c["config"]["layers"][0]["config"].update(batch_shape=[None, 10**6, 10**6]),
            "values per sample",
        ),
        (lambda c: c["config"]["layers"][1].pop("class_name"), "not a scratchnet layer"),
        (lambda c: c["compile_config"].update(optimizer=[1]), "optimizer|AttributeError"),
        (lambda c: c["compile_config"].update(loss=7), "loss|7"),
    ],
)
def test_wrong_types_and_values_in_the_config_name_the_file(saved, tmp_path, edit, match):
    _, path, _ = saved
    edited = with_config(path, tmp_path, edit)
    with pytest.raises(ValueError, match=match) as raised:
        models.load_model(edited)
    assert "edited.keras" in str(raised.value)


def test_an_array_of_strings_in_a_config_is_refused(saved, tmp_path):
    """NumPy would allocate 2 GB for one string of this dtype."""
    _, path, _ = saved

    def rescale(config):
        config["config"]["layers"].insert(
            1,
            {
                "module": "keras.layers",
                "class_name": "Rescaling",
                "config": {
                    "name": "r",
                    "scale": {
                        "class_name": "__numpy__",
                        "config": {"value": [1], "dtype": "S2000000000"},
                    },
                    "offset": 0.0,
                },
                "registered_name": None,
            },
        )

    edited = with_config(path, tmp_path, rescale)
    refused_fast(lambda: models.load_model(edited), r"edited.keras.*only numbers")


# ---------------------------------------------------------------------------------- zip members


@pytest.mark.filterwarnings("ignore:Duplicate name")  # zipfile's, while the test writes one
def test_duplicated_encrypted_and_missing_members(saved, tmp_path):
    _, path, _ = saved
    entries = members(path)
    with zipfile.ZipFile(tmp_path / "dup.keras", "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
        z.writestr("config.json", entries["config.json"])
    with pytest.raises(ValueError, match=r"dup.keras.*2 members named 'config.json'"):
        models.load_model(tmp_path / "dup.keras")

    blob = bytearray((tmp_path / "m.keras").read_bytes())
    start = blob.index(b"PK\x01\x02")
    while start >= 0:  # set the "encrypted" flag of every central directory record
        blob[start + 8] |= 1
        start = blob.find(b"PK\x01\x02", start + 1)
    (tmp_path / "enc.keras").write_bytes(bytes(blob))
    with pytest.raises(ValueError, match=r"enc.keras.*encrypted|enc.keras.*damaged"):
        models.load_model(tmp_path / "enc.keras")

    write_zip(tmp_path / "noweights.keras", {"config.json": entries["config.json"]})
    with pytest.raises(ValueError, match=r"noweights.keras.*no 'model.weights.h5'"):
        models.load_model(tmp_path / "noweights.keras")


# ---------------------------------------------------------------------------------- HDF5


def rewrite_h5(src, dst, edit):
    dst.write_bytes(src.read_bytes())
    with h5py.File(dst, "a") as f:
        edit(f)
    return dst


def replace_dataset(f, path, **kwargs):
    del f[path]
    f.create_dataset(path, **kwargs)


@pytest.mark.parametrize(
    "edit, match",
    [
        (  # a declared shape of 2**40 values with no data written: 4 bytes on disk
            lambda f: replace_dataset(f, "layers/dense/vars/0", shape=(2**40,), dtype="f4"),
            r"weight 0 has shape \(4, 3\) but the file has \(1099511627776,\)",
        ),
        (
            lambda f: replace_dataset(f, "layers/dense/vars/0", data=np.array([b"ab"] * 12)),
            "not numbers",
        ),
        (
            lambda f: replace_dataset(
                f, "layers/dense/vars/0", data=np.zeros((4, 3), "f4"), compression="gzip"
            ),
            "chunks|compressed",
        ),
        (
            lambda f: replace_dataset(f, "layers/dense/vars/0", data=np.zeros((4, 3), "c8")),
            r"dtype float32 but the file has complex64",
        ),
        (
            lambda f: f.__setitem__("layers/dense_1/vars/2", h5py.SoftLink("/layers/dense/vars/0")),
            "soft or external links",
        ),
        (
            lambda f: f.__setitem__("extra", h5py.ExternalLink("/etc/passwd", "/")),
            "soft or external links",
        ),
        (lambda f: f.__delitem__("layers/dense/vars/1"), r"expects 2 weight array\(s\)"),
    ],
)
def test_hdf5_datasets_are_checked_from_metadata_before_reading(saved, tmp_path, edit, match):
    model, _, weights = saved
    before = [w.copy() for w in model.get_weights()]
    bad = rewrite_h5(weights, tmp_path / "bad.weights.h5", edit)
    with pytest.raises(ValueError, match=match) as raised:
        model.load_weights(bad)
    assert "bad.weights.h5" in str(raised.value)
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)  # nothing half-loaded


def test_wider_dtypes_in_the_weights_file_load_exactly(saved, tmp_path):
    """float64 datasets holding a float32 model's numbers load into it exactly (Keras casts)."""
    model, _, weights = saved

    def widen(f):
        for path in ("layers/dense/vars/0", "layers/dense/vars/1"):
            values = f[path][()]
            replace_dataset(f, path, data=values.astype("f8"))

    wide = rewrite_h5(weights, tmp_path / "wide.weights.h5", widen)
    target = small_model()
    target.load_weights(wide)
    for a, b in zip(model.get_weights(), target.get_weights()):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------- code


@pytest.mark.parametrize(
    "entry",
    [
        {"module": "os", "class_name": "system", "config": {"command": "echo hi"}},
        {"module": "subprocess", "class_name": "Popen", "registered_name": "subprocess>Popen"},
        {"module": "builtins", "class_name": "eval", "registered_name": "builtins>eval"},
        {"module": "keras.src.saving", "class_name": "load_model", "registered_name": None},
    ],
)
def test_a_file_never_imports_a_module(saved, tmp_path, entry, monkeypatch):
    _, path, _ = saved
    imported = []
    real_import = __import__

    def spy(name, *args, **kwargs):
        imported.append(name)
        return real_import(name, *args, **kwargs)

    def add(config):
        config["config"]["layers"][1] = {"config": {"name": "x"}, **entry}

    edited = with_config(path, tmp_path, add)
    monkeypatch.setattr("builtins.__import__", spy)
    with pytest.raises(ValueError, match=r"edited.keras.*(cannot find|not in scratchnet|never)"):
        models.load_model(edited)
    monkeypatch.undo()
    assert not {"os", "subprocess", "keras", "keras.src.saving"} & set(imported)


def test_a_lambda_with_python_code_loads_only_with_safe_mode_false(tmp_path):
    model = models.Sequential([Input((3,)), layers.Lambda(lambda x: x * 2.0 + 1.0)])
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(ValueError, match=r"lambda.keras.*safe_mode=False"):
        models.load_model(path)
    loaded = models.load_model(path, safe_mode=False)
    x = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), x * 2.0 + 1.0)
