"""Rendering parity results: a console summary, Markdown tables and JSON."""
from __future__ import annotations

import json
from pathlib import Path


def _verdict(ok, known=None):
    return ("KNOWN DIFFERENCE" if known else "PASS") if ok else "FAIL"


def console_lines(result):
    """The lines ``check`` prints for one result: the verdict, the failing rows, where and why."""
    head = f"{result.network:24s} {result.device:16s} {result.dtype}  "
    if result.error:
        lines = [head + f"FAIL  error: {result.error}"]
    else:
        failed = [r for r in result.rows if not r.passed]
        worst = result.worst()
        lines = [head + f"{_verdict(result.passed, result.known_difference)}  {len(result.rows)} checks, "
                 f"worst {worst.check}: {_worst_words(worst)}  {result.seconds:.1f} s"]
        for row in failed[:10]:
            lines.append(f"    FAIL {row.check}: max abs {row.max_abs:.3e}, max rel {row.max_rel:.3e}, "
                         f"tolerance {row.tolerance}")
        if len(failed) > 10:
            lines.append(f"    ... and {len(failed) - 10} more failing checks")
    lines += [f"    {label}: {text}" for label, text in _explanations(result, error=False)]
    return lines


def _worst_words(row) -> str:
    """A row's difference and why it is trusted: a pass on a measured ground says the ground in words (a float32
    row accepted against float64 is within the original's own float32 error, not an alarm)."""
    if row.passed and getattr(row, "ground", ""):
        return f"rel {row.max_rel:.2e}; {row.ground}"
    return f"rel {row.max_rel:.2e} ({row.basis}: {row.tolerance})"


def _explanations(result, error=True) -> list:
    """(label, text) of what a result says beyond its rows: known difference, error, divergence, diagnosis."""
    out = [("known difference of the course", result.known_difference)]
    out += [("error", result.error)] if error else []
    out += [("first divergence", result.first_divergence)]
    out += [("diagnosis", finding) for finding in getattr(result, "diagnosis", [])]
    out += [("skipped probe", f"{check}: {why}") for check, why in getattr(result, "skipped_probes", {}).items()]
    return [(label, text) for label, text in out if text]


def markdown_cell(text) -> str:
    """``text`` as one Markdown table cell (or heading): a ``|`` escaped, a line break written as ``\\n``.
    A user's module may be named ``"a|b"`` or hold a newline (torch accepts both): raw, they split the row or
    end the table."""
    return str(text).replace("|", "\\|").replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")


#: the first line of every Markdown report ``check`` writes (how a file of ours is recognised)
MARKDOWN_TITLE = "# Parity report"


def is_markdown_report(path) -> bool:
    """Is the file at ``path`` a Markdown report of ``check``'s (which a new check may replace)?"""
    try:
        return Path(path).read_text().startswith(MARKDOWN_TITLE)
    except (OSError, ValueError):
        return False


def is_json_report(path) -> bool:
    """Is the file at ``path`` a JSON report of ``check``'s (:func:`to_json`; a new check may replace it)?"""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "results" in data and "cpu numerics" in data


def markdown(results, wall_seconds=None, checked=None):
    """The Markdown report: a summary table, then every row of every result; ``checked``: what was checked
    (:func:`checked_lines`)."""
    out = [f"{MARKDOWN_TITLE}: MXNet Gluon vs the PyTorch port", "", *checked_lines(checked)]
    out += ["| network | device | dtype | checks | worst check | max rel diff | verdict |",
            "|---|---|---|---|---|---|---|"]
    cell = markdown_cell
    for r in results:
        worst = r.worst()
        if worst is None:  # the run failed before any comparison
            out.append(f"| {cell(r.network)} | {r.device} | {r.dtype} | 0 | {cell(r.error)} | - | FAIL |")
        else:
            out.append(f"| {cell(r.network)} | {r.device} | {r.dtype} | {len(r.rows)} | {cell(worst.check)} | "
                       f"{cell(_worst_words(worst)) if worst.passed and worst.ground else f'{worst.max_rel:.2e}'} | "
                       f"{_verdict(r.passed, r.known_difference)} |")
    for r in results:
        out += ["", f"## {cell(r.network)}: {r.device}, {r.dtype}, {r.steps} SGD steps: "
                f"{_verdict(r.passed, r.known_difference)}", ""]
        said = _explanations(r)
        out += [f"- {label}: {cell(text)}" for label, text in said] + ([""] if said else [])
        out += ["| check | max abs diff | max rel diff | trusted because | bound | verdict |",
                "|---|---|---|---|---|---|"]
        out += [f"| {cell(row.check)} | {row.max_abs:.3e} | {row.max_rel:.3e} | {row.basis} | "
                f"{cell(row.ground if row.passed and row.ground else row.tolerance)} | {_verdict(row.passed)} |"
                for row in r.rows]
    from modern_cnns.parity.verdict import layers

    out += layers.markdown_lines(results)
    if wall_seconds is not None:
        out += ["", f"Wall time: {wall_seconds:.1f} s"]
    from modern_cnns.parity.frameworks import cpu_numerics

    out += ["", "CPU numerics: " + ", ".join(f"{k} {v}" for k, v in cpu_numerics().items())]
    return "\n".join(out) + "\n"


def checked_lines(checked) -> list:
    """What a check ran on, as Markdown lines: ``checked`` is the JSON report's ``"checked"`` object (``{"seed",
    "inputs", "gluon params", "accepted"}``, a file as ``{"path", "sha256"}`` or None for the seeded draws)."""
    if not checked:
        return []

    def file(entry, drawn):
        return f"`{markdown_cell(entry['path'])}` (sha256 {entry['sha256']})" if entry else drawn

    return [f"- seed: {checked['seed']}",
            f"- inputs: {file(checked['inputs'], 'drawn from the seed')}",
            f"- Gluon weights: {file(checked['gluon params'], 'Xavier, drawn from the seed')}",
            f"- accepted differences: {', '.join(checked['accepted']) or 'none'}", ""]


def strict(value):
    """``value`` as strict JSON data: numpy scalars become Python ones, NaN and +-Inf become None.

    Each key whose number was not finite gets a ``"<key> note"`` beside it saying which it was,
    so a reader of the report never has to guess what ``null`` meant.
    """
    import math

    import numpy as np

    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if isinstance(item, (float, np.floating)) and not math.isfinite(float(item)):
                out[key], out[f"{key} note"] = None, "not a number" if math.isnan(item) else f"{float(item)}"
            else:
                out[key] = strict(item)
        return out
    if isinstance(value, (list, tuple)):
        return [strict(item) for item in value]
    if isinstance(value, np.generic):
        return strict(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json(results, wall_seconds=None, skipped=None, checked=None):
    """The report as strict JSON (no NaN or Infinity tokens); ``skipped``: why nothing ran, if so; ``checked``:
    what was checked (the seed, the ``--inputs`` and ``--gluon-params`` files with their sha256, the accepted
    differences; see :func:`checked_lines`)."""
    from modern_cnns.parity.frameworks import cpu_numerics

    data = {"results": [r.to_dict() for r in results], "wall_seconds": wall_seconds,
            "passed": all(r.passed for r in results) and skipped is None, "cpu numerics": cpu_numerics()}
    if skipped is not None:
        data["skipped"] = skipped
    if checked is not None:
        data["checked"] = checked
    return json.dumps(strict(data), indent=1, allow_nan=False)
