"""How long the keras.io convnet (``make train``) trains before it reaches 98% test accuracy.

    python -m benchmarks.time_to_98                  # both libraries, one after the other
    python -m benchmarks.time_to_98 --checks 4       # test accuracy 4 times per epoch (default)

The program is ``examples/keras_convnet.py``'s: the same model, seed 0, Adam, batch 128,
``validation_split=0.1``, on real MNIST. Each library trains in a fresh process of its own (so
TensorFlow's threads never share a process with scratchnet's), scratchnet first, then Keras.
``--checks`` times per epoch a callback pauses the clock, evaluates the 10,000 test images and
starts the clock again: the time reported is training time only (validation included, the test
evaluations left out), up to the first check at or above the target accuracy. ``verbose=0``, so
neither library pays for drawing a progress bar.

The last line printed is the result as JSON; ``--markdown`` prints a table for the README.
"""

import argparse
import json
import os
import subprocess
import sys
import time

EPOCHS = 10
BATCH_SIZE = 128
TARGET = 0.98


def train_until(impl, target, checks_per_epoch, epochs=EPOCHS, seed=0):
    """Train the convnet on ``impl`` until test accuracy >= target; a dict of what was seen."""
    from examples import common
    from examples.keras_convnet import compile_model, prepare_images
    from keras_impl.architectures import build

    lib = common.load_library(impl)
    lib.utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = common.load_mnist()
    x_train, x_test = prepare_images(x_train), prepare_images(x_test)
    y_train, y_test = lib.utils.to_categorical(y_train, 10), lib.utils.to_categorical(y_test, 10)
    model = build("convnet", lib)
    compile_model(model, lib)
    steps = -(-int(len(x_train) * 0.9) // BATCH_SIZE)  # batches per epoch after the split
    check_at = {round(steps * (i + 1) / checks_per_epoch) - 1 for i in range(checks_per_epoch)}
    seen = []

    class Checkpoint(lib.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.clock, self.start, self.epoch = 0.0, time.perf_counter(), 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if batch not in check_at or batch == steps - 1:
                return  # the last batch is checked after the epoch's validation, at epoch end
            self._check(self.epoch + (batch + 1) / steps)

        def on_epoch_end(self, epoch, logs=None):
            if not self.model.stop_training:  # Keras ends the epoch after a stop mid-epoch
                self._check(epoch + 1.0)

        def _check(self, epoch):
            self.clock += time.perf_counter() - self.start
            _, acc = self.model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
            seen.append({"epoch": round(epoch, 3), "seconds": self.clock, "test_acc": acc})
            print(json.dumps(seen[-1]), flush=True)
            if acc >= target:
                self.model.stop_training = True
            self.start = time.perf_counter()

    model.fit(
        x_train,
        y_train,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        validation_split=0.1,
        callbacks=[Checkpoint()],
        verbose=0,
    )
    reached = next((s for s in seen if s["test_acc"] >= target), None)
    return {"impl": impl, "target": target, "reached": reached, "checks": seen}


def run_child(impl, args):
    cmd = [sys.executable, "-m", "benchmarks.time_to_98", "--child", impl]
    cmd += ["--checks", str(args.checks), "--target", str(args.target)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def markdown(results, load):
    lines = [
        f"| library | wall time to {results[0]['target']:.0%} test accuracy | epochs | "
        "test accuracy at that check |",
        "|---|---:|---:|---:|",
    ]
    for r in results:
        hit = r["reached"]
        if hit is None:
            lines.append(f"| {r['impl']} | not reached | - | - |")
        else:
            seconds, epoch, acc = hit["seconds"], hit["epoch"], hit["test_acc"]
            lines.append(f"| {r['impl']} | {seconds:.1f} s | {epoch:g} | {acc:.4f} |")
    lines.append("")
    lines.append(f"Load average before / after: {load[0]} / {load[1]} (2 cores).")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=4, help="test evaluations per epoch")
    parser.add_argument("--target", type=float, default=TARGET)
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    parser.add_argument("--child", choices=("scratchnet", "keras"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(train_until(args.child, args.target, args.checks)))
        return
    load_before = " ".join(f"{x:.1f}" for x in os.getloadavg())
    results = [run_child(impl, args) for impl in ("scratchnet", "keras")]
    load_after = " ".join(f"{x:.1f}" for x in os.getloadavg())
    stamp = time.strftime("%Y-%m-%d %H:%M")
    if args.markdown:
        print(f"Measured {stamp}.\n")
        print(markdown(results, (load_before, load_after)))
    print(json.dumps({"date": stamp, "load": [load_before, load_after], "results": results}))


if __name__ == "__main__":
    main()
