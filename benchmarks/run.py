"""Benchmark scratchnet against Keras 3 + TensorFlow on the five MNIST tutorials (issue 5) and a
modern small CNN with BatchNormalization (issue 15), and against PyTorch when it is installed
(issue 19: ``pip install -e '.[bench]'`` or ``make bench``; the main section's rows).

    python -m benchmarks.run                      # everything, about 9 minutes here without PyTorch
    python -m benchmarks.run --quick              # a few steps, a subset of rows (CI)
    python -m benchmarks.run --models zhou torres --out /tmp/bench.md

Writes a Markdown report (default ``benchmarks/RESULTS.md``) and prints it. PyTorch's rounds add to
that, and on a busy machine much more (its 2-thread training ran 3-40x slower than on 1 thread
at a load average of 5 on these 2 cores): ``--steps`` and ``--repeats`` cut them down.

How each number is measured, and why that is fair:

* Same work on every side. One process loads MNIST once and prepares each tutorial's pixels as
  float32 (``benchmarks.workloads``); scratchnet and Keras get the very same arrays, the same batch
  size (seminar 32, zhou 32, hanoi 64, torres 100, convnet 128, modern 128), the same optimizer
  (seminar SGD(0.01), zhou the default RMSprop, hanoi, convnet and modern Adam, torres SGD), the
  same loss (categorical cross-entropy) and metric (accuracy).
* Keras runs the way a user runs it: ``model.compile`` with its defaults (``jit_compile="auto"``,
  which Keras resolves to no XLA on a CPU-only machine), TensorFlow's defaults (oneDNN on, all
  cores), and ``model.fit`` on NumPy arrays. scratchnet runs through the same ``fit`` call.
* Training throughput: each round calls ``fit(x, y, batch_size, epochs=1, verbose=0,
  shuffle=False)`` on the first ``steps * batch`` training images and times the epoch with a
  callback (``on_epoch_begin`` to ``on_epoch_end``, i.e. every step and nothing of ``fit``'s
  set-up). The first round is a warm-up (numba compiles or loads its cache, TensorFlow traces its
  graph) and is dropped; the result is the median of the remaining rounds. Keras's traced train
  function is kept between ``fit`` calls, so a round is exactly an epoch after the first; we
  checked that these rounds match the 2nd, 3rd, ... epochs of one long ``fit``. No validation.
* PyTorch (``benchmarks.torch_models``, the main section only) runs the way a PyTorch user
  writes it: the same architecture as an ``nn.Sequential`` on NCHW tensors in memory (the same
  float32 images, transposed once up front, outside every clock; the labels as class indices),
  ``nn.CrossEntropyLoss`` on logits for softmax + categorical cross-entropy, the optimizer of
  the Keras model with the same hyper-parameters (RMSprop ``alpha=rho=0.9``, RMSprop's and
  Adam's ``eps=1e-7``, SGD's learning rate; ``torch_models`` says where epsilon sits differently),
  and ``torch.set_num_threads`` set to scratchnet's thread count. It starts from scratchnet's
  initial weights, as Keras does. A training round is one epoch of the plain loop
  (``zero_grad``, forward, loss, ``backward``, ``step``, running loss and accuracy) over the same
  ``steps`` batches, in order (``shuffle=False``, like ``fit`` here), timed from the first batch
  to the end of the last step. Inference: ``net.eval()``, ``torch.inference_mode()``, batches of
  1000, softmax, a NumPy array at the end; latency: the same with one image (``predict``), and
  ``softmax(net(x))`` in inference mode (``model(x)``). Before timing, every model is checked to
  be the same model as scratchnet's: parameter counts, forward outputs within 1e-5, and one SGD
  step within 1e-3 of the largest weight change (``torch_models.check_same_model``); the report
  gives the differences. Without PyTorch the report says "not installed" and leaves its columns
  out.
* Interleaving: the libraries take turns round by round (the order flips every round:
  scratchnet, Keras, PyTorch, then PyTorch, Keras, scratchnet), so load from other processes on
  the machine hits all alike. A paired ratio (scratchnet/Keras, scratchnet/PyTorch) divides the
  two libraries' times of one round; the report gives their median and range.
* Inference: ``predict(x, batch_size=1000, verbose=0)`` on the first test images, median of rounds.
* Latency: ``predict(one image, verbose=0)`` and the direct call ``model(one image)`` (Keras's
  tensor is converted with ``np.asarray``), median over many calls after a warm-up. The calls
  come in blocks of ``LATENCY_BLOCK`` back-to-back calls, the libraries' blocks taking turns,
  as an app that predicts again and again makes them. Single calls taking turns measured the
  other library instead: TensorFlow's worker threads keep spinning for about 2 ms after each
  Keras call, and scratchnet's next three or four calls ran up to 2x slower while they did
  (0.78, 0.53, 0.47, 0.43 ms, then 0.36 ms from the fifth on, for the hanoi CNN).
* The sections below are scratchnet against Keras only.
* Peak memory: one full training epoch (60,000 images; fewer in --quick) per library, each in a
  fresh process; the child's ``VmHWM`` from /proc/self/status after ``fit`` (``benchmarks.child``
  explains why not ``ru_maxrss``).
* numba against the NumPy twins: scratchnet alone, training throughput as above, switching with
  ``scratchnet.config.use_kernels``.
* JIT cost, threads: fresh processes (``benchmarks.child``). Scaling with batch size: in process,
  training throughput as above with ``clamp(1024 // batch, 4, steps)`` steps per epoch.
* Roofline: analytic FLOPs per image (``workloads.flops_per_image``) times measured images/s,
  against NumPy's float32 matmul rate measured here (``timing.matmul_peak_gflops``).

The targets of issue 5 are reported next to the numbers, never asserted: the run succeeds whatever
the machine's load.
"""

import argparse
import datetime
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time

import numpy as np

from benchmarks import child, report, timing, torch_models, workloads

IMPLS = ("scratchnet", "keras")  # every section
MAIN_IMPLS = (*IMPLS, "pytorch")  # the main section, PyTorch when it is installed
SECTIONS = ("main", "memory", "kernels", "startup", "scaling", "threads")

FULL = dict(
    models=workloads.NAMES,
    steps=200,
    repeats=7,
    infer_images=10000,
    latency_calls=50,
    memory_images=60000,
    memory_models=workloads.NAMES,
    kernel_steps=50,
    startup_model="seminar",
    scaling_model="seminar",
    scaling_batches=(1, 8, 32, 128, 512),
    thread_steps=100,
    matmul_repeats=5,
)
QUICK = dict(
    models=("zhou", "torres", "modern"),
    steps=8,
    repeats=2,
    infer_images=2000,
    latency_calls=5,
    memory_images=3000,
    memory_models=("torres",),
    kernel_steps=4,
    startup_model="torres",
    scaling_model="torres",
    scaling_batches=(1, 32),
    thread_steps=10,
    matmul_repeats=2,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="a few steps, a subset of rows")
    parser.add_argument(
        "--out",
        default=os.path.join("benchmarks", "RESULTS.md"),
        help="Markdown file to write (default benchmarks/RESULTS.md)",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        choices=workloads.NAMES,
        help="models for the per-model rows (default: all; --quick: three)",
    )
    parser.add_argument(
        "--sections",
        nargs="+",
        choices=SECTIONS,
        default=list(SECTIONS),
        help="which measurements to run (default: all)",
    )
    parser.add_argument("--repeats", type=int, help="measured rounds per number")
    parser.add_argument("--steps", type=int, help="training steps per timed epoch")
    return parser.parse_args(argv)


def _log(message):
    print(f"[benchmarks] {message}", file=sys.stderr, flush=True)


def machine_info():
    import numba

    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "threads": _threads(),
    }


def _threads():
    from scratchnet import config  # (imported late: the start-up section times the import)

    return config.num_threads()


def _load_avg():
    return ", ".join(f"{v:.1f}" for v in os.getloadavg())


def _throughput(images, seconds):
    return images / statistics.median(seconds)


def measure_main(libs, data, cfg):
    """Training, inference and latency rows, the libraries interleaved, per model.

    ``libs`` holds scratchnet and Keras, and PyTorch when it is installed (``torch_models``).
    """
    (x_train, y_train), (x_test, _) = data
    impls = [impl for impl in MAIN_IMPLS if impl in libs]
    results = {}
    for name in cfg["models"]:
        batch = workloads.TUTORIALS[name].batch_size
        n = batch * cfg["steps"]
        x, y = workloads.prepare(name, x_train[:n]), y_train[:n]
        xt = workloads.prepare(name, x_test[: cfg["infer_images"]])
        inputs = {impl: (x, y, xt) for impl in IMPLS}
        models = {impl: workloads.build_compiled(name, libs[impl]) for impl in IMPLS}
        models["keras"].set_weights(models["scratchnet"].get_weights())
        same_model = None
        if "pytorch" in libs:
            same_model = _add_pytorch(name, libs, models, inputs)
        _log(f"{name}: training, {cfg['repeats']} rounds of {cfg['steps']} steps of {batch}")
        rounds = {
            impl: _fit_round(models[impl], libs[impl], *inputs[impl][:2], batch) for impl in impls
        }
        train = timing.interleaved(rounds, cfg["repeats"])
        _log(f"{name}: inference and latency")
        infer = timing.interleaved(
            {impl: timing.timed(_predictor(models[impl], inputs[impl][2], 1000)) for impl in impls},
            cfg["repeats"],
        )
        calls = cfg["latency_calls"]
        ones = {impl: inputs[impl][2][:1] for impl in impls}
        predict = _latency({impl: _predictor(models[impl], ones[impl], 1) for impl in impls}, calls)
        call = _latency({impl: _caller(models[impl], ones[impl]) for impl in impls}, calls)
        results[name] = {
            "batch": batch,
            "train": {impl: _throughput(n, train[impl]) for impl in impls},
            # slowest and fastest round: this VM's speed drifts by 20% and more between minutes
            "train_range": {impl: [n / max(train[impl]), n / min(train[impl])] for impl in impls},
            # each round's scratchnet/Keras ratio: the two ran in the same round, under the same
            # drift; the same for scratchnet/PyTorch
            "train_round_ratios": _round_ratios(train, "keras"),
            "infer": {impl: _throughput(len(xt), infer[impl]) for impl in impls},
            "predict_ms": {impl: 1e3 * statistics.median(predict[impl]) for impl in impls},
            "call_ms": {impl: 1e3 * statistics.median(call[impl]) for impl in impls},
        }
        if same_model is not None:
            results[name]["train_round_ratios_pytorch"] = _round_ratios(train, "pytorch")
            results[name]["same_model"] = same_model
        _log(f"{name}: {results[name]['train']}")
    return results


def _add_pytorch(name, libs, models, inputs):
    """Check that PyTorch's model is the same model, then add it and its inputs to ``models`` and
    ``inputs``; returns the check's numbers (``torch_models.check_same_model``)."""
    torch, (x, y, xt) = libs["pytorch"], inputs["scratchnet"]
    _log(f"{name}: checking that PyTorch computes the same model")
    check = min(len(x), 64)  # the check builds its own fresh models, on the first images
    same_model = torch_models.check_same_model(
        torch, libs["scratchnet"], name, x[:check], y[:check]
    )
    # transposed to NCHW and the labels made class indices, once, outside every clock
    inputs["pytorch"] = (
        torch_models.to_tensor(torch, x),
        torch_models.to_labels(torch, y),
        torch_models.to_tensor(torch, xt),
    )
    models["pytorch"] = peer = torch_models.Peer(
        torch, name, models["scratchnet"].get_weights(), models["keras"].optimizer
    )
    mine = peer.predict(inputs["pytorch"][2][:256], batch_size=256)  # the benchmarked models
    theirs = models["keras"].predict(xt[:256], batch_size=256, verbose=0)
    same_model["predict_vs_keras"] = float(np.abs(mine - theirs).max())
    return same_model


def _round_ratios(seconds, other):
    """scratchnet's speed over ``other``'s, round by round (seconds are per round)."""
    return [o / s for s, o in zip(seconds["scratchnet"], seconds[other])]


LATENCY_BLOCK = 25  # back-to-back calls per library turn (see the module docstring)


def _latency(calls, total):
    """``{impl: [seconds of each call]}``: ``total`` timed calls per library, in blocks."""
    block = min(LATENCY_BLOCK, total)
    rounds = timing.interleaved(
        {impl: timing.timed_block(fn, block) for impl, fn in calls.items()},
        -(-total // block),  # ceil: at least ``total`` calls
    )
    return {impl: [s for one_round in rounds[impl] for s in one_round] for impl in rounds}


def _fit_round(model, lib, x, y, batch):
    if isinstance(model, torch_models.Peer):
        return lambda: model.train_epoch(x, y, batch, shuffle=False)
    return lambda: timing.fit_epoch_seconds(model, lib, x, y, batch)[0]


def _predictor(model, x, batch):
    return lambda: model.predict(x, batch_size=batch, verbose=0)


def _caller(model, x):
    return lambda: np.asarray(model(x, training=False))


def measure_memory(cfg):
    results = {}
    for name in cfg["memory_models"]:
        _log(f"{name}: peak memory of an epoch of {cfg['memory_images']} images, per library")
        results[name] = {
            impl: child.spawn("memory", impl=impl, model=name, images=cfg["memory_images"])
            for impl in IMPLS
        }
    return results


def measure_kernels(scratchnet, data, cfg):
    config = scratchnet.config

    (x_train, y_train), _ = data
    results = {}
    previous = config.kernels()
    try:
        for name in cfg["models"]:
            batch = workloads.TUTORIALS[name].batch_size
            n = batch * cfg["kernel_steps"]
            x, y = workloads.prepare(name, x_train[:n]), y_train[:n]
            model = workloads.build_compiled(name, scratchnet)
            _log(f"{name}: numba kernels against the NumPy twins")

            def round_with(kernels, model=model, x=x, y=y, batch=batch):
                def run():
                    config.use_kernels(kernels)
                    return timing.fit_epoch_seconds(model, scratchnet, x, y, batch)[0]

                return run

            seconds = timing.interleaved(
                {k: round_with(k) for k in ("numba", "numpy")}, max(1, cfg["repeats"] // 2)
            )
            results[name] = {k: _throughput(n, s) for k, s in seconds.items()}
    finally:
        config.use_kernels(previous)
    return results


def measure_startup(cfg):
    name = cfg["startup_model"]
    runs = {}
    # Python's default: bytecode caches written and reused (the report says why)
    default = {"unset": ("PYTHONDONTWRITEBYTECODE",), "model": name}
    with tempfile.TemporaryDirectory(prefix="scratchnet-numba-cache-") as cache:
        env = {"NUMBA_CACHE_DIR": cache}
        _log(f"start-up: scratchnet with an empty numba cache ({name})")
        runs["scratchnet"] = {"cold": child.spawn("startup", env, impl="scratchnet", **default)}
        _log("start-up: scratchnet with the warm cache")
        runs["scratchnet"]["warm"] = child.spawn("startup", env, impl="scratchnet", **default)
    _log("start-up: Keras")
    runs["keras"] = {"fresh process": child.spawn("startup", impl="keras", **default)}
    return {"model": name, "runs": runs}


def measure_scaling(libs, data, cfg, sections):
    name = cfg["scaling_model"]
    (x_train, y_train), _ = data
    out = {"model": name}
    if "scaling" in sections:
        out["batch"] = {}
        for batch in cfg["scaling_batches"]:
            steps = min(max(1024 // batch, 4), cfg["steps"])
            n = batch * steps
            x, y = workloads.prepare(name, x_train[:n]), y_train[:n]
            models = {impl: workloads.build_compiled(name, libs[impl]) for impl in IMPLS}
            _log(f"scaling: {name} at batch {batch}, {steps} steps")
            seconds = timing.interleaved(
                {impl: _fit_round(models[impl], libs[impl], x, y, batch) for impl in IMPLS},
                max(1, cfg["repeats"] // 2),
            )
            out["batch"][batch] = {impl: _throughput(n, s) for impl, s in seconds.items()}
    if "threads" in sections:
        batch = workloads.TUTORIALS[name].batch_size
        out["threads_batch"] = batch
        out["threads"] = {}
        for threads in (1, 2):
            _log(f"threads: {name} with {threads} thread(s), each library in its own process")
            out["threads"][threads] = {}
            for impl in IMPLS:
                r = child.spawn(
                    "train",
                    child.thread_env(threads),
                    impl=impl,
                    model=name,
                    threads=threads,
                    batch_size=batch,
                    steps=cfg["thread_steps"],
                    repeats=max(1, cfg["repeats"] // 2),
                )
                out["threads"][threads][impl] = _throughput(r["images"], r["seconds"])
    return out


def run(args):
    cfg = dict(QUICK if args.quick else FULL)
    if args.models:
        cfg["models"] = tuple(args.models)
        cfg["memory_models"] = tuple(m for m in cfg["memory_models"] if m in args.models) or (
            args.models[0],
        )
    cfg["repeats"] = args.repeats or cfg["repeats"]
    cfg["steps"] = args.steps or cfg["steps"]
    sections = set(args.sections)
    start = time.perf_counter()
    load_before = _load_avg()

    import keras
    import tensorflow as tf

    import scratchnet

    libs = {"scratchnet": scratchnet, "keras": keras}
    machine = machine_info()
    machine.update(tensorflow=tf.__version__, keras=keras.__version__, load_before=load_before)
    torch = torch_models.load(machine["threads"]) if "main" in sections else None
    if torch is not None:
        libs["pytorch"] = torch
        machine.update(pytorch=torch.__version__, pytorch_threads=torch.get_num_threads())
    elif "main" in sections:
        machine["pytorch_missing"] = torch_models.NOT_INSTALLED
        _log(torch_models.NOT_INSTALLED)
    _log("loading MNIST")
    data = workloads.load_mnist()
    results = {
        "mode": "quick" if args.quick else "full",
        "command": "python -m benchmarks.run "
        + shlex.join(sys.argv[1:] if args.argv is None else args.argv),
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "config": cfg,
        "flops": {name: workloads.flops_per_image(name) for name in workloads.NAMES},
    }
    if "main" in sections:
        _log("matmul peak")
        results["matmul_peak_gflops"] = timing.matmul_peak_gflops(repeats=cfg["matmul_repeats"])
        results["main"] = measure_main(libs, data, cfg)
    if "memory" in sections:
        results["memory"] = measure_memory(cfg)
    if "kernels" in sections:
        results["kernels"] = measure_kernels(scratchnet, data, cfg)
    if "startup" in sections:
        results["startup"] = measure_startup(cfg)
    if sections & {"scaling", "threads"}:
        results["scaling"] = measure_scaling(libs, data, cfg, sections)
    machine["load_after"] = _load_avg()
    results["machine"] = machine
    results["elapsed_s"] = time.perf_counter() - start
    return results


def main(argv=None):
    args = parse_args(argv)
    args.argv = argv
    results = run(args)
    text = report.render(results)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)
    _log(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
