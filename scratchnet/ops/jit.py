"""The one place scratchnet touches numba.

Every kernel in ``scratchnet.ops`` is written as a plain Python function and jitted here with the
project's options, so:

* ``NUMBA_DISABLE_JIT=1`` still runs everything (slowly) as plain Python;
* compiled machine code is cached on disk (``cache=True``), so a second run skips the JIT;
* fastmath stays off: the parity tests hold the kernels to Keras at tight tolerances;
* parallel kernels run on numba's ``workqueue`` threading layer. The OpenMP layer keeps its
  threads spinning after each parallel loop, and those spinning threads starve the BLAS threads
  of NumPy's matrix multiplies that run right after on the same 2 cores: measured on a seminar
  CNN training step, OpenMP was up to 25x slower. Set ``NUMBA_THREADING_LAYER`` to override;
* small batches run NumPy's BLAS on one thread (``blas_threads``): handing a tiny matrix product
  to a second OpenBLAS thread stalled each single-image prediction by about 8 ms.

The switch between the numba kernels and their pure-NumPy reference twins also lives here: set the
environment variable ``SCRATCHNET_KERNELS=numpy`` or call ``use_kernels("numpy")``.
"""

import contextlib
import os

import numba
from threadpoolctl import ThreadpoolController

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

_BACKEND = os.environ.get("SCRATCHNET_KERNELS", "numba").lower()
if _BACKEND not in ("numba", "numpy"):
    raise ValueError(
        f"SCRATCHNET_KERNELS={_BACKEND!r}: expected 'numba' (fast kernels) or 'numpy' "
        "(the readable reference twins)."
    )


def njit(fn=None, *, parallel=False):
    """``numba.njit`` with scratchnet's options: cached to disk, no fastmath."""
    options = dict(cache=True, fastmath=False, parallel=parallel, nogil=True)
    if fn is None:
        return lambda f: numba.njit(**options)(f)
    return numba.njit(**options)(fn)


prange = numba.prange


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


def set_num_threads(n):
    """Limit the numba thread pool (used by the benchmark's 1-vs-2-thread scaling row)."""
    numba.set_num_threads(int(n))


SMALL_BATCH = 16  # up to this many samples, one BLAS thread is faster (measured on 2 cores)
_blas_pools = None  # threadpoolctl's view of the loaded BLAS, made on first use


def blas_threads(batch_size):
    """A context manager: BLAS on one thread for a batch of up to ``SMALL_BATCH`` samples.

    Example:
        >>> with blas_threads(1):
        ...     pass
    """
    global _blas_pools
    if batch_size > SMALL_BATCH:
        return contextlib.nullcontext()
    if _blas_pools is None:
        _blas_pools = ThreadpoolController()
    return _blas_pools.limit(limits=1, user_api="blas")
