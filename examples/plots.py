"""The examples' pictures: digits, learning curves, filters, feature maps, confusion matrix.

Every function draws one figure with matplotlib's file-only Agg backend and saves it as a PNG.
"""

import math

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, path):
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    print(f"Wrote {path}")


def plot_digits(x, y, path, n=16):
    """A grid of the first ``n`` images with their labels.

    Args:
        x: images, (N, 28, 28) uint8.
        y: labels, (N,).
    """
    cols = 8
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.2, rows * 1.4))
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(x[i], cmap="gray_r")
            ax.set_title(str(int(y[i])))
    _save(fig, path)


def plot_history(history, path, title):
    """Loss and accuracy per epoch, training and (when there is one) validation.

    Args:
        history: ``History.history``, a dict of lists: loss, accuracy, val_loss, val_accuracy.
    """
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        for prefix, label in (("", "train"), ("val_", "validation")):
            values = history.get(prefix + key)
            if values:
                ax.plot(range(1, len(values) + 1), values, marker="o", label=label)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    _save(fig, path)


def plot_comparison(histories, path, title):
    """Both implementations' learning curves overlaid: loss and accuracy, train and validation.

    Args:
        histories: ``{implementation name: history dict}``.
    """
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    # Thick translucent lines under thin crossed ones, so curves that coincide stay visible.
    looks = (
        dict(color="tab:blue", linewidth=4, alpha=0.5, marker="o", markersize=8),
        dict(color="tab:orange", linewidth=1.2, marker="x", markersize=7),
    )
    for (impl, history), look in zip(histories.items(), looks, strict=False):
        for ax, key in ((ax_loss, "loss"), (ax_acc, "accuracy")):
            for prefix, style, what in (("", "-", "train"), ("val_", "--", "validation")):
                values = history.get(prefix + key)
                if values:
                    epochs = range(1, len(values) + 1)
                    ax.plot(epochs, values, style, label=f"{impl} {what}", **look)
    for ax, key in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    _save(fig, path)


def plot_filters(kernel, path, title):
    """Each filter of a first conv layer as a small image, on one colour scale centred on zero.

    Args:
        kernel: (KH, KW, C_in, C_out); only input channel 0 is drawn (MNIST has one).
    """
    c_out = kernel.shape[3]
    cols = min(c_out, 8)
    rows = math.ceil(c_out / cols)
    limit = float(np.max(np.abs(kernel[:, :, 0, :]))) or 1.0
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.2), squeeze=False)
    for f, ax in enumerate(axes.flat):
        ax.axis("off")
        if f < c_out:
            ax.imshow(kernel[:, :, 0, f], cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set_title(str(f), fontsize=8)
    fig.suptitle(title)
    _save(fig, path)


def plot_feature_maps(image, maps, path, title):
    """One test digit and what each conv layer makes of it, one small image per channel.

    Args:
        image: the digit, (28, 28).
        maps: ``[(layer name, (H_out, W_out, C_out)), ...]`` from ``common.conv_feature_maps``.
    """
    cols = 16
    fig = plt.figure(figsize=(cols * 0.7, 1.6 + sum(math.ceil(m.shape[2] / cols) for _, m in maps)))
    panels = fig.subfigures(
        len(maps) + 1, 1, height_ratios=[1.6] + [math.ceil(m.shape[2] / cols) for _, m in maps]
    )
    ax = panels[0].subplots()
    ax.imshow(image, cmap="gray_r")
    ax.axis("off")
    ax.set_title(title)
    for panel, (name, m) in zip(panels[1:], maps, strict=True):
        c_out = m.shape[2]
        rows = math.ceil(c_out / cols)
        axes = panel.subplots(rows, cols, squeeze=False)
        for c, a in enumerate(axes.flat):
            a.axis("off")
            if c < c_out:
                a.imshow(m[:, :, c], cmap="viridis")
        panel.suptitle(f"{name}: {m.shape[0]}x{m.shape[1]}x{c_out}", fontsize=9)
    _save(fig, path)


def plot_confusion_matrix(y_true, y_pred, path, title):
    """The 10x10 confusion matrix: row = true digit, column = predicted digit, counts written in.

    Args:
        y_true, y_pred: digits, (N,) integers.
    """
    matrix = np.zeros((10, 10), dtype=int)  # (true, predicted)
    np.add.at(matrix, (y_true, y_pred), 1)
    fig, ax = plt.subplots(figsize=(7, 6))
    image = ax.imshow(matrix, cmap="Blues")
    for t in range(10):
        for p in range(10):
            color = "white" if matrix[t, p] > matrix.max() / 2 else "black"
            ax.text(p, t, str(matrix[t, p]), ha="center", va="center", fontsize=8, color=color)
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(title)
    fig.colorbar(image)
    _save(fig, path)
    return matrix
