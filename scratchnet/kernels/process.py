"""Everything scratchnet changes for the whole process, in one place.

Importing ``scratchnet`` (which imports this module through ``scratchnet.kernels``) does two
things to the process, both for speed, both said here:

* **malloc** (Linux with glibc): freed memory is kept for reuse instead of being handed back to
  the kernel (``keep_freed_memory``). A training step frees and re-allocates megabytes of
  activations, and every fresh 4 KB page costs a page fault (measured:
  docs/kernels/process.md#measured-malloc). Set ``SCRATCHNET_MALLOC=default`` before the import
  to opt out.
* **SciPy's BLAS** is loaded, on its own (``load_scipy_blas``): matrix products inside numba
  kernels (``np.dot``) call BLAS through ``scipy.linalg.cython_blas``, and ``one_thread_blas``
  must find that OpenBLAS next to NumPy's. It is loaded without the rest of ``scipy.linalg``
  (measured: docs/kernels/process.md#measured-scipys-blas).

And one thing while a model computes, restored afterwards: **NumPy's BLAS runs on one thread**
(``one_thread_blas``). OpenBLAS's own worker threads keep spinning for a long time after each
multi-threaded call, and on 2 cores that spinning took most of a core away from the
convolution's chunk threads (``scratchnet.kernels.parallel``), which already keep both cores
busy. One thread is also faster for the tiny products of single-image prediction (measured:
docs/kernels/process.md#measured-one-thread-blas). The setting is process-wide, like BLAS's own.
"""

import contextlib
import ctypes
import importlib.machinery
import importlib.util
import itertools
import os
import platform
import sys
import threading

from threadpoolctl import ThreadpoolController


def load_scipy_blas():
    """Load ``scipy.linalg.cython_blas``, the BLAS entry points numba's ``np.dot`` calls.

    ``import scipy.linalg.cython_blas`` would first run ``scipy/linalg/__init__.py``, which loads
    all of SciPy's linear algebra (LAPACK wrappers, decompositions, f2py, array-API helpers),
    none of it used (docs/kernels/process.md#measured-scipys-blas). The extension module itself
    needs none of that, so it is loaded straight from its file and registered under its full
    name, where numba looks it up. If the file is not where SciPy's wheels put it, the ordinary
    import does the job.
    """
    name = "scipy.linalg.cython_blas"
    if name in sys.modules:
        return
    scipy_spec = importlib.util.find_spec("scipy")
    if scipy_spec is None or scipy_spec.origin is None:  # no SciPy: let the import say so
        importlib.import_module(name)
        return
    folder = os.path.join(os.path.dirname(scipy_spec.origin), "linalg")
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(folder, "cython_blas" + suffix)
        if os.path.exists(path):
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            sys.modules[name] = module
            return
    importlib.import_module(name)


load_scipy_blas()

_blas_kernel = []  # [family] once ``blas_kernel_family`` has looked


def blas_kernel_family():
    """The CPU kernel family OpenBLAS picked for this machine ("Haswell", "SkylakeX", ...:
    threadpoolctl's "architecture") in the BLAS that the numba kernels' products call, SciPy's
    (NumPy's when SciPy's is not found), or None for another BLAS. Looked up once.

    Which kernels OpenBLAS runs decides how fast its thin products are, and so which way to
    compute a convolution pays (``scratchnet.kernels.conv.shifted.use_shifted``).

    Example:
        >>> blas_kernel_family() is None or isinstance(blas_kernel_family(), str)
        True
    """
    if not _blas_kernel:
        libs = ThreadpoolController().select(internal_api="openblas").lib_controllers
        # SciPy's first: its folder is scipy.libs (wheels) or scipy/... (other builds)
        libs = sorted(libs, key=lambda lib: "scipy" not in os.path.dirname(lib.filepath))
        _blas_kernel.append(getattr(libs[0], "architecture", None) if libs else None)
    return _blas_kernel[0]


def keep_freed_memory():
    """Tell glibc's malloc to keep freed blocks up to 32 MB in the heap for the next allocation.

    By default glibc serves big blocks with fresh ``mmap`` pages and returns freed memory to the
    kernel, so the next array of the same size page-faults all over again. ``mallopt`` changes
    this for the whole process: the peak memory is the same, it is just not given back. Returns
    True if applied (Linux with glibc only).
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # from <malloc.h>
    limit = 32 * 1024 * 1024  # glibc's largest allowed mmap threshold on 64-bit
    return bool(libc.mallopt(M_MMAP_THRESHOLD, limit) and libc.mallopt(M_TRIM_THRESHOLD, 2 * limit))


if os.environ.get("SCRATCHNET_MALLOC", "keep").lower() != "default":
    keep_freed_memory()

_blas_libraries = None  # one BlasThreads per loaded BLAS library, found on first use
_blas_lock = threading.Lock()  # guards the two below: blocks open and close on many threads
_blas_blocks = 0  # open one_thread_blas blocks, on every thread: a step opens one, each op one more
_blas_previous = None  # the thread counts the outermost block found, restored when all are closed


class BlasThreads:
    """Reads and sets one BLAS library's thread count, from whichever thread calls.

    threadpoolctl finds the libraries (NumPy's and SciPy's OpenBLAS) and reads their counts, but
    since its version 3.8 its ``set_num_threads`` on an OpenBLAS without OpenMP obeys only one
    "controlling" thread, the first to call it while alive, and silently does nothing on the
    others. ``one_thread_blas`` may open on any thread (a server's threads predict at once), so
    for OpenBLAS this calls OpenBLAS's own ``openblas_set_num_threads`` (with the library's
    symbol prefix and suffix, ``scipy_openblas_set_num_threads64_`` in NumPy's wheel), which sets
    the one process-wide count from any thread. Other libraries go through threadpoolctl.
    (Measured, with threadpoolctl 3.8.0: a block opened on a second thread after the main thread
    had opened one left OpenBLAS on 2 threads, and on OpenBLAS's Haswell kernels its products
    then rounded differently from the serial run's: tests/test_threads.py.)
    """

    def __init__(self, controller):
        self.controller = controller
        self._set = None
        if controller.internal_api == "openblas" and controller.threading_layer != "openmp":
            for prefix, suffix in itertools.product(("", "scipy_"), ("", "64_", "_64")):
                name = f"{prefix}openblas_set_num_threads{suffix}"
                function = getattr(controller.dynlib, name, None)
                if function is not None:
                    function.argtypes, function.restype = [ctypes.c_int], None
                    self._set = function
                    break

    def get(self):
        return self.controller.get_num_threads()

    def set(self, n):
        if self._set is not None:
            self._set(n)
        else:
            self.controller.set_num_threads(n)


def blas_libraries():
    """A ``BlasThreads`` for every BLAS library loaded in the process (looked up once).

    Example:
        >>> all(lib.get() >= 1 for lib in blas_libraries())
        True
    """
    global _blas_libraries
    with _blas_lock:
        if _blas_libraries is None:
            controllers = ThreadpoolController().select(user_api="blas").lib_controllers
            _blas_libraries = [BlasThreads(controller) for controller in controllers]
        return _blas_libraries


@contextlib.contextmanager
def one_thread_blas():
    """A context manager: NumPy's BLAS runs each matrix product on the calling thread alone.

    Entered once per training step and per chunked operation. Only the first block to open
    does anything: it flips the thread count (one cheap C call,
    docs/kernels/process.md#measured-one-thread-blas) when it is not already 1; the last one to
    close, on whichever thread (a server's threads predict at once), restores it. Process-wide,
    like BLAS's own setting, and set from any thread (``BlasThreads``).

    Example:
        >>> with one_thread_blas():
        ...     pass
    """
    global _blas_blocks, _blas_previous
    libraries = _blas_libraries if _blas_libraries is not None else blas_libraries()
    with _blas_lock:
        if _blas_blocks == 0:
            _blas_previous = [lib.get() for lib in libraries]
            for lib, n in zip(libraries, _blas_previous, strict=True):
                if n != 1:
                    lib.set(1)
        _blas_blocks += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_blocks -= 1
            if _blas_blocks == 0:
                for lib, n in zip(libraries, _blas_previous, strict=True):
                    if n != 1:
                        lib.set(n)
