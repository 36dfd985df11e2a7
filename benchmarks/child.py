"""The measurements that need a fresh process of their own, run as ``python -m benchmarks.child``.

Each task prints one JSON line as its last line of output; ``spawn`` runs a task with extra
environment variables and returns that line as a dict. Tasks:

* ``memory``: one training epoch; peak resident memory (``VmHWM`` from /proc/self/status, the
  kernel's high-water mark of this process's resident set: interpreter, imported libraries, data
  and training) and the resident memory just before ``fit`` (``VmRSS``). The high-water mark is
  reset just before ``fit`` (``5`` written to /proc/self/clear_refs, Linux 4.0+), so the
  temporaries of preparing the data, freed by then, do not count; the data itself, still
  resident, does. The same for both libraries. Not ``ru_maxrss``:
  Linux carries the forking parent's high-water mark over fork + exec into the child's
  ``ru_maxrss`` (and into ``RUSAGE_CHILDREN``, a maximum over all children), so a child started
  by a big benchmark process would report the parent's size.
* ``startup``: the seconds of ``import`` of the library, building and compiling the model, the
  first training step (where numba compiles, or loads its cache, and TensorFlow traces) and a
  second step for comparison. The caller points ``NUMBA_CACHE_DIR`` at a fresh folder.
* ``train``: steady-state training throughput with a given number of threads, set before the
  library starts its thread pools.

Example:
    python -m benchmarks.child '{"task": "startup", "impl": "scratchnet", "model": "torres"}'
"""

import json
import os
import subprocess
import sys
import time


def _proc_status_kib(field):
    """``field`` (e.g. "VmRSS", "VmHWM") of /proc/self/status, in KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field} line")


def _import(impl, threads=None):
    if impl == "scratchnet":
        import scratchnet

        if threads:
            scratchnet.config.set_num_threads(threads)
        return scratchnet
    import keras
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    return keras


def memory(impl, model, images):
    from benchmarks import workloads

    lib = _import(impl)
    (x, y), _ = workloads.load_mnist()
    x, y = workloads.prepare(model, x[:images]), y[:images]
    net = workloads.build_compiled(model, lib)
    before = _proc_status_kib("VmRSS")
    try:  # reset VmHWM to the current resident size: the peak from here on is fit's
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        hwm_reset = True
    except OSError:
        hwm_reset = False
    start = time.perf_counter()
    net.fit(
        x, y, batch_size=workloads.TUTORIALS[model].batch_size, epochs=1, verbose=0, shuffle=False
    )
    seconds = time.perf_counter() - start
    peak = _proc_status_kib("VmHWM")
    return {
        "peak_kib": peak,
        "before_fit_kib": before,
        "epoch_seconds": seconds,
        "images": images,
        "hwm_reset": hwm_reset,
    }


def startup(impl, model):
    start = time.perf_counter()
    lib = _import(impl)
    imported = time.perf_counter()
    from benchmarks import workloads

    (x, y), _ = workloads.load_mnist()
    batch = workloads.TUTORIALS[model].batch_size
    x, y = workloads.prepare(model, x[: 2 * batch]), y[: 2 * batch]
    built = time.perf_counter()
    net = workloads.build_compiled(model, lib)
    compiled = time.perf_counter()
    net.train_on_batch(x[:batch], y[:batch])
    first = time.perf_counter()
    net.train_on_batch(x[batch:], y[batch:])
    second = time.perf_counter()
    return {
        "import": imported - start,
        "build": compiled - built,
        "first_step": first - compiled,
        "second_step": second - first,
    }


def train(impl, model, threads, batch_size, steps, repeats):
    lib = _import(impl, threads)
    from benchmarks import timing, workloads

    (x, y), _ = workloads.load_mnist()
    n = batch_size * steps
    x, y = workloads.prepare(model, x[:n]), y[:n]
    net = workloads.build_compiled(model, lib)
    seconds = timing.fit_epoch_seconds(net, lib, x, y, batch_size, epochs=1 + repeats)[1:]
    return {"images": n, "seconds": seconds}


TASKS = {"memory": memory, "startup": startup, "train": train}


def thread_env(threads):
    """Environment variables that cap every thread pool at ``threads`` (BLAS, OpenMP, numba)."""
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
    return {name: str(threads) for name in names}


def spawn(task, env=None, timeout=1800, unset=(), **kwargs):
    """Run ``task(**kwargs)`` in a fresh interpreter with ``env`` added and the variables named
    in ``unset`` removed; return its JSON result.

    Raises:
        RuntimeError: the child failed; the message holds the end of its stderr.
    """
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    full_env = {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in unset}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, full_env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.child", json.dumps({"task": task, **kwargs})],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=root,
        timeout=timeout,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        raise RuntimeError(f"benchmarks.child {task} {kwargs} failed ({done.returncode}):\n{tail}")
    return json.loads(lines[-1])


def main(argv=None):
    args = json.loads((argv or sys.argv[1:])[0])
    task = TASKS[args.pop("task")]
    print(json.dumps(task(**args)), flush=True)


if __name__ == "__main__":
    main()
