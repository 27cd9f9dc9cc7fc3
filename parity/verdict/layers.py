"""The per-layer report: both trees' layers in execution order, each with how far the port's output is
from the original's, beside the original's own float32 error there.

Both trees already run the probe's first batch once in prediction mode with hooks on their layers
(:func:`parity.verdict.structure.capture_pair`, for the structural diff); that pass keeps the outputs, and
each layer is measured here, then its outputs are dropped (only the Gluon float64 outputs stay
until the float32 run has been measured against them).  The layers are paired by
:func:`parity.verdict.structure.align`, the same alignment the first divergence walks
(:mod:`parity.verdict.localise`): this report is the view that lets a person check it.

A row per layer of either tree (:func:`table`), in execution order:

* ``torch`` / ``gluon``: the layer's name in each tree (None where one tree alone runs it);
* ``kind``; ``torch shape`` / ``gluon shape``: its output shape, batch first;
* ``pairing``: ``aligned``, ``torch only`` or ``gluon only``; a layer one tree alone runs is
  compared nowhere by itself: ``folded into`` names the next aligned layer, whose output carries
  its effect (or ``the output``);
* ``rel``: ``{dtype: max relative difference}`` of the port's output from the original's,
  ``max|t - g| / max|g|`` (:func:`parity.verdict.compare.diff`), None where nothing is compared
  (one tree's layer, different shapes, an output not exposed: a Gluon conv's ``activation=``);
* ``original float32 error``: the Gluon original's float32 output against its own float64 output
  on the same input: the rounding float32 itself makes there.  A float32 ``rel`` near it is
  float32 doing what float32 does; a ``rel`` far above it (or any float64 ``rel`` above ~1e-12)
  is the port computing something else.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from modern_cnns.parity.verdict.compare import diff
from modern_cnns.parity.verdict.structure import align

#: what every report says of the rows: the mode and the input, and how a row reads
HEADER = ("prediction mode (Gluon outside autograd.record(), torch in eval()), on the probe's first batch; "
          "rel: max|port - original| / max|original| of the layer's output, per dtype; original f32 err: the Gluon "
          "original's own float32 output against its float64 output there (float32 rounding alone)")


@dataclass
class Measured:
    """One dtype's layers as measured: the aligned pairs (outputs dropped) and the numbers."""

    dtype: str
    pairs: list                                  #: [(gluon index | None, torch index | None)]
    g_layers: list
    t_layers: list
    rel: dict = field(default_factory=dict)      #: {(gi, ti): max rel} of the aligned, comparable pairs
    own_error: dict = field(default_factory=dict)  #: {gi: the original's float32 error} (float32 only)
    gluon_outputs: dict = field(default_factory=dict)  #: {gi: output}, float64 only, until float32 is measured


def measure(dtype: str, layers, reference: Measured | None = None) -> Measured | None:
    """Measure one dtype's captured ``layers`` (``(gluon Layers, torch Layers)`` with outputs, or None).

    ``reference``: the float64 :class:`Measured` (its Gluon outputs give the original's float32
    error); it releases them once used.  The outputs of ``layers`` are dropped here.
    """
    if layers is None:
        return None
    g_layers, t_layers = layers
    try:
        return _measure(dtype, g_layers, t_layers, reference)
    finally:  # the outputs of a whole tree: never carried past this point, whatever happened
        for layer in (*g_layers, *t_layers):
            layer.output = None


def _measure(dtype, g_layers, t_layers, reference) -> Measured:
    g_index = {id(layer): i for i, layer in enumerate(g_layers)}
    t_index = {id(layer): i for i, layer in enumerate(t_layers)}
    pairs = [(g_index[id(g)] if g is not None else None, t_index[id(t)] if t is not None else None)
             for g, t in align(g_layers, t_layers)]
    out = Measured(dtype, pairs, g_layers, t_layers)
    for gi, ti in pairs:
        g = g_layers[gi] if gi is not None else None
        t = t_layers[ti] if ti is not None else None
        if g is not None and t is not None and g.output is not None and t.output is not None \
                and g.out_shape == t.out_shape:
            out.rel[(gi, ti)] = diff("", t.output, g.output).max_rel
    if reference is not None and dtype == "float32":
        for gi, layer in enumerate(g_layers):
            ref = reference.gluon_outputs.get(gi)
            same = gi < len(reference.g_layers) and reference.g_layers[gi].name == layer.name
            if same and layer.output is not None and ref is not None and ref.shape == layer.output.shape:
                out.own_error[gi] = diff("", layer.output, ref).max_rel
        reference.gluon_outputs = {}
    if dtype == "float64":
        out.gluon_outputs = {i: layer.output for i, layer in enumerate(g_layers) if layer.output is not None}
    return out


def _layers_at(measured: Measured, gi, ti):
    g = measured.g_layers[gi] if gi is not None else None
    t = measured.t_layers[ti] if ti is not None else None
    return g, t


def table(measured: dict) -> list:
    """The rows (see the module docstring) from ``{dtype: Measured | None}``; [] when nothing was measured.

    The rows follow the float64 alignment (float64 always runs when float32 does); the other
    dtype's numbers join by the two layers' places in their trees, which do not depend on the dtype.
    """
    runs = {dtype: m for dtype, m in measured.items() if m is not None}
    if not runs:
        return []
    base = runs.get("float64") or next(iter(runs.values()))
    rows = []
    for k, (gi, ti) in enumerate(base.pairs):
        g, t = _layers_at(base, gi, ti)
        layer = t if t is not None else g
        assert layer is not None, "align never pairs None with None"
        pairing = "aligned" if g is not None and t is not None else "torch only" if t is not None else "gluon only"
        row = {"torch": t.name if t is not None else None, "gluon": g.name if g is not None else None,
               "kind": layer.kind if g is None or t is None or g.kind == t.kind else f"{t.kind} (gluon {g.kind})",
               "torch shape": list(t.out_shape) if t is not None else None,
               "gluon shape": list(g.out_shape) if g is not None else None,
               "pairing": pairing, "folded into": None if pairing == "aligned" else _next_aligned(base, k),
               "rel": {dtype: m.rel.get((gi, ti)) for dtype, m in runs.items()},
               "original float32 error": runs["float32"].own_error.get(gi) if "float32" in runs and gi is not None
               else None}
        rows.append(row)
    return rows


def _next_aligned(measured: Measured, k: int) -> str:
    for gi, ti in measured.pairs[k + 1:]:
        if gi is not None and ti is not None:
            return measured.t_layers[ti].name
    return "the output"


# --------------------------------------------------------------------------- rendering
def _shape(row) -> str:
    def per_sample(shape):  # batch first: the rest is one sample's
        if shape is None:
            return "-"
        return "x".join(map(str, shape[1:])) or "-"
    t, g = row["torch shape"], row["gluon shape"]
    if t is None or g is None or t == g:
        return per_sample(t if t is not None else g)
    return f"{per_sample(t)} (gluon {per_sample(g)})"


def _number(value) -> str:
    return "-" if value is None else f"{value:.1e}"


def _name(row) -> str:
    if row["torch"] is None:
        return f"(gluon {row['gluon']})"
    if row["gluon"] is None:
        return row["torch"]
    return f"{row['torch']} (gluon {row['gluon']})"


def _pairing(row) -> str:
    return row["pairing"] if row["folded into"] is None else f"{row['pairing']}, folded into {row['folded into']}"


def _cells(rows) -> tuple:
    """(column titles, [cells per row]) shared by the console and the Markdown table."""
    dtypes = [d for d in ("float64", "float32") if any(d in row["rel"] for row in rows)]
    own = "float32" in dtypes  # without a float32 run there is no float32 error to show
    titles = ["#", "layer: torch (gluon)", "kind", "output shape", "pairing", *[f"rel {d}" for d in dtypes],
              *["original f32 err"][:own]]
    cells = [[str(i + 1), _name(row), row["kind"], _shape(row), _pairing(row),
              *[_number(row["rel"].get(d)) for d in dtypes], *[_number(row["original float32 error"])][:own]]
             for i, row in enumerate(rows)]
    return titles, cells


def _batch(rows) -> str:
    shape = next((row["torch shape"] or row["gluon shape"] for row in rows), None)
    return f" (the batch holds {shape[0]})" if shape else ""


def _networks(results) -> list:
    """``[(network, rows)]``, one per network (its results share one table), in order."""
    seen = {}
    for result in results:
        if getattr(result, "layers", None) and result.network not in seen:
            seen[result.network] = result.layers
    return list(seen.items())


def probe_note(results, network) -> str | None:
    """What the table of ``network`` cannot show when only a probe fails: the table is measured on the plain
    inputs, where the port agrees layer by layer, so every row reads as agreement while the check fails."""
    from modern_cnns.parity.verdict import probes

    failing = []
    for result in results:
        probe = probes.failing(result.rows) if result.network == network else None
        if probe is not None and all(r.check.probe is not None for r in result.rows if not r.passed):
            failing.append(f"{probe.check} ({result.dtype}"
                           + (f"; first divergence: {result.first_divergence})" if result.first_divergence else ")"))
    if not failing:
        return None
    return ("the plain inputs agree layer by layer (the table below); the failure is the probe's: "
            + "; ".join(failing))


def console_lines(results) -> list:
    """The ``check --layers`` table of each network among ``results``: every row, in columns."""
    out = []
    for network, rows in _networks(results):
        titles, cells = _cells(rows)
        widths = [max(len(c[i]) for c in [titles, *cells]) for i in range(len(titles))]
        note = probe_note(results, network)
        out += [f"layers of {network}: {HEADER}; shapes per sample{_batch(rows)}", *([f"    {note}"] if note else []),
                "    " + "  ".join(t.ljust(w) for t, w in zip(titles, widths)).rstrip()]
        out += ["    " + "  ".join(c.ljust(w) for c, w in zip(cell, widths)).rstrip() for cell in cells]
    return out


def markdown_lines(results) -> list:
    """A ``## Layers`` section per network, for the Markdown report."""
    from modern_cnns.parity.verdict.report import markdown_cell

    out = []
    for network, rows in _networks(results):
        titles, cells = _cells(rows)
        note = probe_note(results, network)
        out += ["", f"## Layers of {markdown_cell(network)}", "",
                f"{HEADER[0].upper()}{HEADER[1:]}; shapes per sample{_batch(rows)}.",
                *(["", f"**{markdown_cell(note[:1].upper() + note[1:])}.**"] if note else []), "",
                "| " + " | ".join(titles) + " |", "|" + "---|" * len(titles)]
        out += ["| " + " | ".join(markdown_cell(c) for c in cell) + " |" for cell in cells]
    return out


# --------------------------------------------------------------------------- the figure
#: the key of the PNG text chunk that marks a figure this tool drew (and may therefore replace)
PNG_MARK = "parity-layers"
#: where a difference of exactly 0 is drawn on the log axis
ZERO_AT = 1e-18


def figure(results):
    """Per-layer relative difference on a log scale, one panel per network: each dtype's points and
    the original's own float32 error as a reference line.  A bare ``Figure`` (Agg), as
    :func:`parity.runs.outputs.figure` draws."""
    from matplotlib.figure import Figure

    networks = _networks(results)
    fig = Figure(figsize=(11, 3.6 * max(1, len(networks))))
    axes = fig.subplots(max(1, len(networks)), 1, squeeze=False)[:, 0]
    for ax, (network, rows) in zip(axes, networks):
        x = list(range(1, len(rows) + 1))
        for dtype, marker in (("float64", "o"), ("float32", "s")):
            points = [(i, row["rel"].get(dtype)) for i, row in zip(x, rows) if row["rel"].get(dtype) is not None]
            if points:
                ax.plot([p[0] for p in points], [max(p[1], ZERO_AT) for p in points], marker, ms=5,
                        label=f"port vs original, {dtype}", alpha=0.8)
        own = [(i, row["original float32 error"]) for i, row in zip(x, rows)
               if row["original float32 error"] is not None]
        if own:
            ax.step([p[0] for p in own], [max(p[1], ZERO_AT) for p in own], "--", where="mid", color="black",
                    label="the original's own float32 error")
        ax.set_yscale("log")
        ax.set_title(f"{network}: per-layer max relative difference (prediction mode, probe's first batch)",
                     fontsize=10)
        ax.set_ylabel(f"max rel diff (0 drawn at {ZERO_AT:.0e})")
        ax.set_xlabel("layer, in execution order (the report's # column)")
        if len(rows) <= 40:
            ax.set_xticks(x)
            names = [row['torch'] or f"(gluon {row['gluon']})" for row in rows]
            # a line break in a module's name would split its label (and a carriage return has no glyph)
            ax.set_xticklabels([f"{i}: {''.join(c if c.isprintable() else repr(c)[1:-1] for c in n)}"
                                for i, n in zip(x, names)],
                               rotation=90, fontsize=7)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def write_png(results, path) -> bool:
    """Draw :func:`figure` to ``path`` atomically, marked as this tool's; False when no network has rows."""
    from modern_cnns.parity.weights.checkpoint import atomic_write

    if not _networks(results):
        return False
    fig = figure(results)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=90,
                                               metadata={PNG_MARK: "python -m parity check: per-layer report"}))
    return True


def drawn_here(path) -> bool:
    """Whether the PNG at ``path`` is one :func:`write_png` drew (its text chunk says so)."""
    try:
        from PIL import Image

        with Image.open(path) as image:
            return image.format == "PNG" and PNG_MARK in getattr(image, "text", {})
    except Exception:  # not an image, unreadable: not ours
        return False


def png_beside(report_path) -> str:
    """The figure's path beside a report: ``reports/parity.md`` -> ``reports/parity.layers.png``."""
    from pathlib import Path

    path = Path(report_path)
    return str(path.with_name(path.stem + ".layers.png") if path.suffix else path.with_name(path.name + ".layers.png"))


class NoFigureHere(Exception):
    """The figure's derived path cannot be written (the reports can): the check goes on without it."""


def png_path(markdown_path, json_path, explicit=None) -> str | None:
    """Where the figure goes: ``explicit`` (``--layers-png``), else beside the Markdown report, else beside
    the JSON one; None when no report is written.

    Named or derived, an existing file there that this tool did not draw is refused
    (``OutputPathError``, exit 2, before any check runs), never replaced: a PNG written over a
    user's ``.npy`` or notes is lost data.  A derived path that cannot be written at all (a legal
    report name whose ``.layers.png`` sibling is too long) is :class:`NoFigureHere`, which costs
    the figure, not the check.
    """
    from modern_cnns.parity.paths import OutputPathError, check_output_file

    if explicit:
        if _not_ours(explicit):
            raise OutputPathError(f"{explicit} exists and this tool did not draw it{_link(explicit)}: --layers-png "
                                  "never replaces a file it did not write; move it away, or name another file")
        return explicit
    report = markdown_path or json_path
    if not report:
        return None
    path = png_beside(report)
    if _not_ours(path):  # first: a link that dangles or loops is the user's as much as a file is
        raise OutputPathError(f"{path} exists and this tool did not draw it{_link(path)}: the per-layer figure goes "
                              "beside the report and never replaces a file it did not write; move it away, or name "
                              "another file with --layers-png FILE")
    try:
        check_output_file(path)
    except OutputPathError as err:
        raise NoFigureHere(str(err)) from None
    return path


def _not_ours(path) -> bool:
    """Whether something exists at ``path`` that :func:`write_png` did not write: anything but its own PNG, and
    every symbolic link (it writes files, never links, whether the link dangles, loops or points at its PNG)."""
    return os.path.lexists(path) and (os.path.islink(path) or not drawn_here(path))


def _link(path) -> str:
    return " (a symbolic link)" if os.path.islink(path) else ""


__all__ = ["HEADER", "Measured", "measure", "table", "console_lines", "markdown_lines", "figure", "write_png",
           "drawn_here", "png_beside", "png_path", "NoFigureHere"]
