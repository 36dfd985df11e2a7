"""The one place scratchnet touches numba.

Every kernel in ``scratchnet.ops`` is written as a plain Python function and jitted here with the
project's options, so:

* ``NUMBA_DISABLE_JIT=1`` still runs everything (slowly) as plain Python;
* compiled machine code is cached on disk (``cache=True``), so a second run skips the JIT,
  and dropped when any kernel file changes (``drop_stale_kernel_cache``);
* fastmath stays off: the parity tests hold the kernels to Keras at tight tolerances;
* arithmetic follows NumPy's rules (``error_model="numpy"``): a float division by zero gives inf
  or NaN instead of raising, which also lets LLVM turn loops that divide into SIMD code
  (``scratchnet.ops.elementwise``'s sigmoid ran 3x slower with Python's rule);
* no kernel uses numba's own parallel loops (``prange``): the cores share work through
  ``scratchnet.ops.parallel``, whose threads start in tens of microseconds where a numba
  parallel loop took about 100 (and numba's OpenMP threads, spinning after each loop, made a
  training step up to 25x slower on 2 cores);
* matrix products inside kernels (``np.dot`` in numba) call BLAS through SciPy's
  ``scipy.linalg.cython_blas``, which is loaded here, up front, so that ``one_thread_blas``
  finds SciPy's OpenBLAS next to NumPy's. It is loaded on its own (``load_scipy_blas``), without
  the rest of ``scipy.linalg``, which would add 15 MB and 0.15 s to every run;
* NumPy's BLAS runs on one thread while a model computes (``one_thread_blas``). OpenBLAS's own
  worker threads keep spinning for a long time after each multi-threaded call, and on 2 cores
  that spinning took most of a core away from the convolution's chunk threads
  (``scratchnet.ops.parallel``), which already keep both cores busy. One thread is also faster
  for the tiny products of single-image prediction;
* on Linux, freed memory is kept for reuse instead of being handed back to the kernel
  (``keep_freed_memory``). A training step frees and re-allocates megabytes of activations, and
  every fresh 4 KB page costs a page fault: measured here, about 1.3 ms per 2.7 MB array, and
  ~1,300 faults per convnet step without this. Set ``SCRATCHNET_MALLOC=default`` to opt out.

The switch between the numba kernels and their pure-NumPy reference twins also lives here: set the
environment variable ``SCRATCHNET_KERNELS=numpy`` or call ``use_kernels("numpy")``.
"""

import contextlib
import ctypes
import hashlib
import importlib.machinery
import importlib.util
import os
import platform
import sys

import numba
from threadpoolctl import ThreadpoolController


def load_scipy_blas():
    """Load ``scipy.linalg.cython_blas``, the BLAS entry points numba's ``np.dot`` calls.

    ``import scipy.linalg.cython_blas`` would first run ``scipy/linalg/__init__.py``, which loads
    all of SciPy's linear algebra (LAPACK wrappers, decompositions, f2py, array-API helpers):
    15 MB and 0.15 s here, none of it used. The extension module itself needs none of that, so it
    is loaded straight from its file and registered under its full name, where numba looks it up.
    If the file is not where SciPy's wheels put it, the ordinary import does the job.
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

_BACKEND = os.environ.get("SCRATCHNET_KERNELS", "numba").lower()
if _BACKEND not in ("numba", "numpy"):
    raise ValueError(
        f"SCRATCHNET_KERNELS={_BACKEND!r}: expected 'numba' (fast kernels) or 'numpy' "
        "(the readable reference twins)."
    )


_OPTIONS = dict(cache=True, fastmath=False, nogil=True, error_model="numpy")
_kernels = []  # every kernel njit made, for drop_stale_kernel_cache


def njit(fn=None):
    """``numba.njit`` with scratchnet's options: cached to disk, no fastmath, NumPy's division
    rules, and without Python's lock while a kernel runs (so kernels on two threads run at the
    same time)."""

    def jit(f):
        kernel = numba.njit(**_OPTIONS)(f)
        _kernels.append(kernel)
        return kernel

    return jit if fn is None else jit(fn)


def drop_stale_kernel_cache():
    """Delete numba's cached machine code of scratchnet's kernels when any kernel source changed.

    numba stamps each cached kernel with its own file only. A kernel compiled into another (conv's
    chunk kernels call ``blas.gemm``, ``elementwise``'s sigmoid, ...) would keep running the old
    code after an edit of the other file, and a change of ``_OPTIONS`` would go unnoticed too:
    a learner who edits a kernel would see no change. So a stamp of every kernel file, numba's
    version and the options is kept next to each cache folder; when it differs, that folder's
    cached kernels are deleted and compiled afresh on first use. Called once, by ``import
    scratchnet``, after all kernel modules are imported. Costs about a millisecond.
    """
    folders = {}  # cache folder -> the source files whose kernels it holds
    for kernel in _kernels:
        folder = getattr(getattr(kernel, "_cache", None), "_cache_path", None)
        if folder is not None:  # None: NUMBA_DISABLE_JIT (plain functions) or no cache
            folders.setdefault(folder, set()).add(kernel.py_func.__code__.co_filename)
    digest = hashlib.sha256(repr((numba.__version__, sorted(_OPTIONS.items()))).encode())
    for source in sorted(set().union(*folders.values())):
        with open(source, "rb") as f:
            digest.update(source.encode() + f.read())
    stamp = digest.hexdigest()
    for folder, sources in folders.items():
        stamp_file = os.path.join(folder, "scratchnet-kernels.stamp")
        try:
            with open(stamp_file) as f:
                if f.read() == stamp:
                    continue
        except OSError:
            pass  # no stamp yet
        modules = tuple(os.path.splitext(os.path.basename(s))[0] + "." for s in sources)
        try:
            os.makedirs(folder, exist_ok=True)
            for name in os.listdir(folder):
                if name.startswith(modules) and name.endswith((".nbi", ".nbc")):
                    os.remove(os.path.join(folder, name))
            temporary = f"{stamp_file}.{os.getpid()}.tmp"  # processes may race: each its own
            with open(temporary, "w") as f:
                f.write(stamp)
            os.replace(temporary, stamp_file)
        except OSError:
            pass  # a read-only folder: numba will not have cached there either


def use_kernels(name):
    """Select 'numba' (default, fast) or 'numpy' (reference twins) for every op at run time."""
    global _BACKEND
    name = str(name).lower()
    if name not in ("numba", "numpy"):
        raise ValueError(f"use_kernels: expected 'numba' or 'numpy', got {name!r}.")
    _BACKEND = name


def kernels():
    """The name of the kernel family in use: 'numba' or 'numpy'."""
    return _BACKEND


_num_threads = numba.config.NUMBA_NUM_THREADS  # NUMBA_NUM_THREADS if set, else the core count


def set_num_threads(n):
    """Use ``n`` threads (1 up to the core count) for ``scratchnet.ops.parallel``'s chunks."""
    global _num_threads
    numba.set_num_threads(int(n))  # checks the range, and keeps numba's own count in step
    _num_threads = int(n)


def num_threads():
    """The number of threads kernels run on (by default, the number of cores).

    Kept here rather than asked from numba each time: ``numba.get_num_threads()`` costs a few
    microseconds, and a training step asks about 15 times.
    """
    return _num_threads


_blas_libraries = None  # threadpoolctl's handles on the loaded BLAS libraries, found on first use
_blas_depth = 0  # open one_thread_blas blocks: a step opens one, each chunked op one more


@contextlib.contextmanager
def one_thread_blas():
    """A context manager: NumPy's BLAS runs each matrix product on the calling thread alone.

    Entered once per training step and per chunked operation. Only the outermost block does
    anything: it flips the thread count (a C call of about a microsecond) when it is not
    already 1, and restores it on exit. Process-wide, like BLAS's own setting.

    Example:
        >>> with one_thread_blas():
        ...     pass
    """
    global _blas_libraries, _blas_depth
    if _blas_depth:
        _blas_depth += 1
        try:
            yield
        finally:
            _blas_depth -= 1
        return
    if _blas_libraries is None:
        _blas_libraries = ThreadpoolController().select(user_api="blas").lib_controllers
    previous = [lib.get_num_threads() for lib in _blas_libraries]
    for lib, n in zip(_blas_libraries, previous, strict=True):
        if n != 1:
            lib.set_num_threads(1)
    _blas_depth = 1
    try:
        yield
    finally:
        _blas_depth = 0
        for lib, n in zip(_blas_libraries, previous, strict=True):
            if n != 1:
                lib.set_num_threads(n)
