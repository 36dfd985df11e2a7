"""The drawing app in a real browser: draw real MNIST test digits stroke by stroke, read the answer.

Chromium comes from the system packages (``scripts/install-browser.sh`` installs it) and Playwright
drives it headless. A fixture trains a small convnet with scratchnet through the example script
itself (a few thousand images, two epochs) and the app serves the model it saved. The test traces
each digit's dark pixels as short horizontal pen strokes on the canvas, ten screen pixels per MNIST
pixel, presses Predict (or Enter), and reads the answer off the page.
"""

import base64
import json
import os
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import scratchnet
from examples import common, keras_convnet
from examples.draw.preprocess import to_mnist
from tests.browser import ONE_THREAD, REPO, open_page, serve

INK = 128  # MNIST pixels at least this dark are traced


def test_preprocessing_gives_back_an_mnist_digit_drawn_ten_times_larger():
    _, (x_test, _) = common.load_mnist()
    for image in x_test[:50]:
        drawing = np.kron(image / 255, np.ones((10, 10)))  # (280, 280), as on the canvas
        digit = to_mnist(drawing)  # (28, 28) in [0, 255]
        assert np.mean(np.abs(digit - image)) < 1.0  # grey levels out of 255, on average
        assert np.ptp(np.argwhere(digit > 0), axis=0).max() + 1 == 20  # fits the 20x20 box


def test_preprocessing_of_an_empty_drawing_is_none():
    assert to_mnist(np.zeros((280, 280))) is None


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """A convnet trained by the example on scratchnet: 5,000 images, two epochs (about 90%)."""
    out = tmp_path_factory.mktemp("convnet")
    args = ["--limit", "5000", "--epochs", "2", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "examples.keras_convnet", *args],
        cwd=REPO,
        env={**os.environ, **ONE_THREAD},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return out / "model.keras"


@pytest.fixture(scope="module")
def server(model_path):
    """The app on 127.0.0.1 at a free port; yields (process, url)."""
    yield from run_app(model_path)


@pytest.fixture
def own_server(model_path):
    """A second app, for a test to have to itself (the browser test's Esc stops the first)."""
    yield from run_app(model_path)


def run_app(model_path):
    yield from serve("examples.draw.app", "--program", "convnet", "--model", str(model_path))


@pytest.fixture(scope="module")
def page(server, tmp_path_factory):
    """A fresh headless Chromium page showing the app."""
    yield from open_page(server[1], tmp_path_factory.mktemp("chromium-profile"))


def digits_to_draw(model_path, count=3):
    """The first test images of ``count`` different digits the model gets right with confidence."""
    _, (x_test, y_test) = common.load_mnist()
    model = scratchnet.models.load_model(model_path)
    p = model.predict(keras_convnet.prepare_images(x_test[:200]), verbose=0)  # (200, 10)
    chosen = {}
    for i in np.flatnonzero((p.argmax(axis=1) == y_test[:200]) & (p.max(axis=1) > 0.95)):
        chosen.setdefault(int(y_test[i]), x_test[i])
    assert len(chosen) >= count, "the trained model is too weak to choose digits"
    return list(chosen.items())[:count]


def trace(page, image):
    """Draw ``image``'s dark pixels as one horizontal stroke per run of them, row by row."""
    box = page.locator("#pad").bounding_box()
    scale = box["width"] / 28
    for row in range(28):
        dark = np.flatnonzero(image[row] >= INK)
        for run in np.split(dark, np.flatnonzero(np.diff(dark) > 1) + 1):
            if run.size == 0:
                continue
            y = box["y"] + (row + 0.5) * scale
            page.mouse.move(box["x"] + (run[0] + 0.5) * scale, y)
            page.mouse.down()
            page.mouse.move(box["x"] + (run[-1] + 0.5) * scale, y, steps=2)
            page.mouse.up()


def test_drawn_digits_are_recognised(page, model_path):
    for n, (label, image) in enumerate(digits_to_draw(model_path)):
        page.keyboard.press("c")  # clear, as the tutorial's C key
        assert page.locator("#digit").text_content() == "?"
        trace(page, image)
        if n == 0:
            page.click("#predict")
        else:
            page.keyboard.press("Enter")
        page.wait_for_function("document.getElementById('digit').textContent !== '?'")

        assert page.locator("#digit").text_content() == str(label)
        assert page.locator("#bars .bar").count() == 10
        assert page.locator("#layers .layer").count() == 2  # the convnet's two conv layers
        assert page.locator("#layers .layer").nth(1).locator("canvas").count() == 64


def test_predicting_an_empty_pad_asks_for_a_drawing(page):
    page.keyboard.press("c")
    page.click("#predict")
    page.wait_for_function("document.getElementById('status').textContent.includes('Draw')")
    assert page.locator("#digit").text_content() == "?"


def test_escape_stops_the_server(page, server):
    process, _ = server
    page.keyboard.press("Escape")
    page.wait_for_selector("text=Server stopped.")
    assert process.wait(timeout=10) == 0


def test_requests_from_many_threads_at_once_get_the_answers_of_one_at_a_time(own_server):
    """The server answers each request on a thread of its own, all on one model, with no lock:
    eight different drawings at once get exactly the answers (probabilities and feature maps)
    they get one at a time."""
    _, (x_test, _) = common.load_mnist()
    drawings = [np.kron(image, np.ones((10, 10), np.uint8)) for image in x_test[:8]]  # (280, 280)

    def ask(drawing):
        body = {"pixels": base64.b64encode(drawing.tobytes()).decode(), "height": 280, "width": 280}
        url = own_server[1] + "predict"
        request = urllib.request.Request(url, data=json.dumps(body).encode())
        with urllib.request.urlopen(request, timeout=120) as reply:
            return json.loads(reply.read())

    serial = [ask(drawing) for drawing in drawings]
    with ThreadPoolExecutor(len(drawings)) as pool:
        for _ in range(3):
            assert list(pool.map(ask, drawings)) == serial
