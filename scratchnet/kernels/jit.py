"""The one place scratchnet touches numba.

Every kernel in ``scratchnet.kernels`` is written as a plain Python function and jitted here with
the project's options, so:

* ``NUMBA_DISABLE_JIT=1`` still runs everything (slowly) as plain Python;
* compiled machine code is cached on disk (``cache=True``), so a second run skips the JIT,
  and dropped when any kernel file changes (``drop_stale_kernel_cache``);
* fastmath stays off: the parity tests hold the kernels to Keras at tight tolerances;
* arithmetic follows NumPy's rules (``error_model="numpy"``): a float division by zero gives inf
  or NaN instead of raising, which also lets LLVM turn loops that divide into SIMD code
  (measured: docs/kernels/process.md#measured-jit-options);
* no kernel uses numba's own parallel loops (``prange``): the cores share work through
  ``scratchnet.kernels.parallel``, whose threads start sooner and do not spin after each loop
  (measured: docs/kernels/parallel.md#measured-why-not-prange);
* matrix products inside kernels (``np.dot`` in numba) call BLAS through SciPy's
  ``scipy.linalg.cython_blas``, which ``scratchnet.kernels.process`` loads first.

Which kernel family runs (these kernels or their NumPy twins) is ``scratchnet.config``'s switch,
taking effect in ``scratchnet.kernels.backend``.
"""

import hashlib
import os

import numba

from . import process  # noqa: F401  (SciPy's BLAS must be loaded before numba compiles np.dot)

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
    scratchnet``, after all kernel modules are imported (its cost:
    docs/kernels/process.md#measured-numba-cache-stamp).
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
