"""The docs site builds, its code runs, and its parity table is the report's.

* ``mkdocs build --strict`` into a temporary folder: a broken link, a missing page, a
  ``!source`` line naming a function that no longer exists (docs/hooks.py) or a docstring the
  API reference cannot read fails the build.
* Every ```python block of every page under docs/ runs, the blocks of one page in order in one
  namespace (a page reads as one program), from the repository root.
* docs/parity_table.md, included in the "Proven equal to Keras" page, is checked against a
  fresh run of ``parity_tests.report``: the same rows, and every number within a factor of ten
  of the fresh one above float rounding.
"""

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.M | re.S)


def test_the_site_builds_strictly(tmp_path):
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", PYTHONPATH=str(ROOT))
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] += os.pathsep + os.environ["PYTHONPATH"]
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    conv = (tmp_path / "site" / "learn" / "convolution" / "index.html").read_text()
    assert "conv2d_forward_reference" in conv  # the source was pulled in
    assert "!source" not in conv


def test_every_page_with_code_has_its_blocks_found():
    pages = [p for p in PAGES if BLOCK.search((DOCS / p).read_text(encoding="utf-8"))]
    assert "index.md" in pages and "tape.md" in pages and len(pages) >= 8


@pytest.mark.parametrize("page", PAGES)
def test_python_blocks_run(page, monkeypatch):
    blocks = BLOCK.findall((DOCS / page).read_text(encoding="utf-8"))
    monkeypatch.chdir(ROOT)
    namespace = {"__name__": f"docs:{page}"}
    for i, code in enumerate(blocks, 1):
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(code, f"docs/{page}, python block {i}", "exec"), namespace)


def _cells(text):
    """{(case, dtype): [numbers or None]} from a parity table in Markdown."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 6 or cells[0] in ("case", "---") or cells[0].startswith("-"):
            continue
        rows[(cells[0], cells[1])] = [None if c == "-" else float(c) for c in cells[2:]]
    return rows


def test_the_parity_table_is_up_to_date():
    from parity_tests import report

    stored = _cells((DOCS / "parity_table.md").read_text(encoding="utf-8"))
    fresh = _cells(report.table())
    assert list(stored) == list(fresh), (
        "docs/parity_table.md lists other cases than parity_tests.report: regenerate it with "
        "python -m parity_tests.report --markdown docs/parity_table.md"
    )
    for key, numbers in fresh.items():
        floor = 1e-15 if key[1] == "float64" else 1e-6  # differences below this are rounding
        for new, old in zip(numbers, stored[key]):
            assert (new is None) == (old is None), key
            if new is not None:
                high, low = max(new, old), max(min(new, old), floor)
                assert high <= 10 * low, (
                    f"{key}: the table says {old:.1e}, the report now gives {new:.1e}: "
                    "regenerate docs/parity_table.md (python -m parity_tests.report --markdown "
                    "docs/parity_table.md)"
                )
