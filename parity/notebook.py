"""What the course notebooks (``notebooks/``) call: code side by side, recorded outputs, quick runs, checks.

Each notebook follows one section of the course: the course's cell (or its Gluon twin) beside
the port's, the course's recorded output beside ours, a short training run of the section's
experiment and the parity check of its networks.  How long they take is set by
``NB_BATCHES`` (training batches per framework; CI runs them with 2) read in each
notebook's first cell.
"""
from __future__ import annotations

import html
import inspect
import json
import os
import tempfile
from pathlib import Path

from modern_cnns import data

REFERENCE = Path(data.__file__).resolve().parent / "reference"


def batches(default: int = 20) -> int:
    """``NB_BATCHES`` from the environment: the number of training batches a notebook runs."""
    value = os.environ.get("NB_BATCHES", str(default))
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"NB_BATCHES must be a positive integer, not {value!r}")
    return int(value)


def _show(markup: str, text: str):
    """Display ``markup`` as HTML in a notebook, ``text`` elsewhere (a script, a console)."""
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
    except ImportError:
        print(text)
        return
    if get_ipython() is None:
        print(text)
    else:
        display(HTML(markup))


def columns(texts: dict):
    """Show ``{title: text}`` as columns of preformatted text, side by side."""
    cells = "".join(f"<td style='vertical-align:top;text-align:left'><b>{html.escape(t)}</b>"
                    f"<pre style='font-size:11px'>{html.escape(s)}</pre></td>" for t, s in texts.items())
    _show(f"<table><tr>{cells}</tr></table>", "\n".join(f"--- {t}\n{s}" for t, s in texts.items()))


def code(pieces: dict):
    """Show ``{title: object or string}`` as columns of code: an object's source, a string as it is."""
    columns({title: obj if isinstance(obj, str) else inspect.getsource(obj) for title, obj in pieces.items()})


def side_by_side(left, right, left_title: str = "the course (Gluon)", right_title: str = "the port (PyTorch)"):
    """Show two pieces of code in two columns (:func:`code`)."""
    code({left_title: left, right_title: right})


def summaries(network: str, recorded_file: str | None = None):
    """Layer output shapes of registry ``network`` in both frameworks, beside the course's printout if stored."""
    from modern_cnns.parity.catalog import registry, summary

    entry = registry.get(network)
    texts = {"Gluon": "\n".join(summary.gluon_summary(entry)), "the port": "\n".join(summary.torch_summary(entry))}
    if recorded_file:
        texts["the course, as recorded"] = recorded(recorded_file)
    columns(texts)


def recorded(name: str) -> str:
    """A recorded output of the course, verbatim, from ``data/reference/`` (a text file's content)."""
    return (REFERENCE / name).read_text()


def course_results(key: str) -> dict:
    """The course's recorded training numbers for ``key`` (``data/reference/course_results.json``)."""
    return json.loads((REFERENCE / "course_results.json").read_text())[key]


def course_shapes(key: str) -> dict:
    """The course's recorded example shapes for ``key`` (``data/reference/course_shapes.json``)."""
    return json.loads((REFERENCE / "course_shapes.json").read_text())[key]


def train_briefly(experiment: str, n_batches: int, framework: str = "both", **overrides) -> dict:
    """One epoch of ``experiment`` on its first ``n_batches`` batches, both frameworks one after the other.

    Writes the run's ``results.md`` and ``curves.png`` into a temporary folder, shows the table
    (beside the course's numbers where it recorded any) and returns the run's log.  Numbers
    after a few batches are not the course's numbers after epochs: the table says how far each
    framework got, the course's columns what a whole run reached.
    """
    import contextlib
    import io

    from modern_cnns.parity.runs.reproduce import reproduce

    printed = io.StringIO()
    with tempfile.TemporaryDirectory(prefix=f"nb-{experiment}-") as tmp:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(io.StringIO()):  # no progress bars
            log = reproduce(experiment, framework=framework, epochs=1, limit_batches=n_batches,
                            out=Path(tmp) / "run", concurrent=False, **overrides)
        table = (Path(tmp) / "run" / "results.md").read_text()
    print("\n".join(line for line in printed.getvalue().splitlines()  # the loops' own lines, not the BN dumps
                    if line.startswith(("==", "training on", "epoch", "loss")) or "examples/sec" in line))
    try:
        from IPython.display import Markdown, display

        display(Markdown(table))
    except ImportError:
        print(table)
    return log


def parity(names, dtypes=("float64",), steps=1):
    """The parity check of registry networks ``names`` (both frameworks, same weights); print its lines."""
    from modern_cnns.parity.catalog import registry
    from modern_cnns.parity.frameworks import ensure_threads
    from modern_cnns.parity.verdict.check import check_network
    from modern_cnns.parity.verdict.report import console_lines

    ensure_threads()
    results = []
    for name in names:
        for result in check_network(registry.get(name), dtypes=tuple(dtypes), steps=steps):
            results.append(result)
            print("\n".join(console_lines(result)))
    return results
