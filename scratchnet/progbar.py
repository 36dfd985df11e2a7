"""Keras's progress bar, line for line: ``1875/1875 ━━━━━━━━━━━━━━━━━━━━ 9s 5ms/step - loss: 0.3``.

This is ``keras.utils.Progbar`` (keras/src/utils/progbar.py of Keras 3.15) with the same
arguments, the same decisions and the same characters written, so a log of a scratchnet run
looks like a log of the same program on Keras:

* verbose=1 draws the bar at most every ``interval`` seconds, and always its final state. How it
  draws depends on ``_dynamic_display``, decided once per bar exactly as Keras does: true when
  stdout is a terminal, when IPython's kernel is loaded (Jupyter), when the ``posix`` module is
  loaded, or under PyCharm. A dynamic display redraws one line in place (backspaces over the
  previous line, then a carriage return); otherwise each update starts a new line.
  Measured on Keras 3.15: ``"posix" in sys.modules`` is true in every Python process on Linux and
  macOS (``os`` imports it), so there Keras redraws in place even into a file or a pipe, and so
  does scratchnet. The new-line-per-update path is what both write on Windows when stdout is not
  a console. For a log file, ``verbose=2`` (one line per epoch) is the way in both libraries.
* verbose=2 writes one line when the bar is finalized; verbose=0 writes nothing.
* The colours are ANSI escapes, as Keras writes them; terminals and Jupyter render them. A stdout
  whose encoding cannot write "━" gets "=" instead (Keras's fallback).
* The time per step leaves out the first step, which pays one-off costs (numba's compilation
  here, TensorFlow's tracing there).
* A value named in ``stateful_metrics`` is shown as given; any other is averaged over the steps
  seen (Keras's rule). ``fit``, ``evaluate`` and ``predict`` pass ``stateless_metrics=set()``, as
  Keras's ``ProgbarLogger`` does: there every value is already a running mean and is shown as
  given.

Example:
    >>> import io, contextlib
    >>> out = io.StringIO()
    >>> with contextlib.redirect_stdout(out):
    ...     bar = Progbar(3, verbose=2)
    ...     bar.update(3, [("loss", 0.25)])
    >>> out.getvalue().startswith("3/3 - 0s -")
    True
"""

import math
import os
import sys
import time


def dynamic_display():
    """Keras's test for redrawing the bar in place (``Progbar._dynamic_display``)."""
    return (
        (hasattr(sys.stdout, "isatty") and sys.stdout.isatty())
        or "ipykernel" in sys.modules
        or "posix" in sys.modules
        or "PYCHARM_HOSTED" in os.environ
    )


def format_time_per_step(seconds, unit="step"):
    """`` 5ms/step``: Keras's ``Progbar._format_time``."""
    if seconds >= 1 or seconds == 0:
        return f" {seconds:.0f}s/{unit}"
    if seconds >= 1e-3:
        return f" {seconds * 1e3:.0f}ms/{unit}"
    return f" {seconds * 1e6:.0f}us/{unit}"


def print_msg(message):
    """Write to stdout and flush (Keras's ``io_utils.print_msg`` with ``line_break=False``)."""
    try:
        sys.stdout.write(message)
    except UnicodeEncodeError:
        encoding = sys.stdout.encoding or "utf-8"
        message = message.replace("━", "=").encode(encoding, errors="ignore").decode(encoding)
        sys.stdout.write(message)
    sys.stdout.flush()


class Progbar:
    """A progress bar over ``target`` steps (``keras.utils.Progbar``).

    Args:
        target: total number of steps, or None if unknown.
        width: the bar's width in characters.
        verbose: 1 (live bar), 2 (one line when finalized), 0 (silent).
        interval: least seconds between two draws of a live bar.
        stateful_metrics: names whose values are shown as given (the others are averaged).
        stateless_metrics: names whose values are averaged (the others are shown as given).
            At most one of the two.
        unit_name: what a step is called in ``5ms/step``.
    """

    def __init__(
        self,
        target,
        width=20,
        verbose=1,
        interval=0.05,
        stateful_metrics=None,
        stateless_metrics=None,
        unit_name="step",
    ):
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError(
                "Progbar: pass at most one of `stateful_metrics` (names shown as given; the "
                "others are averaged) and `stateless_metrics` (names averaged; the others are "
                "shown as given)."
            )
        self.target, self.width, self.verbose = target, width, verbose
        self.interval, self.unit_name = interval, unit_name
        if stateless_metrics is not None:
            self.stateful_metrics, self.stateless_metrics = None, set(stateless_metrics)
        else:
            self.stateful_metrics, self.stateless_metrics = set(stateful_metrics or ()), None
        self._dynamic_display = dynamic_display()
        self._seen_so_far = 0
        self._values = {}  # name -> [sum of value * steps, steps]
        self._values_order = []
        self._start = time.time()
        self._last_update = 0
        self._time_after_first_step = None
        self._prev_total_width = 0

    def _estimate_step_duration(self, current, now):
        """Seconds per step, leaving out the first step once there are more."""
        if not current:
            return 0
        if self._time_after_first_step is not None and current > 1:
            per_step = (now - self._time_after_first_step) / (current - 1)
        else:
            per_step = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return per_step

    def _record(self, current, values, finalize):
        """Keep each value: as given (stateful) or as a sum over the steps it covers."""
        for name, value in values:
            if name not in self._values_order:
                self._values_order.append(name)
            if self.stateful_metrics is not None:
                stateless = name not in self.stateful_metrics
            else:
                stateless = name in self.stateless_metrics
            if stateless and not finalize:
                steps = max(current - self._seen_so_far, 1)
                if name not in self._values:
                    self._values[name] = [value * steps, steps]
                else:
                    self._values[name][0] += value * steps
                    self._values[name][1] += steps
            else:
                self._values[name] = [value, 1]
        self._seen_so_far = current

    def _mean(self, name):
        total, count = self._values[name]
        return total / max(1, count)

    def update(self, current, values=None, finalize=None):
        """Show step ``current`` with ``values``, (name, number) pairs.

        ``finalize`` (default: ``current >= target``) marks the last update: the bar then shows
        the elapsed time instead of the time left and ends its line.
        """
        if current is None:  # a bar of unknown length (a generator) ends where it got to,
            current = self.target = self._seen_so_far  # as Keras's ProgbarLogger finalizes it
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        self._record(current, values or [], finalize)
        now = time.time()
        per_step = self._estimate_step_duration(current, now)
        if self.verbose == 1:
            if now - self._last_update < self.interval and not finalize:
                return
            self._draw(current, now, per_step, finalize)
        elif self.verbose == 2 and finalize and self.target is not None and self.target > 0:
            digits = int(math.log10(self.target)) + 1
            line = f"{current:{digits}d}/{self.target} - {now - self._start:.0f}s -"
            line += format_time_per_step(per_step, self.unit_name)
            for name in self._values_order:
                mean = self._mean(name)
                line += f" - {name}: " + (f"{mean:.4f}" if mean > 1e-3 else f"{mean:.4e}")
            print_msg(line + "\n")
        self._last_update = now

    def _draw(self, current, now, per_step, finalize):
        """verbose=1: one state of the live bar, redrawn in place or on a new line."""
        message = "\b" * self._prev_total_width + "\r" if self._dynamic_display else "\n"
        escapes = 0  # characters of ANSI escapes, which take no room on the screen
        if self.target is not None and self.target > 0:
            digits = int(math.log10(self.target)) + 1
            bar = f"\x1b[1m{current:{digits}d}/{self.target}\x1b[0m "
            escapes += 8
            done = int(self.width * (current / self.target))
            if done > 0:
                bar += f"\x1b[32m{'━' * done}\x1b[0m"
                escapes += 9
            bar += f"\x1b[37m{'━' * (self.width - done)}\x1b[0m"
            escapes += 9
        else:
            bar = f"{current:7d}/Unknown"
        if self.target is not None and self.target > 0 and not finalize:
            eta = per_step * (self.target - current)
            if eta > 3600:
                clock = f"{int(eta // 3600)}:{int(eta % 3600 // 60):02d}:{int(eta % 60):02d}"
            elif eta > 60:
                clock = f"{int(eta // 60)}:{int(eta % 60):02d}"
            else:
                clock = f"{int(eta)}s"
        else:
            clock = f"{now - self._start:.0f}s"
        info = f" \x1b[1m{clock}\x1b[0m" + format_time_per_step(per_step, self.unit_name)
        escapes += 8
        for name in self._values_order:
            mean = self._mean(name)
            info += f" - {name}: " + (f"{mean:.4f}" if abs(mean) > 1e-3 else f"{mean:.4e}")
        total_width = len(bar) + len(info) - escapes
        message += bar + info
        if self._prev_total_width > total_width:
            message += " " * (self._prev_total_width - total_width)
        if finalize:
            message += "\n"
        print_msg(message)
        self._prev_total_width = total_width

    def add(self, n, values=None):
        """Move ``n`` steps on."""
        self.update(self._seen_so_far + n, values)
