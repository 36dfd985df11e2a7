"""pytest set-up for the parity suite: deterministic TensorFlow and the hypothesis profiles.

The first statement sets ``TF_ENABLE_ONEDNN_OPTS=0``: TensorFlow reads it once, when it is first
imported, and any module below may import it (keras-behaviour.md section 10).

Hypothesis profiles (choose with ``HYPOTHESIS_PROFILE=ci|dev``; the default is ``ci`` when the
``CI`` environment variable is set, else ``dev``):

* ``ci``: derandomized, so every CI run checks the same examples and a failure is reproducible
  from the log; 40 examples per property.
* ``dev``: 8 random examples per property, for a quick local run.

Both use ``deadline=None``: numba compiles a kernel the first time it sees a new dtype, and that
first example would otherwise fail on time.
"""

import os

os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"  # before anything imports TensorFlow
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from hypothesis import HealthCheck, settings  # noqa: E402

_COMMON = dict(
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("ci", derandomize=True, max_examples=40, **_COMMON)
settings.register_profile("dev", max_examples=8, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_configure(config):
    # Drawn configs include softmax over a single channel on purpose (its gradient is exactly
    # zero); Keras warns about that each time.
    config.addinivalue_line("filterwarnings", "ignore:You are using a softmax over axis")
