"""Paired rounds of two scratchnet checkouts: is a change faster or slower on the five tutorials?

    git worktree add /tmp/base main          # the code before the change
    python -m benchmarks.ab --base /tmp/base # this checkout against it, every tutorial
    python -m benchmarks.ab --base /tmp/base --models hanoi --rounds 10

The main benchmark (``benchmarks.run``) measures scratchnet against Keras. A change of
scratchnet's own code is measured better against the code before it: here each round trains
every tutorial once with each checkout, in a fresh process each (``benchmarks.child``'s ``train``
task of that checkout, so each side runs its own code end to end), the two taking turns and the
order flipping every round. The ratio of one round is the two runs that ran back to back, under
the same load; the result per model is the median of those paired ratios, with their range.

Nothing is asserted: the table says whether the change is within the 3% that a hot-path change
may cost.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

from benchmarks import workloads

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def train_once(root, model, steps, repeats):
    """Images per second of ``model`` trained with the checkout at ``root``, in a fresh process."""
    batch = workloads.TUTORIALS[model].batch_size
    task = dict(
        task="train", impl="scratchnet", model=model, threads=2, batch_size=batch,
        steps=steps, repeats=repeats,
    )  # fmt: skip
    env = {**os.environ, "PYTHONPATH": root, "NUMBA_NUM_THREADS": "2"}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.child", json.dumps(task)],
        capture_output=True, text=True, env=env, cwd=root, timeout=1800,
    )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        raise RuntimeError(f"{root}: benchmarks.child train {model} failed:\n{tail}")
    result = json.loads(lines[-1])
    return result["images"] / statistics.median(result["seconds"])


def compare(base, models, rounds, steps, repeats, log=print):
    """``{model: {"base": [img/s...], "new": [img/s...], "ratios": [new/base per round]}}``."""
    sides = {"base": os.path.abspath(base), "new": HERE}
    results = {m: {"base": [], "new": [], "ratios": []} for m in models}
    for r in range(rounds + 1):  # round 0 warms numba's cache of both checkouts: dropped
        for model in models:
            order = ("base", "new") if r % 2 == 0 else ("new", "base")
            speed = {side: train_once(sides[side], model, steps, repeats) for side in order}
            if r == 0:
                continue
            for side in order:
                results[model][side].append(speed[side])
            results[model]["ratios"].append(speed["new"] / speed["base"])
            log(f"[ab] round {r} {model}: new/base {speed['new'] / speed['base']:.3f}")
    return results


def render(results, base, rounds, steps):
    lines = [
        f"Paired rounds against `{base}` ({rounds} rounds, {steps} steps per epoch, median of "
        "each process's epochs after the first; each round runs both checkouts back to back):",
        "",
        "| model | base img/s | new img/s | new/base, median of rounds | range |",
        "|---|---|---|---|---|",
    ]
    for model, r in results.items():
        lines.append(
            f"| {model} | {statistics.median(r['base']):,.0f} | {statistics.median(r['new']):,.0f}"
            f" | {statistics.median(r['ratios']):.3f} | {min(r['ratios']):.3f}-"
            f"{max(r['ratios']):.3f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ab", description=__doc__)
    parser.add_argument("--base", required=True, help="a checkout of the code before the change")
    parser.add_argument(
        "--models", nargs="+", choices=workloads.NAMES, default=workloads.TUTORIAL_NAMES
    )
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=100, help="training steps per epoch")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per process")
    args = parser.parse_args(argv)
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    results = compare(args.base, args.models, args.rounds, args.steps, args.repeats, log)
    print(render(results, args.base, args.rounds, args.steps))
    return results


if __name__ == "__main__":
    main()
