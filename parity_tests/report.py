"""Print how closely scratchnet matches Keras, layer by layer and model by model.

Run ``python -m parity_tests.report`` for a table on the terminal, or
``python -m parity_tests.report --markdown parity.md`` to also write it as Markdown for the README.

Each row runs one case on both libraries with shared weights and a random upstream gradient,
using the same runners as the tests (``parity_tests.runners``), and shows the largest absolute and
relative (normwise, see ``parity_tests.compare``) error of the forward output ``y`` and of the
backward pass (the worst of ``dx``, ``dkernel``, ``dbias``; for models, every parameter gradient,
both from an upstream gradient and from the cross-entropy loss; for optimizers, the weights after
20 steps). A newcomer can read from it that the two libraries differ only by float rounding:
about 1e-16 relative in float64 and 1e-7 in float32.
"""

import argparse
import sys

import numpy as np

from keras_impl.architectures import NAMES
from keras_impl.setup import keras, use_floatx
from parity_tests.compare import parity_stats
from parity_tests.runners import layer_pair, model_gradient_pairs, optimizer_pair
from parity_tests.strategies import LayerCase, make_array


def _case(label, layer, input_shape, **kwargs):
    return label, LayerCase(layer, kwargs, input_shape)


LAYER_CASES = [
    _case("Conv2D 3x3 valid relu", "Conv2D", (2, 8, 8, 3), filters=4, kernel_size=3,
          activation="relu"),
    _case("Conv2D 3x3 same stride 2", "Conv2D", (2, 8, 7, 3), filters=4, kernel_size=3, strides=2,
          padding="same"),
    _case("Conv2D 5x4 dilation 2, no bias", "Conv2D", (2, 11, 10, 2), filters=3,
          kernel_size=(5, 4), dilation_rate=2, use_bias=False, activation="tanh"),
    _case("MaxPooling2D 2x2", "MaxPooling2D", (2, 8, 8, 3), pool_size=2),
    _case("MaxPooling2D 3x3 stride 1, ties", "MaxPooling2D", (2, 7, 7, 3), pool_size=3, strides=1),
    _case("MaxPooling2D 3x3 stride 2 same, ties", "MaxPooling2D", (2, 8, 8, 3), pool_size=3,
          strides=2, padding="same"),
    _case("Dense relu", "Dense", (4, 32), units=16, activation="relu"),
    _case("Dense softmax", "Dense", (4, 32), units=10, activation="softmax"),
    _case("Flatten", "Flatten", (2, 5, 5, 3)),
    *[
        _case(f"Activation {a}", "Activation", (4, 10), activation=a)
        for a in ("relu", "sigmoid", "tanh", "softmax", "linear")
    ],
    _case("Dropout 0.5 (training, same mask)", "Dropout", (4, 50), rate=0.5, seed=42),
]  # fmt: skip

OPTIMIZER_CASES = [
    ("SGD", {}),
    ("SGD", {"momentum": 0.9, "nesterov": True}),
    ("Adam", {}),
    ("Adam", {"amsgrad": True}),
    ("RMSprop", {"centered": True, "momentum": 0.9}),
]


def _worst(pairs, keys):
    stats = [parity_stats(np.asarray(pairs[k][0]), np.asarray(pairs[k][1])) for k in keys]
    if not stats:
        return None
    return max(s["max_abs"] for s in stats), max(s["rel"] for s in stats)


def layer_rows(dtype):
    for label, case in LAYER_CASES:
        kind = "ties" if "ties" in label else "zeros" if "relu" in label else "normal"
        x = make_array(case.input_shape, dtype, kind, seed=1)
        out_shape = tuple(case.build(keras).compute_output_shape(case.input_shape))
        dy = make_array(out_shape, dtype, "normal", seed=2)
        pairs = layer_pair(case, dtype, x, dy, weight_seed=3)
        backward = [k for k in pairs if k != "y"]
        yield f"layer: {label}", _worst(pairs, ["y"]), _worst(pairs, backward)


def model_rows(dtype):
    for name in NAMES:
        pairs = model_gradient_pairs(name, dtype, n=4)
        backward = [k for k in pairs if k not in ("y", "loss")]
        yield f"model: {name}", _worst(pairs, ["y", "loss"]), _worst(pairs, backward)


def optimizer_rows(dtype):
    rng = np.random.default_rng(7)
    variables = [rng.standard_normal((5, 3)).astype(dtype), rng.standard_normal(3).astype(dtype)]
    grads = [[rng.standard_normal(v.shape).astype(dtype) for v in variables] for _ in range(20)]
    for name, kwargs in OPTIMIZER_CASES:
        with use_floatx(dtype):
            ours, theirs, _, _ = optimizer_pair(name, kwargs, variables, grads)
        pairs = {str(i): pair for i, pair in enumerate(zip(ours, theirs, strict=True))}
        options = ", ".join(f"{k}={v}" for k, v in kwargs.items()) or "defaults"
        yield f"optimizer: {name} ({options}), 20 steps", None, _worst(pairs, list(pairs))


def _cell(value):
    return "-" if value is None else f"{value:.1e}"


def table(dtypes=("float64", "float32"), progress=None):
    """The parity table as Markdown text (one row per case and dtype)."""
    header = [
        "| case | dtype | forward max abs | forward rel | backward max abs | backward rel |",
        "|---|---|---:|---:|---:|---:|",
    ]
    rows = []
    for dtype in dtypes:
        for source in (layer_rows, model_rows, optimizer_rows):
            for label, fwd, bwd in source(dtype):
                fa, fr = fwd if fwd else (None, None)
                ba, br = bwd if bwd else (None, None)
                row = (
                    f"| {label} | {dtype} | {_cell(fa)} | {_cell(fr)} | {_cell(ba)} | {_cell(br)} |"
                )
                rows.append(row)
                if progress:
                    progress(row)
    return "\n".join(header + rows) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", metavar="PATH", help="also write the table to this file")
    parser.add_argument(
        "--dtype",
        choices=("float64", "float32"),
        action="append",
        help="only this dtype (repeatable; default both)",
    )
    args = parser.parse_args(argv)
    print("scratchnet vs Keras: largest errors (relative = max |diff| / max |keras|)")
    print("| case | dtype | forward max abs | forward rel | backward max abs | backward rel |")
    text = table(tuple(args.dtype or ("float64", "float32")), progress=print)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {args.markdown}", file=sys.stderr)


if __name__ == "__main__":
    main()
