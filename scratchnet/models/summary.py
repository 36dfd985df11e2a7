"""``model.summary()``: Keras's table of layers, output shapes and parameter counts, as text.

Keras draws it with the rich library; these functions reproduce the plain-text form it prints
when the output is not a terminal, character for character (the parity tests compare them).
"""

import shutil

import numpy as np

from .. import config


def _readable_size(nbytes):
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1024 or unit == "GB":
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024


def _layer_rows(model):
    """(name (type), output shape, layer or None for an input, connections) per summary row.

    Sequential and Functional models list their own (``_summary_rows``); a subclassed model's
    shapes are unknown without data, as in Keras."""
    rows = getattr(model, "_summary_rows", None)
    if rows is not None:
        return rows()
    return [(f"{layer.name} ({type(layer).__name__})", "?", layer, None) for layer in model.layers]


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


def summary_text(model, line_length=None):
    """Keras's summary table as plain text (what Keras prints when output is not a terminal).

    A model whose graph branches or merges gets a fourth column, "Connected to", listing the
    layers each layer reads (``conv2d[0][0]``: call 0, output 0, as Keras writes it).
    """
    chain = _is_chain(model)
    header = ["Layer (type)", "Output Shape", "Param #"] + ([] if chain else ["Connected to"])
    positions = (0.45, 0.80, 1.0) if chain else (0.3, 0.56, 0.74, 1.0)
    width = line_length or min(88 if chain else 108, shutil.get_terminal_size().columns - 4)
    cuts = [0] + [int(p * width) for p in positions]
    cols = [b - a for a, b in zip(cuts, cuts[1:])]
    inner = _shrink(cols, len(cols) + 1)  # the table's vertical border characters
    right = [False, False, True, False]

    def row(cells, sep="│"):
        wrapped = [_wrap(c, w - 2) for c, w in zip(cells, inner)]
        out = []
        for i in range(max(len(c) for c in wrapped)):
            parts = []
            for lines, w, r in zip(wrapped, inner, right):
                text = lines[i] if i < len(lines) else ""
                parts.append(" " + (text.rjust(w - 2) if r else text.ljust(w - 2)) + " ")
            out.append(sep + sep.join(parts) + sep)
        return out

    lines = [f'Model: "{model.name}"']
    lines.append("┏" + "┳".join("━" * w for w in inner) + "┓")
    lines += row(header, "┃")
    lines.append("┡" + "╇".join("━" * w for w in inner) + "┩")
    rows = _layer_rows(model)
    for i, (name, shape, layer, connected) in enumerate(rows):
        if layer is None:
            params = "0"
        elif layer.built:
            params = f"{layer.count_params():,}"
        else:
            params = "0 (unbuilt)"
        lines += row([name, shape, params] + ([] if chain else [connected]))
        if i < len(rows) - 1:
            lines.append("├" + "┼".join("─" * w for w in inner) + "┤")
    lines.append("└" + "┴".join("─" * w for w in inner) + "┘")
    itemsize = np.dtype(config.floatx()).itemsize
    built = [layer for layer in model.layers if layer.built]
    trainable = sum(v.value.size for layer in built for v in layer.trainable_weights)
    frozen = sum(v.value.size for layer in built for v in layer.non_trainable_weights)
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
