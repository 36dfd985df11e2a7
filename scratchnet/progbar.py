"""Keras's progress bar, line for line: ``1875/1875 ━━━━━━━━━━━━━━━━━━━━ 9s 5ms/step - loss: 0.3``.

verbose=1 redraws one line in place (a backspace+carriage-return prefix, as Keras does on POSIX
even when piped), at most every 0.05 s, always printing the final state. verbose=2 prints one
line at the end. The time per step leaves out the first step, which pays one-off costs.
"""

import math
import sys
import time


def format_value(value):
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


def format_time_per_step(seconds, unit="step"):
    if seconds >= 1 or seconds == 0:
        return f" {seconds:.0f}s/{unit}"
    if seconds >= 1e-3:
        return f" {seconds * 1e3:.0f}ms/{unit}"
    return f" {seconds * 1e6:.0f}us/{unit}"


class Progbar:
    """A progress bar over ``target`` steps.

    Args:
        target: total number of steps.
        verbose: 1 (live bar), 2 (one line at the end), 0 (silent).
        stream: where to write (default sys.stdout, looked up at each write).
    """

    def __init__(self, target, verbose=1, width=20, interval=0.05, stream=None):
        self.target, self.verbose, self.width, self.interval = target, verbose, width, interval
        self.stream = stream
        self.start = time.time()
        self.last_update = 0.0
        self.time_after_first_step = None
        self.prev_width = 0

    def _time_per_step(self, current, now):
        if not current:
            return 0.0
        if self.time_after_first_step is not None and current > 1:
            per_step = (now - self.time_after_first_step) / (current - 1)
        else:
            per_step = (now - self.start) / current
        if current == 1:
            self.time_after_first_step = now
        return per_step

    def update(self, current, values=(), finalize=False):
        """Show step ``current`` with ``values``: (name, number) pairs, displayed as given."""
        now = time.time()
        per_step = self._time_per_step(current, now)
        stream = self.stream or sys.stdout
        if self.verbose == 1:
            if now - self.last_update < self.interval and not finalize:
                return
            digits = int(math.log10(self.target)) + 1 if self.target > 0 else 1
            count = f"{current:{digits}d}/{self.target}"
            done = int(self.width * current / self.target) if self.target else self.width
            bar = f"\x1b[1m{count}\x1b[0m "
            if done > 0:
                bar += f"\x1b[32m{'━' * done}\x1b[0m"
            bar += f"\x1b[37m{'━' * (self.width - done)}\x1b[0m"
            visible = len(count) + 1 + self.width
            if finalize:
                clock = f"{now - self.start:.0f}s"
            else:
                eta = per_step * (self.target - current)
                if eta > 3600:
                    clock = f"{int(eta // 3600)}:{int(eta % 3600 // 60):02d}:{int(eta % 60):02d}"
                elif eta > 60:
                    clock = f"{int(eta // 60)}:{int(eta % 60):02d}"
                else:
                    clock = f"{int(eta)}s"
            items = "".join(f" - {name}: {format_value(value)}" for name, value in values)
            tail = format_time_per_step(per_step) + items
            info = f" \x1b[1m{clock}\x1b[0m" + tail
            visible += 1 + len(clock) + len(tail)  # what the terminal shows, escapes left out
            line = "\b" * self.prev_width + "\r" + bar + info
            if self.prev_width > visible:
                line += " " * (self.prev_width - visible)
            if finalize:
                line += "\n"
            stream.write(line)
            stream.flush()
            self.prev_width = visible
        elif self.verbose == 2 and finalize:
            digits = int(math.log10(self.target)) + 1 if self.target > 0 else 1
            line = f"{current:{digits}d}/{self.target} - {now - self.start:.0f}s -"
            line += format_time_per_step(per_step)
            for name, value in values:
                line += f" - {name}: " + (f"{value:.4f}" if value > 1e-3 else f"{value:.4e}")
            stream.write(line + "\n")
            stream.flush()
        self.last_update = now
