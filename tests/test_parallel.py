"""scratchnet.kernels.parallel: every chunk runs exactly once, on every worker, errors come back."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from scratchnet import config
from scratchnet.kernels import parallel, process


@pytest.mark.parametrize("n", [0, 1, 2, 7, 100])
def test_every_chunk_runs_exactly_once(n):
    calls = np.zeros(n, dtype=int)
    lock = threading.Lock()

    def body(worker, i):
        assert 0 <= worker < config.num_threads()
        with lock:
            calls[i] += 1

    parallel.parallel_for(n, body)
    np.testing.assert_array_equal(calls, np.ones(n, dtype=int))


def test_work_is_shared_between_threads():
    assert config.num_threads() >= 2, "scripts/test.sh sets NUMBA_NUM_THREADS=2"
    seen = set()
    barrier = threading.Barrier(2, timeout=10)

    def body(worker, i):
        seen.add(threading.get_ident())
        barrier.wait()  # both chunks must be running at the same time to pass this line

    parallel.parallel_for(2, body)
    assert len(seen) == 2


def test_one_thread_runs_everything_in_the_caller():
    previous = config.num_threads()
    config.set_num_threads(1)
    try:
        idents = set()
        parallel.parallel_for(5, lambda worker, i: idents.add((worker, threading.get_ident())))
    finally:
        config.set_num_threads(previous)
    assert idents == {(0, threading.get_ident())}


def test_an_error_in_a_chunk_is_raised_after_all_threads_stop():
    done = []

    def body(worker, i):
        if i == 3:
            raise ValueError("chunk 3 failed")
        done.append(i)

    with pytest.raises(ValueError, match="chunk 3 failed"):
        parallel.parallel_for(8, body)
    assert sorted(done) == [0, 1, 2, 4, 5, 6, 7]  # the other chunks still ran to the end


@pytest.mark.parametrize("shape", [(3, 4, 5), (64, 4608, 128), (4608, 64, 128), (128, 64, 4608)])
def test_matmul_splits_big_products_and_matches_numpy(shape):
    M, K, N = shape
    rng = np.random.default_rng(0)
    a = rng.normal(size=(M, K)).astype(np.float32)
    b = rng.normal(size=(N, K)).astype(np.float32).T  # a transposed view, as Dense passes
    out = parallel.matmul(a, b)
    assert out.shape == (M, N) and out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_allclose(out, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-3)


def test_matmul_really_splits_between_threads(monkeypatch):
    assert config.num_threads() >= 2, "scripts/test.sh sets NUMBA_NUM_THREADS=2"
    calls = []
    monkeypatch.setattr(parallel, "parallel_for", lambda n, body: calls.append(n) or None)
    parallel.matmul(np.ones((64, 4608)), np.ones((4608, 128)))
    parallel.matmul(np.ones((3, 4)), np.ones((4, 5)))  # too small to be worth a thread
    assert calls == [config.num_threads()]


def test_one_thread_blas_sets_one_thread_and_restores_the_count():
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    with process.one_thread_blas():
        assert set(blas_threads()) == {1}
        with process.one_thread_blas():  # nested, as parallel_for inside a training step
            assert set(blas_threads()) == {1}
        assert set(blas_threads()) == {1}
    assert blas_threads() == before


def test_scipys_blas_is_loaded_without_the_rest_of_scipy_linalg():
    """numba's np.dot finds SciPy's BLAS, threadpoolctl sees it, and scipy.linalg still imports
    normally afterwards. In a fresh interpreter: ``import scratchnet`` loads it once per process."""
    code = """
import sys
import numba
import numpy as np
import scratchnet
assert "scipy.linalg.cython_blas" in sys.modules
assert "scipy.linalg" not in sys.modules, "import scratchnet loaded all of scipy.linalg"

@numba.njit  # not scratchnet's njit: its disk cache needs a file
def product(a, b):
    return np.dot(a, b)

a = np.arange(12, dtype=np.float32).reshape(3, 4)
np.testing.assert_array_equal(product(a, a.T), a @ a.T)
from threadpoolctl import threadpool_info
assert len([i for i in threadpool_info() if i["user_api"] == "blas"]) >= 2, threadpool_info()
import scipy.linalg
np.testing.assert_allclose(scipy.linalg.blas.sgemm(1.0, a, a.T), a @ a.T)
print("ok")
"""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_a_changed_kernel_source_drops_the_cached_kernels(tmp_path):
    """numba stamps a cached kernel with its own file only; scratchnet's stamp of every kernel
    file makes an edit of any of them (here: a stamp that no longer matches) clear the cache,
    while an unchanged tree keeps it (a warm start)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    code = (
        "import numpy as np, scratchnet\n"
        "from scratchnet.kernels import elementwise\n"
        "elementwise.sigmoid_kernel(np.zeros(4, np.float32), np.zeros(4, np.float32))\n"
    )

    def run():
        done = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True)
        assert done.returncode == 0, done.stderr.decode()

    def cached():
        return {p.name for p in tmp_path.rglob("elementwise.*.nbi")}

    run()
    (index,) = tmp_path.rglob("elementwise.sigmoid_kernel-*.nbi")
    stamp = index.parent / "scratchnet-kernels.stamp"
    kept = cached()
    assert kept, "the kernel was not cached"
    run()
    assert cached() == kept  # unchanged sources: the cache stays
    stamp.write_text("an older checkout")
    (stamp.parent / "elementwise.old_kernel-1.py311.nbi").write_bytes(b"stale")
    (stamp.parent / "someone_else.kernel-1.py311.nbi").write_bytes(b"not ours")
    run()
    assert "elementwise.old_kernel-1.py311.nbi" not in cached()
    assert (stamp.parent / "someone_else.kernel-1.py311.nbi").exists()
    assert stamp.read_text() != "an older checkout"


def test_one_thread_blas_holds_on_any_thread():
    """A block opened on a second thread, after the main thread has opened and closed one, still
    holds every BLAS library to one thread. threadpoolctl 3.8's ``set_num_threads`` obeys only
    the first thread that called it and silently does nothing on the others: through it, this
    thread's BLAS stayed on 2 threads (and a server's concurrent predictions differed from the
    serial ones on OpenBLAS's Haswell kernels: tests/test_threads.py)."""
    libraries = process.blas_libraries()
    assert libraries, "no BLAS library found"
    before = [lib.get() for lib in libraries]
    seen = []

    def work():
        with process.one_thread_blas():
            seen.append([lib.get() for lib in libraries])
        seen.append([lib.get() for lib in libraries])

    try:
        for lib in libraries:
            lib.set(2)
        with process.one_thread_blas():
            pass  # the main thread has set the count now
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    finally:
        for lib, n in zip(libraries, before, strict=True):
            lib.set(n)
    assert seen == [[1] * len(libraries), [2] * len(libraries)]


@pytest.mark.parametrize("N", [1, 3, 32, 128, 1000])
def test_the_work_is_cut_the_same_way_on_any_number_of_threads(N):
    """The convolution's chunks and matmul's blocks follow ``CUT_PIECES``, not the thread count:
    the same numbers on 1 or 2 threads (a BLAS product may round a row by the product's size)."""
    from scratchnet.kernels.conv.chunks import CHUNK_FLOATS, batch_chunks

    rng = np.random.default_rng(N)
    a = rng.normal(size=(N * 40, 300)).astype(np.float32)  # over MIN_PARALLEL_FLOPS from N = 3
    b = rng.normal(size=(300, 400)).astype(np.float32)
    cuts, products, before = [], [], config.num_threads()
    for threads in (1, 2):
        config.set_num_threads(threads)
        try:
            cuts.append([batch_chunks(N, f) for f in (1000, 27_716, 163_840)])
            products.append(parallel.matmul(a, b))
        finally:
            config.set_num_threads(before)
    assert cuts[0] == cuts[1]
    per_chunk = min(CHUNK_FLOATS // 1000, -(-N // parallel.CUT_PIECES))  # at least CUT_PIECES
    assert cuts[0][0][0] == (0, per_chunk)
    np.testing.assert_array_equal(products[0], products[1])
