"""Split a batch into chunks and run them on all cores: how the convolution uses the 2 CPUs.

A Conv2D step is, for every image, a chain: im2col (a numba kernel) -> a matrix multiply (BLAS)
-> bias and activation. There are two ways to spread that over 2 cores:

1. Run each stage over the whole batch with both cores (a parallel numba loop, then a two-thread
   BLAS call, ...). The im2col matrix of a whole batch is tens of MB, so every stage streams it
   through main memory, and numba's and OpenBLAS's thread pools take turns on the same 2 cores.
2. Cut the batch into chunks of a few images and let each core run the WHOLE chain on one chunk
   at a time, with single-threaded BLAS. A chunk's im2col matrix (with its outputs, about
   ``conv.chunks.CHUNK_FLOATS`` values: 640 KB) stays in that core's cache from the moment it is
   written to the moment the matrix multiply reads it.

scratchnet does 2 (measured: docs/kernels/parallel.md#measured-chunks-on-all-cores).

``parallel_for(n, body)`` is the whole mechanism: the calling thread and ``num_threads() - 1``
helper threads take chunk numbers from one shared counter until none are left, and each calls
``body(worker, chunk)``. Numba kernels (compiled with ``nogil``) and NumPy's matrix multiplies
release Python's GIL, so the threads really run at the same time. Which thread gets which chunk
varies from run to run, so ``body`` must write each chunk's results to that chunk's own place
(never accumulate across chunks in a worker): results are then identical on every run.

The number of workers is ``scratchnet.config.num_threads()`` (by default ``NUMBA_NUM_THREADS``
or the number of cores; ``scratchnet.config.set_num_threads`` changes it). BLAS runs
single-threaded inside (each core already has its own chunk: OpenBLAS's own threads would only
fight over the same cores; ``scratchnet.kernels.process.one_thread_blas``).
"""

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..config import num_threads
from .process import one_thread_blas

_executor = None  # the helper threads, started on first use
_executor_size = 0  # how many helper threads it has
_executor_lock = threading.Lock()  # two threads' first parallel_for start one executor


def parallel_for(n, body):
    """Call ``body(worker, i)`` for every ``i`` in ``range(n)``, spread over the threads.

    Args:
        n: number of chunks.
        body: ``body(worker, i)`` does chunk ``i``. ``worker`` (0 <= worker < num_threads()) names
            the thread running it, so ``body`` can reuse a scratch buffer per worker.

    Chunks are handed out one at a time from a shared counter, so a thread that starts late (or
    is slowed down by another program) simply does fewer of them. Exceptions raised by ``body``
    are re-raised here, after every thread has stopped.

    Example:
        >>> out = [0] * 4
        >>> def body(worker, i):
        ...     out[i] = i * i
        >>> parallel_for(4, body)
        >>> out
        [0, 1, 4, 9]
    """
    global _executor, _executor_size
    n_threads = min(num_threads(), n)
    with one_thread_blas():
        if n_threads <= 1:
            for i in range(n):
                body(0, i)
            return
        counter = itertools.count()  # next() on it is atomic under the GIL

        def run(worker):
            i = next(counter)
            while i < n:
                body(worker, i)
                i = next(counter)

        with _executor_lock:
            if _executor is None or _executor_size < n_threads - 1:
                _executor_size = n_threads - 1
                _executor = ThreadPoolExecutor(_executor_size, thread_name_prefix="scratchnet")
            executor = _executor
        helpers = [executor.submit(run, worker) for worker in range(1, n_threads)]
        try:
            run(0)
        finally:
            for helper in helpers:
                helper.exception()  # wait for it, whatever happened here
        for helper in helpers:
            helper.result()  # re-raise a helper's exception


# Work cut into many small pieces (a convolution's chunks, BatchNormalization's blocks) is
# handed to the threads in groups of consecutive pieces, one numba call per group, about this
# many groups per thread: a thread then stays in machine code from one piece to the next instead
# of returning to Python and queueing for its lock, and one slowed down by another program still
# leaves the rest to the others (measured: docs/kernels/conv.md#measured-groups-of-chunks).
GROUPS_PER_THREAD = 4


def groups(n):
    """``(first, last)`` ranges of ``range(n)``: consecutive, in order, about
    ``GROUPS_PER_THREAD`` per thread (fewer when n is small).

    Example:
        >>> parts = groups(100)
        >>> parts[0][0], parts[-1][1], len(parts) == GROUPS_PER_THREAD * num_threads()
        (0, 100, True)
        >>> groups(2)
        [(0, 1), (1, 2)]
    """
    count = min(n, GROUPS_PER_THREAD * num_threads())
    edges = [n * g // count for g in range(count + 1)]
    return list(zip(edges[:-1], edges[1:]))


# Work that BLAS computes is cut into pieces counted for this many threads, whatever the thread
# count (``set_num_threads`` or ``NUMBA_NUM_THREADS``): a big product into this many blocks
# (``matmul``), a small batch into at least this many convolution chunks
# (``conv.chunks.batch_chunks``). OpenBLAS may round a row of a product differently when the
# product has another number of rows (measured on its Haswell kernels: a Conv2D's predictions on
# 1 and 2 threads differed in the last bit when each thread had its own chunk), so cutting by
# the thread count would change the numbers with it (tests/test_determinism.py). 2 is the cores
# of the machine scratchnet is measured on; one thread runs the pieces one after the other.
CUT_PIECES = 2

# Below this a product is better done by one thread: handing work to a second thread and waiting
# for it costs more than it saves (measured: docs/kernels/parallel.md#measured-hand-off-costs).
MIN_PARALLEL_FLOPS = 20_000_000


def matmul(a, b):
    """``a @ b`` for 2-D arrays, with the output's longer side cut into blocks for the threads.

    Used by Dense. BLAS runs on one thread while a model computes (``scratchnet.kernels.process``),
    so a big product is cut into ``CUT_PIECES`` blocks of output rows (or columns), run on the
    threads. Each block is a complete matrix product of its own, so nothing has to be added up
    afterwards. The count is ``CUT_PIECES``, not the threads in use: BLAS may round a row
    differently in a block of another size, and the thread count must not change the numbers.

    Shapes:
        a (M, K), b (K, N) -> (M, N)

    Example:
        >>> import numpy as np
        >>> matmul(np.ones((2, 3)), np.ones((3, 4)))
        array([[3., 3., 3., 3.],
               [3., 3., 3., 3.]])
    """
    (M, K), N = a.shape, b.shape[1]
    out = np.empty((M, N), dtype=np.result_type(a, b))
    if 2 * M * K * N < MIN_PARALLEL_FLOPS:
        return np.matmul(a, b, out=out)
    by_columns = N >= M
    edges = np.linspace(0, N if by_columns else M, CUT_PIECES + 1).astype(int)

    def block(worker, i):
        s, e = edges[i], edges[i + 1]
        if by_columns:
            np.matmul(a, b[:, s:e], out=out[:, s:e])
        else:
            np.matmul(a[s:e], b, out=out[s:e])

    parallel_for(CUT_PIECES, block)
    return out


class side_by_side:
    """Matrix products written one per line, run side by side on the cores when the block ends.

        with side_by_side() as products:
            dkernel = products.matmul(x.T, dz)      # dkernel = x^T @ dz
            dx = products.matmul(dz, kernel.T)      # dx = dz @ kernel^T

    ``products.matmul(a, b)`` returns the array that will hold ``a @ b`` once the block ends.
    Used by Dense's backward pass, whose two products have the same size: run at the same
    time, one per thread, each stays whole (one bigger, more efficient matrix product per core)
    and the threads meet once instead of twice. A product too small to be worth a second thread
    (under half of ``MIN_PARALLEL_FLOPS``, as two of them are) is computed right away on the
    calling thread. The numbers are those of ``a @ b`` either way.

    Example:
        >>> import numpy as np
        >>> with side_by_side() as products:
        ...     p = products.matmul(np.ones((2, 3)), np.ones((3, 1)))
        ...     q = products.matmul(np.ones((1, 2)), np.ones((2, 2)))
        >>> p.ravel(), q.ravel()
        (array([3., 3.]), array([2., 2.]))
    """

    def __init__(self):
        self.products = []  # (a, b, out) for each product left for the end of the block

    def matmul(self, a, b):
        if num_threads() == 1 or 4 * a.shape[0] * a.shape[1] * b.shape[1] < MIN_PARALLEL_FLOPS:
            return a @ b  # small: now, on this thread
        dtype = a.dtype if a.dtype == b.dtype else np.result_type(a, b)
        out = np.empty((a.shape[0], b.shape[1]), dtype=dtype)  # (M, N)
        self.products.append((a, b, out))
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is not None or not self.products:
            return False

        def product(worker, i):
            a, b, out = self.products[i]
            np.matmul(a, b, out=out)

        parallel_for(len(self.products), product)
        return False
