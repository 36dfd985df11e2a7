"""mkdocs hook: pull the real source of named functions into the pages, so they cannot drift.

A line of a page written as

    !source scratchnet/layers/core.py::Dense.forward

becomes a Python code block holding that function's source exactly as it is in the file (found
with ``ast``, without importing anything), captioned with the file and the lines. A name that no
longer exists fails the build with the page and the line. ``!source path`` alone pulls the whole
file.

A line ``!include path`` becomes the text of that repository file (a Markdown table written by a
script, for example), so a page and the file it shows cannot disagree.

The API reference (mkdocstrings) reads the docstrings as Google style. scratchnet's docstrings
group related arguments on one entry ("kernel_initializer, bias_initializer: as in Keras"),
which griffe cannot split into single names; that warning alone is dropped (the entry still
shows as text), every other one still fails ``mkdocs build --strict``.
"""

import ast
import logging
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class _GroupedArguments(logging.Filter):
    def filter(self, record):
        return "Failed to get 'name: description' pair" not in record.getMessage()


logging.getLogger("mkdocs.plugins.griffe").addFilter(_GroupedArguments())
DIRECTIVE = re.compile(r"^!(source|include) (\S+?)(?:::(\S+))?\s*$", re.M)


def find(tree, qualname, where):
    """The ast node of ``qualname`` ("Class.method", "function") in ``tree``."""
    node = tree
    for part in qualname.split("."):
        children = [
            child
            for child in ast.iter_child_nodes(node)
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and child.name == part
        ]
        if not children:
            raise ValueError(f"{where}: no {qualname!r} (missing {part!r})")
        node = children[0]
    return node


def source_block(path, qualname, where):
    file = ROOT / path
    if not file.is_file():
        raise ValueError(f"{where}: no file {path}")
    text = file.read_text(encoding="utf-8")
    if qualname is None:
        return f'```python title="{path}"\n{text.rstrip()}\n```'
    node = find(ast.parse(text), qualname, f"{where} ({path})")
    lines = text.splitlines()
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    body = "\n".join(lines[first - 1 : node.end_lineno])
    indent = len(body) - len(body.lstrip(" "))
    body = "\n".join(line[indent:] for line in body.splitlines())
    title = f"{path}, {qualname}, lines {first}-{node.end_lineno}"
    return f'```python title="{title}"\n{body}\n```'


def expand(markdown, where):
    def replace(match):
        kind, path, qualname = match.groups()
        if kind == "include":
            file = ROOT / path
            if not file.is_file():
                raise ValueError(f"{where}: no file {path}")
            return file.read_text(encoding="utf-8").rstrip()
        return source_block(path, qualname, where)

    return DIRECTIVE.sub(replace, markdown)


def on_page_markdown(markdown, page, config, files):
    return expand(markdown, page.file.src_path)
