"""Run the five programs in full on both libraries, one after another, and write RESULTS.md.

Each run is the example script itself, as a learner would type it; its last line
(``RESULT example=... impl=... test_acc=... sec_per_epoch=...``) is collected into a table.
Runs go one at a time so their timings do not disturb each other. The full set takes hours on a
laptop CPU. Every run writes its pictures and model to runs/<program>/<impl>/ as usual (the
drawing app loads the seminar model from there) and its output to runs/run_all/<program>_<impl>.log.

    python examples/run_all.py                                    # everything, in full
    python -m examples.run_all                                    # the same, run as a module
    python examples/run_all.py --programs torres zhou             # some of them
    python examples/run_all.py --limit 1000 --epochs 1 --results /tmp/RESULTS.md   # a dry run

A full run keeps the results of the runs it does not redo, read from their logs, so one program
can be rerun alone. Dry runs keep their logs apart, in runs/run_all_dry/.
"""

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

if not __package__:  # run as a file, not with -m: put the repository on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from examples import common

# name: (module, the tutorial's reported figure, Keras's test accuracy on this machine with seed 0)
PROGRAMS = {
    "seminar": ("seminar_cnn", "val acc 0.9868", "0.9867"),
    "zhou": ("zhou_cnn", "val acc 0.9750", "0.9748"),
    "hanoi": ("hanoi_cnn", "about 0.99", "0.9880"),
    "torres": ("torres_mlp", "train acc 0.70 (post claims 0.9018 test)", "0.6766"),
    "convnet": ("keras_convnet", "0.9895", "0.9900"),
}
RESULT = re.compile(r"^RESULT example=(\S+) impl=(\S+) test_acc=(\S+) sec_per_epoch=(\S+)$", re.M)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--programs", nargs="+", choices=tuple(PROGRAMS), default=list(PROGRAMS))
    parser.add_argument("--impls", nargs="+", choices=common.IMPLS, default=list(common.IMPLS))
    parser.add_argument("--epochs", type=int, help="override every tutorial's epochs (dry runs)")
    parser.add_argument("--limit", type=int, metavar="N", help="train on N images (dry runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=common.REPO / "examples" / "RESULTS.md")
    parser.add_argument(
        "--out", type=Path, help="instead of runs/: <out>/<program>/<impl>/ and logs"
    )
    return parser.parse_args(argv)


def command(name, impl, args):
    """The example's command line, as a learner would type it from the repository root."""
    words = ["python", "-m", f"examples.{PROGRAMS[name][0]}"]
    if impl != "scratchnet":
        words += ["--impl", impl]
    if args.seed != 0:
        words += ["--seed", str(args.seed)]
    if args.epochs is not None:
        words += ["--epochs", str(args.epochs)]
    if args.limit is not None:
        words += ["--limit", str(args.limit)]
    return words


def run(name, impl, args, logs):
    """Run one example, keep its output in ``logs``, return (test accuracy, sec/epoch) or None."""
    words = command(name, impl, args)
    if args.out is not None:
        words += ["--out", str(args.out / name / impl)]
    log = logs / f"{name}_{impl}.log"
    print(f"$ {' '.join(words)}   (output in {log})", flush=True)
    begin = time.perf_counter()
    with open(log, "w") as out:
        done = subprocess.run(
            [sys.executable, *words[1:]], cwd=common.REPO, stdout=out, stderr=subprocess.STDOUT
        )
    found = RESULT.findall(log.read_text(errors="replace"))
    minutes = (time.perf_counter() - begin) / 60
    if done.returncode != 0 or not found:
        print(f"  failed (exit {done.returncode}) after {minutes:.1f} min; see {log}", flush=True)
        return None
    _, _, acc, sec = found[-1]
    print(f"  test accuracy {acc}, {sec} s/epoch, {minutes:.1f} min in all", flush=True)
    return acc, sec


def results_in_logs(logs):
    """{(program, impl): (test accuracy, sec/epoch)} from the RESULT lines of earlier runs' logs."""
    results = {}
    for log in sorted(logs.glob("*.log")):
        found = RESULT.findall(log.read_text(errors="replace"))
        if found:
            name, impl, acc, sec = found[-1]
            results[(name, impl)] = (acc, sec)
    return results


def write_results(path, args, results):
    """The README's results table, for the runs done so far."""
    rows = []
    for name in [p for p in PROGRAMS if any((p, impl) in results for impl in common.IMPLS)]:
        module, tutorial, keras_issue = PROGRAMS[name]
        got = {impl: results.get((name, impl)) for impl in common.IMPLS}
        acc = {impl: got[impl][0] if got[impl] else "-" for impl in common.IMPLS}
        sec = {impl: got[impl][1] if got[impl] else "-" for impl in common.IMPLS}
        cmd = " ".join(command(name, "scratchnet", args))
        rows.append(
            f"| {name} | `{cmd}` | {acc['scratchnet']} | {acc['keras']} | {tutorial} "
            f"| {keras_issue} | {sec['scratchnet']} | {sec['keras']} |"
        )
    full = args.limit is None and args.epochs is None
    options = "full runs" if full else "a dry run with --limit/--epochs, NOT the full programs"
    text = "\n".join(
        [
            "# Results: the five tutorials on scratchnet and on Keras",
            "",
            f"Written by `python -m examples.run_all` on {time.strftime('%Y-%m-%d %H:%M')}, "
            f"{options} (seed {args.seed}), one at a time, on {platform.machine()} with "
            f"{os.cpu_count()} CPUs, Python {platform.python_version()}.",
            "Add `--impl keras` to a command for the Keras run. Test accuracy is on the 10,000 "
            "test images; seconds per epoch are the median epoch (validation included).",
            "",
            "| program | command | scratchnet test acc | Keras test acc | tutorial reported "
            "| Keras, seed 0 (issue 4) | s/epoch scratchnet | s/epoch Keras |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
            "",
        ]
    )
    path.write_text(text)


def main(argv=None):
    args = parse_args(argv)
    full = args.limit is None and args.epochs is None
    logs = (args.out or common.REPO / "runs") / ("run_all" if full else "run_all_dry")
    logs.mkdir(parents=True, exist_ok=True)
    results = results_in_logs(logs) if full else {}
    for name in args.programs:
        for impl in args.impls:
            outcome = run(name, impl, args, logs)
            if outcome:
                results[(name, impl)] = outcome
            write_results(args.results, args, results)
    print(f"Wrote {args.results}")
    failed = sum((name, impl) not in results for name in args.programs for impl in args.impls)
    if failed:
        sys.exit(f"{failed} run(s) failed; see {logs}")


if __name__ == "__main__":
    main()
