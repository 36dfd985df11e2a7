"""The progress bar writes what Keras's writes, into a pipe, for fit, evaluate and predict.

Keras and scratchnet each run the same small program in a subprocess whose stdout is a pipe; the
outputs are compared after the numbers that depend on time or on float rounding are replaced by
placeholders (the time left, the time per step, metric values, the run of backspaces that depends
on the previous line's width). Everything else must be equal: the lines, their order and count,
the keys, the colour escapes, the carriage returns and the new lines.

Each update is drawn (``interval`` set to 0 in both), so the number of lines does not depend on
timing. Both display modes are run: redrawn in place (``_dynamic_display`` True, what both choose
on Linux even into a pipe, see scratchnet/progbar.py) and a new line per update (False).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import os, sys
impl = sys.argv[1]
if impl == "keras":
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import keras as lib
    from keras.src.utils.progbar import Progbar
else:
    import scratchnet as lib
    from scratchnet.progbar import Progbar
import numpy as np

# What each library decides by itself with stdout a pipe.
print("default dynamic:", Progbar(3)._dynamic_display)
posix = sys.modules.pop("posix")
print("without posix:", Progbar(3)._dynamic_display)
sys.modules["ipykernel"] = posix  # any module: only the name is looked up
print("in Jupyter:", Progbar(3)._dynamic_display)
del sys.modules["ipykernel"]
sys.modules["posix"] = posix

init = Progbar.__init__
DYNAMIC = None


def every_update(self, *args, **kwargs):
    init(self, *args, **kwargs)
    self.interval = 0
    self._dynamic_display = DYNAMIC


Progbar.__init__ = every_update
lib.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.standard_normal((40, 4)).astype("float32")
y = lib.utils.to_categorical(rng.integers(0, 3, 40), 3)
model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(3, activation="softmax")])
model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
for DYNAMIC in (True, False):
    for verbose in (1, 2):
        print(f"===== fit dynamic={DYNAMIC} verbose={verbose}", flush=True)
        model.fit(x, y, batch_size=8, epochs=2, verbose=verbose, validation_data=(x[:16], y[:16]))
        print(f"===== evaluate dynamic={DYNAMIC} verbose={verbose}", flush=True)
        model.evaluate(x, y, batch_size=16, verbose=verbose)
        print(f"===== predict dynamic={DYNAMIC} verbose={verbose}", flush=True)
        model.predict(x, batch_size=16, verbose=verbose)
"""


def run(impl):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(
        [sys.executable, "-c", CHILD, impl],
        cwd=ROOT,
        env=env,
        capture_output=True,  # stdout is a pipe, not a terminal
        timeout=300,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    return done.stdout.decode()


def normalize(text):
    """Replace what depends on time or rounding by placeholders; keep the structure."""
    text = re.sub(r" \d+(?:us|ms|s)/step", " T/step", text)  # time per step
    text = re.sub(r"\x1b\[1m[\d:]+s\x1b\[0m", "\x1b[1mT\x1b[0m", text)  # time left or elapsed
    text = re.sub(r" - \d+s -", " - T -", text)  # verbose=2: elapsed
    text = re.sub(r": -?\d+\.\d+(?:e[-+]\d+)?", ": V", text)  # metric values
    text = re.sub(r"\x08+", "<BS>", text)  # as many as the previous line was wide
    return re.sub(r" +(?=<BS>|\n|$)", "", text)  # padding over a longer previous line


@pytest.fixture(scope="module")
def outputs():
    return {impl: run(impl) for impl in ("keras", "scratchnet")}


def sections(text):
    parts = re.split(r"^===== (.*)\n", text, flags=re.M)
    return parts[0], dict(zip(parts[1::2], parts[2::2]))


def test_the_display_mode_is_chosen_as_keras_chooses_it(outputs):
    head = {impl: sections(text)[0] for impl, text in outputs.items()}
    assert head["scratchnet"] == head["keras"]
    assert "default dynamic: True" in head["keras"]  # Linux: 'posix' is always loaded
    assert "without posix: False" in head["keras"]
    assert "in Jupyter: True" in head["keras"]


@pytest.mark.parametrize("what", ["fit", "evaluate", "predict"])
@pytest.mark.parametrize("dynamic", [True, False])
@pytest.mark.parametrize("verbose", [1, 2])
def test_output_has_the_structure_of_keras(outputs, what, dynamic, verbose):
    name = f"{what} dynamic={dynamic} verbose={verbose}"
    ours = normalize(sections(outputs["scratchnet"])[1][name])
    theirs = normalize(sections(outputs["keras"])[1][name])
    assert ours == theirs, f"{name}\nscratchnet:\n{ours!r}\nKeras:\n{theirs!r}"
    if not dynamic or verbose == 2:
        assert "\r" not in ours and "\x08" not in ours, "a log line has \\r or \\b"
    if what == "fit" and verbose == 1:  # 2 epochs of 5 batches: 5 draws + the final one each
        assert "val_loss" in ours
        assert len(re.findall(r"\x1b\[1m\d/5\x1b\[0m", ours)) == 2 * 6
