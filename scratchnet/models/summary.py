"""``model.summary()``: Keras's table of layers, output shapes and parameter counts, as text.

Keras draws it with the rich library; these functions reproduce the plain-text form it prints
when the output is not a terminal, character for character (the parity tests compare them).
"""

import shutil

import numpy as np

from .. import config, graph
from ..naming import shape_str


def _readable_size(nbytes):
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1024 or unit == "GB":
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024


def _layer_rows(model):
    """(name (type), output shape, layer or None for an input, connections) per summary row.

    Sequential and Functional models list their own (``_summary_rows``); a subclassed model's
    layers show the shape they were built for, or "?" before any data, as in Keras."""
    rows = getattr(model, "_summary_rows", None)
    if rows is not None:
        return rows()
    return [(_name_and_type(layer), shape_of(layer), layer, "-") for layer in model.layers]


def _name_and_type(layer, prefix=""):
    return f"{prefix}{layer.name} ({type(layer).__name__})"


def shape_of(layer):
    """A layer's output shape as Keras's summary shows it: its latest call on symbolic tensors
    (each output's shape for several), else what it computes for the shape it was built on,
    else "?"."""
    out = layer.__dict__.get("_last_symbolic_output")
    if out is None and layer.__dict__.get("_symbolic_call") is not None:
        out = layer.__dict__["_symbolic_call"][1]  # an InputLayer: its tensor
    if out is not None:
        shapes = [t.shape for t in (out if isinstance(out, list) else [out])]
    elif layer.built and layer.input_shape is not None and _keras_keeps_build_shape(layer):
        try:
            shape = layer.compute_output_shape(getattr(layer, "_build_shape", layer.input_shape))
        except (NotImplementedError, TypeError, ValueError):
            return "?"
        shapes = list(shape) if graph.is_shape_list(shape) else [shape]
    else:
        return "?"
    if len(shapes) == 1:
        return shape_str(shapes[0])
    return "[" + ", ".join(shape_str(s) for s in shapes) + "]"


# The layers Keras marks built when they are made (their __init__ calls ``_build_at_init``), so
# it keeps no build shape for them and a subclassed model's summary shows "?" (Keras 3.15's
# source: pooling, global pooling, the activation layers, Dropout, the noise layers).
_KERAS_BUILT_AT_INIT = {
    "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalAveragePooling1D",
    "GlobalAveragePooling2D", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Dropout",
    "SpatialDropout2D", "GaussianDropout", "GaussianNoise",
}  # fmt: skip


def _keras_keeps_build_shape(layer):
    """Whether Keras knows ``layer``'s shape from its build alone (see above)."""
    return type(layer).__name__ not in _KERAS_BUILT_AT_INIT


def _params(layer):
    if layer is None:
        return "0"
    if layer.built:
        return f"{layer.count_params():,}"
    return "0" if type(layer).__name__ in _KERAS_BUILT_AT_INIT else "0 (unbuilt)"


def _trainable(layer):
    """Keras's "Trainable" column: Y or N for a layer with weights, "-" for one without."""
    if layer is None or not layer.weights:
        return "-"
    return "Y" if layer.trainable else "N"


def _rows(model, expand_nested, show_trainable, chain):
    """The table's rows as lists of cells; a nested model's layers, with ``expand_nested``,
    right under it, indented ("   └ dense (Dense)"), connected to "-" as Keras prints them."""

    def cells(name, shape, layer, connected):
        return (
            [name, shape, _params(layer)]
            + ([] if chain else [connected])
            + ([_trainable(layer)] if show_trainable else [])
        )

    def nested(layer, level):
        if not (expand_nested and getattr(layer, "layers", None)):
            return []
        found = []
        for inner in layer.layers:
            prefix = "   " * level + "└ "
            found.append(cells(_name_and_type(inner, prefix), shape_of(inner), inner, "-"))
            found += nested(inner, level + 1)
        return found

    rows = []
    for name, shape, layer, connected in _layer_rows(model):
        rows.append(cells(name, shape, layer, connected))
        rows += nested(layer, 1)
    return rows


def _is_chain(model):
    """Keras prints a graph that branches or merges with a fourth column, "Connected to"."""
    is_chain = getattr(model, "_summary_is_chain", None)
    return True if is_chain is None else is_chain()


def _shrink(widths, excess):
    """Rich's rule for fitting fixed-width columns into the table: take ``excess`` characters
    away in equal shares, rounding each share with Python's round(), first column first."""
    out, remaining, ratio = [], excess, len(widths)
    for w in widths:
        share = round(remaining / ratio)
        out.append(w - share)
        remaining -= share
        ratio -= 1
    return out


def _wrap(text, width):
    """Rich's cell layout: wrap at spaces; a word longer than the cell is cut to end in '…'."""
    lines = []
    for word in str(text).split(" "):
        if len(word) > width:
            word = word[: width - 1] + "…"
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def summary_text(model, line_length=None, expand_nested=False, show_trainable=False):
    """Keras's summary table as plain text (what Keras prints when output is not a terminal).

    A model whose graph branches or merges (or calls a layer twice) gets a fourth column,
    "Connected to", listing the layers each layer reads (``conv2d[0][0]``: call 0, output 0,
    as Keras writes it). ``expand_nested`` lists a nested model's layers under it;
    ``show_trainable`` adds Keras's "Trainable" column (Y, N, or "-" without weights).
    """
    chain = _is_chain(model)
    header = ["Layer (type)", "Output Shape", "Param #"] + ([] if chain else ["Connected to"])
    positions = [0.45, 0.80, 1.0] if chain else [0.3, 0.56, 0.74, 1.0]
    default = 88 if chain else 108
    justify = ["left", "left", "right", "left"][: len(header)]
    if show_trainable:  # as Keras: 12 more characters, the other columns 90% of the width
        default += 12
        positions = [p * 0.90 for p in positions] + [1.0]
        header.append("Trainable")
        justify.append("center")
    width = line_length or min(default, shutil.get_terminal_size().columns - 4)
    cuts = [0] + [int(p * width) for p in positions]
    cols = [b - a for a, b in zip(cuts, cuts[1:])]
    inner = _shrink(cols, len(cols) + 1)  # the table's vertical border characters

    def place(text, w, how):
        if how == "right":
            return text.rjust(w)
        if how == "center":
            left = (w - len(text)) // 2
            return (" " * left + text).ljust(w)
        return text.ljust(w)

    def row(cells, sep="│"):
        wrapped = [_wrap(c, w - 2) for c, w in zip(cells, inner)]
        out = []
        for i in range(max(len(c) for c in wrapped)):
            parts = []
            for lines, w, how in zip(wrapped, inner, justify):
                text = lines[i] if i < len(lines) else ""
                parts.append(" " + place(text, w - 2, how) + " ")
            out.append(sep + sep.join(parts) + sep)
        return out

    lines = [f'Model: "{model.name}"']
    lines.append("┏" + "┳".join("━" * w for w in inner) + "┓")
    lines += row(header, "┃")
    lines.append("┡" + "╇".join("━" * w for w in inner) + "┩")
    rows = _rows(model, expand_nested, show_trainable, chain)
    for i, cells in enumerate(rows):
        lines += row(cells)
        if i < len(rows) - 1:
            lines.append("├" + "┼".join("─" * w for w in inner) + "┤")
    lines.append("└" + "┴".join("─" * w for w in inner) + "┘")
    itemsize = np.dtype(config.floatx()).itemsize
    trainable = sum(v.value.size for v in _unique(model.trainable_weights))
    frozen = sum(v.value.size for v in _unique(model.non_trainable_weights))
    opt_params = opt_bytes = 0
    if model.optimizer is not None and model.optimizer.slots is not None:
        state = model.optimizer.variables  # the step counter (int64), learning rate, slots, ...
        opt_params = sum(a.size for a in state)
        opt_bytes = sum(a.nbytes for a in state)
    total = trainable + frozen + opt_params
    total_bytes = (trainable + frozen) * itemsize + opt_bytes
    lines.append(f" Total params: {total:,} ({_readable_size(total_bytes)})")
    lines.append(f" Trainable params: {trainable:,} ({_readable_size(trainable * itemsize)})")
    lines.append(f" Non-trainable params: {frozen:,} ({_readable_size(frozen * itemsize)})")
    if opt_params:
        lines.append(f" Optimizer params: {opt_params:,} ({_readable_size(opt_bytes)})")
    return "\n".join(lines)


def _unique(variables):
    """Each Variable once (a layer shared by a model and a model nested in it)."""
    return list({id(v): v for v in variables}.values())
