"""scratchnet.ops.parallel: every chunk runs exactly once, on every worker, errors come back."""

import threading

import numpy as np
import pytest

from scratchnet.ops import jit, parallel


@pytest.mark.parametrize("n", [0, 1, 2, 7, 100])
def test_every_chunk_runs_exactly_once(n):
    calls = np.zeros(n, dtype=int)
    lock = threading.Lock()

    def body(worker, i):
        assert 0 <= worker < jit.num_threads()
        with lock:
            calls[i] += 1

    parallel.parallel_for(n, body)
    np.testing.assert_array_equal(calls, np.ones(n, dtype=int))


def test_work_is_shared_between_threads():
    if jit.num_threads() < 2:
        pytest.skip("one core: nothing to share")
    seen = set()
    barrier = threading.Barrier(2, timeout=10)

    def body(worker, i):
        seen.add(threading.get_ident())
        barrier.wait()  # both chunks must be running at the same time to pass this line

    parallel.parallel_for(2, body)
    assert len(seen) == 2


def test_one_thread_runs_everything_in_the_caller():
    previous = jit.num_threads()
    jit.set_num_threads(1)
    try:
        idents = set()
        parallel.parallel_for(5, lambda worker, i: idents.add((worker, threading.get_ident())))
    finally:
        jit.set_num_threads(previous)
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
