"""The tape page (``examples/tape``) in a real browser: choose a model, read the drawing off it.

Same mechanism as ``tests/test_drawing_app.py`` (``tests/browser.py``): the system's Chromium,
driven headless by Playwright, on the app served at 127.0.0.1 on a free port. Outside CI a
Chromium that cannot launch skips these tests; in CI (which installs it) that is a failure.
"""

import re

import pytest

from tests.browser import open_page, serve


@pytest.fixture(scope="module")
def server():
    yield from serve("examples.tape.app")


@pytest.fixture(scope="module")
def page(server, tmp_path_factory):
    profile = tmp_path_factory.mktemp("chromium-profile")
    yield from open_page(server[1], profile, default_timeout=120_000)  # a first step compiles


def shown(page, model):
    """Choose ``model`` and wait until its drawing is on the page."""
    page.select_option("#model", model)
    page.wait_for_function(
        f"document.getElementById('status').textContent.includes('step')"
        f" && document.querySelector('#tape svg') !== null"
        f" && document.getElementById('model').value === '{model}'"
    )
    page.wait_for_function("!document.getElementById('status').textContent.includes('...')")


def test_the_two_branch_model_shows_the_summed_gradient(page):
    shown(page, "two_branch")
    titles = page.locator("#tape svg g.box tspan[font-weight='bold']").all_text_contents()
    assert sum(t.endswith("(Conv2D)") for t in titles) == 2, titles
    assert page.locator("#tape g.box.sum").count() == 1
    assert page.locator("#tape g.box.sum").text_content().startswith("+")
    # The '+' box: one arrow in (the image), one out to each convolution, shapes on all three.
    plus = page.locator("#tape g.box.sum").get_attribute("data-index")
    into = page.locator(f"#tape g.edge[data-target='{plus}']")
    out_of = page.locator(f"#tape g.edge[data-source='{plus}']")
    assert into.count() == 1 and out_of.count() == 2
    for edge in [into.nth(0), out_of.nth(0), out_of.nth(1)]:
        assert edge.text_content().startswith("(8, 28, 28, 1)")
        assert re.search(r"\|y\| [\d.]+ +\|dy\| [\d.e-]+", edge.text_content())
    weights = page.locator("#tape g.box.layer", has_text="kernel (5, 5, 1, 32)").text_content()
    assert re.search(r"\|w\| [\d.]+ +\|dw\| [\d.e-]+", weights)
    assert re.search(r"\|dz\|", page.locator("#tape svg").text_content())  # the fused loss


def test_training_a_step_moves_the_loss(page):
    shown(page, "torres")
    before = page.locator("#status").text_content()
    assert "step 0" in before
    page.click("#train")
    page.wait_for_function("document.getElementById('status').textContent.includes('step 1')")
    after = page.locator("#status").text_content()
    loss = [float(re.search(r"loss ([\d.]+)", s).group(1)) for s in (before, after)]
    assert loss[1] < loss[0], (before, after)
    assert page.locator("#tape g.box.sum").count() == 0  # a chain: no tensor is read twice


def test_a_subclassed_model_draws_its_ops_too(page):
    shown(page, "two_branch_subclassed")
    assert page.locator("#tape g.box.sum").count() == 1
    assert page.locator("#tape g.box.layer", has_text="(Cropping2D)").count() == 1


def test_escape_stops_the_server(page, server):
    process, _ = server
    page.keyboard.press("Escape")
    page.wait_for_selector("text=Server stopped.")
    assert process.wait(timeout=10) == 0
