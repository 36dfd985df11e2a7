"""``callbacks.TensorBoard`` against Keras's: the event files read back with TensorFlow's reader,
the same tags in the same folders at the same steps with the same values."""

import glob
import json
import os

import numpy as np
import pytest

import scratchnet
from keras_impl.setup import keras, tf
from parity_tests.callback_pairs import data, model_pair


def read_events(log_dir):
    """``{(folder, tag, step): [values in the order written]}`` of every summary under
    ``log_dir`` (one key can be written twice: fit's last validation and an evaluate after it,
    in two files); the model-graph summary (tag "keras") as its plugin name and parsed JSON."""
    events = {}
    for path in glob.glob(os.path.join(log_dir, "**", "events.out.tfevents.*"), recursive=True):
        folder = os.path.relpath(os.path.dirname(path), log_dir)
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                key = (folder, value.tag, event.step)
                if value.tag == "keras":
                    text = tf.make_ndarray(value.tensor).item()
                    found = (value.metadata.plugin_data.plugin_name, json.loads(text))
                elif value.HasField("tensor"):
                    found = float(tf.make_ndarray(value.tensor))
                else:
                    found = float(value.simple_value)
                events.setdefault(key, []).append((event.wall_time, found))
    return {key: [v for _, v in sorted(found, key=lambda t: t[0])] for key, found in events.items()}


def _run_both(tmp_path, validation=True, evaluate=False, **kwargs):
    x, y = data(12)
    val = data(6, seed=1) if validation else None
    found = []
    for model, lib in zip(model_pair(learning_rate=0.2), (scratchnet, keras)):
        log_dir = str(tmp_path / lib.__name__)
        board = lib.callbacks.TensorBoard(log_dir, **kwargs)
        model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0, validation_data=val,
                  callbacks=[board])  # fmt: skip
        if evaluate:
            model.evaluate(x, y, batch_size=5, verbose=0, callbacks=[board])
        found.append(read_events(log_dir))
    return found


def _compare(ours, theirs):
    assert sorted(ours) == sorted(theirs), (
        f"only scratchnet: {sorted(set(ours) - set(theirs))}; "
        f"only Keras: {sorted(set(theirs) - set(ours))}"
    )
    for key in ours:
        assert len(ours[key]) == len(theirs[key]), (key, ours[key], theirs[key])
        if key[1] == "keras":
            [(ours_plugin, ours_json)], [(theirs_plugin, theirs_json)] = ours[key], theirs[key]
            assert ours_plugin == theirs_plugin == "graph_keras_model"
            assert ours_json["class_name"] == theirs_json["class_name"] == "Sequential"
            names = [layer["class_name"] for layer in ours_json["config"]["layers"]]
            assert names == [layer["class_name"] for layer in theirs_json["config"]["layers"]]
        else:
            np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.mark.parametrize("update_freq", ["epoch", "batch", 2, 4])
@pytest.mark.parametrize("validation", [True, False])
def test_tensorboard_events(tmp_path, update_freq, validation):
    ours, theirs = _run_both(tmp_path, validation=validation, update_freq=update_freq)
    _compare(ours, theirs)
    tags = {tag for _, tag, _ in ours}
    # Keras's quirk: with update_freq=4 each epoch ends at global batch 3, 6 or 9, never a
    # multiple of 4, so no epoch summary is recorded at all (record_if)
    epoch_tags = {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"}
    assert epoch_tags <= tags if update_freq != 4 else not epoch_tags & tags
    assert ("batch_loss" in tags) == (update_freq != "epoch")
    assert {folder for folder, _, _ in ours} == ({"train", "validation"} if validation
                                                 else {"train"})  # fmt: skip


def test_tensorboard_evaluate_and_no_graph(tmp_path):
    ours, theirs = _run_both(tmp_path, evaluate=True, write_graph=False)
    _compare(ours, theirs)
    assert not any(tag == "keras" for _, tag, _ in ours)
    assert any(tag == "evaluation_loss_vs_iterations" for _, tag, _ in ours)


def test_tensorboard_histograms(tmp_path):
    x, y = data(8)
    model = model_pair()[0]
    log_dir = str(tmp_path / "logs")
    board = scratchnet.callbacks.TensorBoard(log_dir, histogram_freq=2, write_graph=False)
    model.fit(x, y, batch_size=4, epochs=3, verbose=0, callbacks=[board])
    paths = glob.glob(os.path.join(log_dir, "train", "events.out.tfevents.*"))
    histograms = {
        (value.tag, event.step)
        for path in paths
        for event in tf.compat.v1.train.summary_iterator(path)
        for value in event.summary.value
        if value.HasField("histo")
    }
    weights = [w.path for layer in model.layers for w in layer.weights]
    assert histograms == {(f"{w}/histogram", step) for w in weights for step in (0, 2)}
