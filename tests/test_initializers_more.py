"""The normal, orthogonal and identity initializers without Keras: their statistics, the
VarianceScaling arithmetic, orthogonality, configs and errors (Keras comparisons:
parity_tests/test_initializers_parity.py)."""

import numpy as np
import pytest

from scratchnet import initializers
from scratchnet import random as sn_random


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_random_and_truncated_normal_statistics(dtype):
    w = initializers.RandomNormal(mean=0.5, stddev=2.0, seed=1)((400, 500), dtype)
    assert w.dtype == dtype and abs(w.mean() - 0.5) < 0.02 and abs(w.std() - 2.0) < 0.02
    t = initializers.TruncatedNormal(mean=0.5, stddev=2.0, seed=1)((400, 500), dtype)
    assert np.all(np.abs(t - 0.5) < 4) and abs(t.std() - 2.0 * 0.8796) < 0.02
    assert abs(initializers.RandomNormal(seed=2)((100_000,), dtype).std() - 0.05) < 1e-3


def test_normal_initializers_are_the_stateless_draws_scaled():
    """w = z * stddev + mean with the stddev in the dtype directly (not through float32)."""
    z = sn_random.stateless_normal((6, 4), (3, 0), "float64")
    w = initializers.RandomNormal(mean=0.1, stddev=0.3, seed=3)((6, 4), "float64")
    np.testing.assert_array_equal(w, z * 0.3 + 0.1)
    t = sn_random.stateless_truncated_normal((6, 4), (3, 0), "float64")
    he = initializers.HeNormal(seed=3)
    np.testing.assert_array_equal(he((6, 4), "float64"), t * (np.sqrt(2 / 6) / 0.87962566103423978))
    np.testing.assert_array_equal(he((6, 4), "float64"), he((6, 4), "float64"))  # same each call


@pytest.mark.parametrize(
    "mode, distribution, want",
    [
        ("fan_in", "untruncated_normal", np.sqrt(1.5 / 60)),
        ("fan_out", "untruncated_normal", np.sqrt(1.5 / 120)),
        ("fan_avg", "truncated_normal", np.sqrt(1.5 / 90) / 0.87962566103423978),
    ],
)
def test_variance_scaling_stddev(mode, distribution, want):
    init = initializers.VarianceScaling(1.5, mode, distribution, seed=0)
    assert init.stddev((3, 4, 5, 10)) == pytest.approx(want, rel=1e-15)  # fans 60 and 120
    w = initializers.VarianceScaling(1.5, mode, distribution, seed=0)((600, 1200))
    fan = {"fan_in": 600, "fan_out": 1200, "fan_avg": 900}[mode]
    assert abs(w.var() * fan / 1.5 - 1) < 0.01  # Var(w) = scale / fan, truncated or not


def test_normal_distribution_name_means_truncated():
    init = initializers.VarianceScaling(distribution="Normal", seed=1)
    assert init.distribution == "truncated_normal"
    with pytest.raises(ValueError, match="bad distribution .gaussian.; use"):
        initializers.VarianceScaling(distribution="gaussian")


@pytest.mark.parametrize("shape", [(5, 5), (8, 3), (3, 8), (3, 3, 2, 4)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_orthogonal_has_orthonormal_columns_or_rows(shape, dtype):
    w = initializers.Orthogonal(gain=2.0, seed=4)(shape, dtype)
    assert w.shape == shape and w.dtype == dtype
    m = w.reshape(-1, shape[-1]) / 2.0  # (rows, cols)
    small = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(
        small, np.eye(len(small)), atol=1e-5 if dtype == "float32" else 1e-12
    )
    with pytest.raises(ValueError, match="2-D or more"):
        initializers.Orthogonal(seed=1)((5,))


def test_identity():
    np.testing.assert_array_equal(initializers.Identity(3.0)((2, 3), "float64"), 3 * np.eye(2, 3))
    with pytest.raises(ValueError, match="only 2-D"):
        initializers.Identity()((2, 2, 2))


@pytest.mark.parametrize(
    "init",
    [
        initializers.RandomNormal(0.1, 0.2, seed=1),
        initializers.TruncatedNormal(seed=2),
        initializers.GlorotNormal(seed=3),
        initializers.HeNormal(),
        initializers.LecunNormal(seed=5),
        initializers.VarianceScaling(0.5, "fan_avg", "untruncated_normal", seed=6),
        initializers.Orthogonal(1.5, seed=7),
        initializers.Identity(0.5),
    ],
)
def test_configs_round_trip(init):
    again = initializers.deserialize(initializers.serialize(init))
    assert type(again) is type(init) and again.get_config() == init.get_config()
    assert initializers.get(type(init).__name__) is not None


def test_new_names():
    for name, cls in [
        ("he_normal", initializers.HeNormal),
        ("glorot_normal", initializers.GlorotNormal),
        ("lecun_normal", initializers.LecunNormal),
        ("random_normal", initializers.RandomNormal),
        ("normal", initializers.RandomNormal),
        ("truncated_normal", initializers.TruncatedNormal),
        ("orthogonal", initializers.Orthogonal),
        ("OrthogonalInitializer", initializers.Orthogonal),
        ("identity", initializers.Identity),
        ("IdentityInitializer", initializers.Identity),
        ("he_uniform", initializers.HeUniform),
        ("variance_scaling", initializers.VarianceScaling),
    ]:
        assert type(initializers.get(name)) is cls, name
