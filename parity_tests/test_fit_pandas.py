"""pandas DataFrames and Series as fit, evaluate and predict take them, against Keras 3.15 on the
same weights: a DataFrame of features and a Series of labels, the dict of DataFrames of a model
with two inputs, sample weights as a Series, and a column that is not a number (refused, with
its column's dtype named). Keras turns each into a NumPy array (``np.asarray``); so does
scratchnet, so the numbers are the arrays' numbers."""

import numpy as np
import pandas as pd
import pytest

from parity_tests.test_fit_options import RTOL, data, fit_both, pair
from parity_tests.test_multi_io import assert_history, compile_both
from parity_tests.test_multi_io import data as multi_data
from parity_tests.test_multi_io import pair as multi_pair


def frame(x):
    return pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])


def test_a_dataframe_and_a_series_train_as_their_arrays():
    x, y = data(23)
    ours, theirs = pair()
    weights = pd.Series(np.linspace(0.5, 1.5, 23, dtype="float32"))
    fit_both(ours, theirs, frame(x), pd.Series(y), batch_size=5, epochs=2, sample_weight=weights)
    got = ours.evaluate(frame(x), pd.Series(y), batch_size=7, verbose=0, return_dict=True)
    want = theirs.evaluate(frame(x), pd.Series(y), batch_size=7, verbose=0, return_dict=True)
    assert sorted(got) == sorted(want)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=RTOL, err_msg=key)
    np.testing.assert_allclose(
        ours.predict(frame(x), verbose=0), theirs.predict(frame(x), verbose=0), rtol=RTOL, atol=1e-6
    )
    # the same numbers as from the arrays themselves
    np.testing.assert_array_equal(ours.predict(frame(x), verbose=0), ours.predict(x, verbose=0))


def test_a_dict_of_dataframes_feeds_a_model_with_two_inputs():
    xa, xb, ya, yb = multi_data(17)
    ours, theirs = multi_pair()
    kwargs = dict(loss=["sparse_categorical_crossentropy", "binary_crossentropy"])
    compile_both(ours, theirs, **kwargs)
    x = {"in_a": frame(xa), "in_b": frame(xb)}
    y = {"out_a": pd.Series(ya), "out_b": pd.DataFrame(yb, columns=["even"])}
    got = ours.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    want = theirs.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert_history(got, want)
    for g, w in zip(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), strict=True):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=1e-6)


def test_a_column_of_text_is_refused_as_keras_refuses_it():
    """A column of numbers written as text: Keras refuses the object array ("Invalid dtype:
    object"); scratchnet refuses it too, naming the text (it once read "0.5" as 0.5)."""
    x, y = data(6)
    ours, theirs = pair()
    bad = frame(x).astype({"f2": str})
    with pytest.raises(ValueError, match="Invalid dtype"):
        theirs.fit(bad, pd.Series(y), verbose=0)
    with pytest.raises(TypeError, match="holds text, such as '"):
        ours.fit(bad, pd.Series(y), verbose=0)
