"""Turn the benchmark's results dict into Markdown tables.

Pure formatting: no measurement happens here, so the layout can be tested on made-up numbers.
Ratios are always scratchnet / Keras or scratchnet / PyTorch: above 1 is better for throughput,
below 1 is better for latency and memory. The PyTorch columns appear when the results have
PyTorch numbers (``benchmarks.torch_models``), and the report says so when they do not.

Example:
    >>> ratio(200.0, 100.0)
    '2.00x'
    >>> table(["a", "b"], [[1, "x"]]).splitlines()[1]
    '|---|---|'
"""

import math
import statistics

# Targets, reported and never asserted. Training, against Keras and against PyTorch alike:
# 2x on zhou and torres (issue 5 against Keras, issue 19 against PyTorch), 1.0x on the modern
# CNN (issue 15), 1.5x on the other tutorials (issue 19).
TRAIN_TARGET = {"zhou": 2.0, "torres": 2.0, "modern": 1.0}
DEFAULT_TRAIN_TARGET = 1.5
# Training of the big CNNs, in direct-convolution FLOPs, against the measured matmul peak (19).
ROOFLINE_TARGET = {"seminar": 0.70, "hanoi": 0.70, "convnet": 0.70}
PREDICT_TARGET_MS = 1.0
MEMORY_TARGET = 1 / 3
WARM_TARGET_S, COLD_TARGET_S = 1.0, 15.0


def number(value, digits=None):
    """A readable number: thousands separators for big ones, a few significant digits otherwise."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if digits is not None:
        return f"{value:,.{digits}f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"


def ratio(mine, theirs):
    if not mine or not theirs:
        return "n/a"
    r = mine / theirs
    return f"{r:.1f}x" if r >= 10 else f"{r:.2f}x" if r >= 0.1 else f"{r:.2g}x"


def verdict(ok):
    return "met" if ok else "**missed**"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _value(entry, key, impl):
    """``entry[key][impl]``, None when missing."""
    return (entry.get(key) or {}).get(impl)


def _pair(entry, key, other="keras"):
    """(scratchnet, ``other``) values of ``entry[key]``, None when missing."""
    return _value(entry, key, "scratchnet"), _value(entry, key, other)


def has_pytorch(results):
    """True when the main section measured PyTorch."""
    return any("pytorch" in entry.get("train", {}) for entry in results.get("main", {}).values())


def _paired(ratios):
    """'1.02x (0.95-1.07)': the median of per-round ratios and their range."""
    if not ratios:
        return ""
    return f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"


def summary_section(results):
    rows, pytorch = [], has_pytorch(results)
    for model, entry in results.get("main", {}).items():
        train = _pair(entry, "train")
        infer = _pair(entry, "infer")
        predict = _pair(entry, "predict_ms")
        memory = results.get("memory", {}).get(model, {})
        mem = (
            memory.get("scratchnet", {}).get("peak_kib"),
            memory.get("keras", {}).get("peak_kib"),
        )
        target = TRAIN_TARGET.get(model, DEFAULT_TRAIN_TARGET)
        train_ok = train[0] and train[1] and train[0] / train[1] >= target
        mem_ok = mem[0] and mem[1] and mem[0] / mem[1] <= MEMORY_TARGET
        rows.append(
            [
                model,
                entry["batch"],
                f"{ratio(*train)} ({verdict(train_ok)} >= {target:.1f}x)",
                ratio(*infer),
                f"{number(predict[0])} ms ({verdict(predict[0] < PREDICT_TARGET_MS)} < 1 ms)",
                f"{ratio(*mem)} ({verdict(mem_ok)} <= 0.33x)" if all(mem) else "not run",
            ]
        )
        if pytorch:
            paired = entry.get("train_round_ratios_pytorch")
            versus = _pair(entry, "train", "pytorch")
            ok = versus[0] and versus[1] and versus[0] / versus[1] >= target
            rows[-1] += [
                f"{ratio(*versus)} ({verdict(ok)} >= {target:.1f}x; paired {_paired(paired)})",
                ratio(*_pair(entry, "infer", "pytorch")),
            ]
    header = [
        "model",
        "batch",
        "training speed vs Keras",
        "inference speed vs Keras",
        "scratchnet predict(1 image)",
        "peak memory vs Keras",
    ]
    if pytorch:
        header += ["training speed vs PyTorch", "inference speed vs PyTorch"]
    return "## Summary against the targets\n\n" + table(header, rows)


def main_section(results):
    pytorch = has_pytorch(results)
    others = ("keras", "pytorch") if pytorch else ("keras",)
    label = {"keras": "Keras", "pytorch": "PyTorch"}
    train_rows, infer_rows, latency_rows = [], [], []
    for model, entry in results.get("main", {}).items():
        spread = entry.get("train_range", {})
        train = [model, entry["batch"], number(_value(entry, "train", "scratchnet"))]
        infer = [model, number(_value(entry, "infer", "scratchnet"))]
        latency = [
            model,
            *(number(_value(entry, k, "scratchnet")) for k in ("predict_ms", "call_ms")),
        ]
        ranges = [_range(spread.get("scratchnet"))]
        paired = {
            "keras": entry.get("train_round_ratios"),
            "pytorch": entry.get("train_round_ratios_pytorch"),
        }
        for other in others:
            train += [number(_value(entry, "train", other)), ratio(*_pair(entry, "train", other))]
            ranges.append(_range(spread.get(other)))
            infer += [number(_value(entry, "infer", other)), ratio(*_pair(entry, "infer", other))]
            for key in ("predict_ms", "call_ms"):
                latency += [number(_value(entry, key, other)), ratio(*_pair(entry, key, other))]
        train_rows.append(train + ranges + [_paired(paired[o]) for o in others])
        infer_rows.append(infer)
        latency_rows.append(latency)
    train_header = ["model", "batch", "scratchnet"]
    infer_header = ["model", "scratchnet"]
    latency_header = ["model", "predict scratchnet", "model(x) scratchnet"]
    for other in others:
        name = label[other]
        train_header += [name, f"scratchnet/{name}"]
        infer_header += [name, f"scratchnet/{name}"]
        latency_header += [f"predict {name}", "ratio", f"model(x) {name}", "ratio"]
    train_header += ["scratchnet range"] + [f"{label[o]} range" for o in others]
    train_header += [f"paired rounds vs {label[o]}" for o in others]
    config = results["config"]
    return "\n\n".join(
        [
            f"## Training throughput (images/s, steady state)\n\n"
            f"`fit` epochs (PyTorch: epochs of its training loop) of {config['steps']} batches, "
            f"first epoch discarded, median of {config['repeats']}; higher is better. The range "
            "columns give the slowest and the fastest round: on this VM every library's speed "
            "drifts from minute to minute. The paired columns pair each scratchnet round with "
            "the other library's round of the same turn (same drift) and give the median of "
            "those ratios, with their range.\n\n" + table(train_header, train_rows),
            f"## Inference throughput (images/s, `predict` with batch_size=1000)\n\n"
            f"{config['infer_images']} test images per call, median of {config['repeats']}.\n\n"
            + table(infer_header, infer_rows),
            f"## Single-image latency (ms, median of {config['latency_calls']} calls)\n\n"
            "Lower is better; the ratios are scratchnet's time over the other library's. Blocks "
            "of back-to-back calls per library, the blocks taking turns (a single call right "
            "after another library's measured its threads winding down).\n\n"
            + table(latency_header, latency_rows),
        ]
    )


def same_model_section(results):
    """The check that PyTorch computes the same model (``torch_models.check_same_model``)."""
    rows = [
        [
            model,
            f"{check['params'][0]:,} ({check['params'][1]:,} trainable)",
            f"{check['forward_max_abs_diff']:.1e}",
            f"{check['predict_vs_keras']:.1e}",
            f"{check['step_max_rel_diff']:.1e}",
        ]
        for model, entry in results.get("main", {}).items()
        if (check := entry.get("same_model"))
    ]
    if not rows:
        return ""
    return (
        "## PyTorch computes the same model\n\n"
        "Checked before timing, from the same initial weights transposed to PyTorch's layouts: "
        "the parameter counts (BatchNorm's running statistics counted as Keras counts them), "
        "the largest difference of `predict` probabilities against scratchnet (the check's own "
        "models, 64 training images) and against Keras (the benchmarked models, 256 test "
        "images), and the largest difference of one SGD(0.1) step's weight change (dropout off), "
        "relative to the largest change of that weight.\n\n"
        + table(
            [
                "model",
                "parameters (all three)",
                "predict vs scratchnet",
                "predict vs Keras",
                "one SGD step vs scratchnet",
            ],
            rows,
        )
    )


def _range(low_high):
    """'3,000-4,100' from [low, high], or an empty cell."""
    if not low_high:
        return ""
    return f"{number(low_high[0])}-{number(low_high[1])}"


def memory_section(results):
    rows = []
    for model, entry in results.get("memory", {}).items():
        sn, k = entry.get("scratchnet", {}), entry.get("keras", {})
        mib = lambda kib: kib / 1024 if kib else None  # noqa: E731
        rows.append(
            [
                model,
                sn.get("images", k.get("images")),
                number(mib(sn.get("peak_kib"))),
                number(mib(k.get("peak_kib"))),
                ratio(sn.get("peak_kib"), k.get("peak_kib")),
                number(mib(sn.get("peak_kib", 0) - sn.get("before_fit_kib", 0))),
                number(mib(k.get("peak_kib", 0) - k.get("before_fit_kib", 0))),
                number(sn.get("epoch_seconds")),
                number(k.get("epoch_seconds")),
            ]
        )
    if not rows:
        return ""
    entries = [e for entry in results.get("memory", {}).values() for e in entry.values()]
    if entries and all(e.get("hwm_reset") for e in entries):
        when = (
            "reset just before `fit` (`5` written to /proc/self/clear_refs), so it is the peak "
            "of the training epoch: interpreter, libraries, the training data already in "
            "memory, and training; temporaries of preparing the data, freed by then, do not count"
        )
    else:
        when = "over the whole process, data preparation included (the reset was not available)"
    return (
        "## Peak resident memory of one training epoch (MiB, one process per run)\n\n"
        "Peak = `VmHWM` of the child process (/proc/self/status: the kernel's high-water mark of "
        f"its resident set), {when}. Growth = peak minus the resident size just before `fit`. "
        "The epoch time includes first-epoch costs (JIT, tracing).\n\n"
        + table(
            [
                "model",
                "images",
                "peak scratchnet",
                "peak Keras",
                "ratio",
                "growth in fit scratchnet",
                "growth in fit Keras",
                "epoch s scratchnet",
                "epoch s Keras",
            ],
            rows,
        )
    )


def kernels_section(results):
    rows = [
        [
            model,
            number(e.get("numba")),
            number(e.get("numpy")),
            ratio(e.get("numba"), e.get("numpy")),
        ]
        for model, e in results.get("kernels", {}).items()
    ]
    if not rows:
        return ""
    return (
        "## numba kernels against the NumPy reference kernels (scratchnet training, images/s)\n\n"
        + table(["model", "numba", "NumPy twins", "numba/NumPy"], rows)
    )


def startup_section(results):
    startup = results.get("startup")
    if not startup:
        return ""
    rows = []
    for impl, runs in startup["runs"].items():
        for label, r in runs.items():
            total = r["import"] + r["build"] + r["first_step"]
            jit = r["first_step"] - r["second_step"]
            target = ""
            if impl == "scratchnet":
                limit = COLD_TARGET_S if label == "cold" else WARM_TARGET_S
                target = f"{verdict(total < limit)} < {limit:g} s"
            rows.append(
                [
                    impl,
                    label,
                    number(r["import"]),
                    number(r["build"]),
                    number(r["first_step"]),
                    number(r["second_step"]),
                    number(jit),
                    number(total),
                    target,
                ]
            )
    return (
        f"## Start-up and JIT cost ({startup['model']}, seconds)\n\n"
        "Each run is a fresh process. scratchnet's *cold* run has `NUMBA_CACHE_DIR` pointed at an "
        "empty temporary folder, so every kernel is compiled; the *warm* run reuses that folder. "
        "First-step overhead = first step minus second step (numba compiling or loading its "
        "cache; TensorFlow tracing its graph). Total = import + build + first step. Python writes "
        "and reuses its bytecode caches (`__pycache__`) as it does by default: the runs drop "
        "`PYTHONDONTWRITEBYTECODE` if the benchmark's own environment sets it (this sandbox "
        "does; every import then compiles the sources again, 0.3 s of scratchnet's).\n\n"
        + table(
            [
                "impl",
                "run",
                "import",
                "build+compile",
                "first step",
                "second step",
                "first-step overhead",
                "total",
                "target",
            ],
            rows,
        )
    )


def _both_rows(by_setting):
    """Table rows ``[setting, scratchnet, Keras, ratio]`` from ``{setting: {impl: img/s}}``."""
    return [
        [
            setting,
            number(v.get("scratchnet")),
            number(v.get("keras")),
            ratio(v.get("scratchnet"), v.get("keras")),
        ]
        for setting, v in by_setting.items()
    ]


def scaling_section(results):
    scaling = results.get("scaling")
    if not scaling:
        return ""
    parts = []
    if scaling.get("batch"):
        rows = _both_rows(scaling["batch"])
        parts.append(
            f"## Scaling with batch size ({scaling['model']}, training images/s)\n\n"
            + table(["batch", "scratchnet", "Keras", "scratchnet/Keras"], rows)
        )
    if scaling.get("threads"):
        rows = _both_rows(scaling["threads"])
        parts.append(
            f"## Threads ({scaling['model']}, batch {scaling['threads_batch']}, training "
            "images/s, one process per run)\n\n"
            "scratchnet: `NUMBA_NUM_THREADS`, `OMP_NUM_THREADS`, `OPENBLAS_NUM_THREADS`, "
            "`MKL_NUM_THREADS` and `scratchnet.config.set_num_threads`; Keras: the same "
            "variables and `tf.config.threading` intra-op and inter-op threads.\n\n"
            + table(["threads", "scratchnet", "Keras", "scratchnet/Keras"], rows)
        )
    return "\n\n".join(parts)


def roofline_section(results):
    peak = results.get("matmul_peak_gflops")
    flops = results.get("flops", {})
    impls = ("scratchnet", "keras", "pytorch") if has_pytorch(results) else ("scratchnet", "keras")
    label = {"scratchnet": "scratchnet", "keras": "Keras", "pytorch": "PyTorch"}
    rows = []
    for model, entry in results.get("main", {}).items():
        cells, trained = [model, number(flops[model]["train"] / 1e6, 2)], None
        for key, kind in (("train", "train"), ("infer", "forward")):
            for impl in impls:
                ips = (entry.get(key) or {}).get(impl)
                gflops = ips * flops[model][kind] / 1e9 if ips else None
                cells.append(f"{number(gflops)} ({100 * gflops / peak:.1f}%)" if gflops else "n/a")
                if (key, impl) == ("train", "scratchnet"):
                    trained = gflops  # the target column judges this one
        goal = ROOFLINE_TARGET.get(model)
        if goal is None or not trained or not peak:
            cells.append("")
        else:
            cells.append(f"{verdict(trained / peak >= goal)} >= {100 * goal:.0f}%")
        rows.append(cells)
    if not rows or not peak:
        return ""
    header = ["model", "MFLOP/image (train)"]
    header += [f"train {label[i]}" for i in impls] + [f"inference {label[i]}" for i in impls]
    header.append("target (scratchnet's training)")
    return (
        f"## Roofline: achieved GFLOP/s against the measured float32 matmul peak "
        f"({peak:,.0f} GFLOP/s)\n\n"
        "Peak: NumPy float32 (2048, 2048) @ (2048, 2048), best of a few, 2 n^3 FLOPs. Model "
        "FLOPs are counted analytically from the conv and dense products only (multiply-add = 2): "
        "Conv2D forward 2 H_out W_out KH KW C_in C_out, Dense forward 2 D_in D_out; training adds "
        "twice the forward for the backward pass (dL/dkernel and dL/dx), minus dL/dx of the first "
        "layer. Achieved = FLOPs per image x measured images/s.\n\n" + table(header, rows)
    )


def _pytorch_version(machine):
    if not machine.get("pytorch"):
        return ""
    return f", PyTorch {machine['pytorch']} ({machine['pytorch_threads']} threads)"


def render(results):
    """The whole Markdown report."""
    machine = results["machine"]
    head = [
        "# scratchnet vs Keras and PyTorch: speed and memory",
        "",
        f"Command: `{results['command']}` ({results['mode']} mode, {results['date']}, "
        f"{results['elapsed_s']:.0f} s)",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores usable, load average "
        f"{machine['load_before']} before the run and {machine['load_after']} after; Python "
        f"{machine['python']}, NumPy {machine['numpy']}, numba {machine['numba']} "
        f"(scratchnet on {machine.get('threads', '?')} threads), TensorFlow "
        f"{machine['tensorflow']}, Keras {machine['keras']}{_pytorch_version(machine)}.",
        "",
        "Ratios are scratchnet/Keras (and scratchnet/PyTorch). Same MNIST images, float32, the "
        "tutorial's batch size, optimizer and loss on every side; Keras with its defaults (no XLA "
        "on CPU, oneDNN on); PyTorch as a PyTorch user writes the model and its training loop "
        "(`benchmarks/torch_models.py`; the main section only).",
    ]
    if machine.get("pytorch_missing"):
        head += ["", f"**{machine['pytorch_missing']}.**"]
    sections = [
        summary_section(results),
        main_section(results),
        same_model_section(results),
        roofline_section(results),
        memory_section(results),
        kernels_section(results),
        startup_section(results),
        scaling_section(results),
    ]
    return "\n".join(head) + "\n\n" + "\n\n".join(s for s in sections if s) + "\n"
