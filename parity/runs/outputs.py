"""A run's outputs: ``log.json``, ``curves.png`` and ``results.md``, beside the course's recorded numbers.

``log.json`` holds everything the other two are drawn from, so :func:`render` redraws them
from it alone (``python -m parity reproduce --render DIR``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from modern_cnns import data
from modern_cnns.parity.weights.checkpoint import atomic_write

REFERENCE = Path(data.__file__).resolve().parent / "reference" / "course_results.json"


def load_reference(key):
    """The course's recorded numbers for ``key`` in ``data/reference/course_results.json``, or None."""
    if key is None:
        return None
    return json.loads(REFERENCE.read_text())[key]


def first_bn_params(framework, net):
    """gamma and beta of the first BatchNorm layer (gluonbook §5.11.3 prints ``net[1].gamma``), flattened."""
    if framework == "gluon":
        from modern_cnns.parity.weights.state import gluon_slots

        slots = gluon_slots(net)
        names = [n for n in slots if n.endswith(".gamma")]
        if not names:
            return None
        head = names[0][: -len("gamma")]
        return slots[head + "gamma"].read().ravel().tolist(), slots[head + "beta"].read().ravel().tolist()
    from torch import nn

    from modern_cnns.torch_impl import batchnorm, gluon_layers

    for m in net.modules():
        if isinstance(m, (gluon_layers.BatchNorm, nn.modules.batchnorm._BatchNorm)):
            return m.weight.detach().cpu().numpy().ravel().tolist(), m.bias.detach().cpu().numpy().ravel().tolist()
        if isinstance(m, (batchnorm.BatchNorm, batchnorm.BatchNormD2L)):
            return m.gamma.detach().cpu().numpy().ravel().tolist(), m.beta.detach().cpu().numpy().ravel().tolist()
    return None


#: one colour per framework, the course's recorded points in black
COLOURS = {"gluon": "tab:blue", "torch": "tab:red", "course": "black"}
METRICS = (("loss", "loss"), ("train_acc", "train accuracy"), ("test_acc", "test accuracy"))
#: what each torch loop is, for legends and tables
TORCH_LOOPS = {"ch5": "the port of gluonbook's train_ch5", "ch6": "d2l 0.17's train_ch6",
               "d2l1": "d2l 1.0's training loop"}


def framework_label(framework, exp=None) -> str:
    """``"Gluon: gluonbook's train_ch5"``, ``"PyTorch: d2l 0.17's train_ch6"``: who ran, with which loop."""
    if framework == "gluon":
        return "Gluon: gluonbook's train_ch5"
    return "PyTorch: " + (TORCH_LOOPS[exp.loop] if exp is not None else "the port")


def course_device(reference) -> str:
    """Where the course's recorded run ran, read from its source line: ``"CUDA"`` or ``"CPU"``."""
    source = (reference or {}).get("source", "")
    return "CUDA" if "CUDA" in source else "CPU" if "CPU" in source else "?"


def course_label(exp, reference) -> str:
    """The legend entry of the course's points: edition, section, device."""
    return f"the course, {exp.source.cite()} (on {course_device(reference)})"


def course_digits(exp) -> dict:
    """Decimals the course printed: gluonbook's ``train_ch5`` loss ``%.4f``, d2l's ``train_ch6`` ``%.3f``."""
    return {"loss": 4 if exp.loop == "ch5" else 3, "train_acc": 3, "test_acc": 3, "time": 1, "examples_per_sec": 1}


def figure(histories, exp=None, reference=None):
    """Loss, train and test accuracy per epoch side by side: one colour per framework, the course as stars.

    Drawn on a bare ``Figure`` (no ``pyplot``): no global backend to switch, and no display hook,
    which matplotlib 3.8's ``pyplot`` installs through an IPython function IPython 9 no longer has.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    fig = Figure(figsize=(12, 4.2))
    axes = fig.subplots(1, 3, squeeze=False)[0]  # the one row of three (an array whatever the shape)
    ref_epochs = (reference or {}).get("epochs", [])
    last = max([r["epoch"] for h in histories.values() for r in h] + [r["epoch"] for r in ref_epochs] + [1])
    for ax, (key, title) in zip(axes, METRICS):
        for framework, history in histories.items():
            ax.plot([r["epoch"] for r in history], [r[key] for r in history], "-o", ms=4,
                    color=COLOURS.get(framework, "tab:gray"))
        if ref_epochs and exp is not None:
            ax.plot([r["epoch"] for r in ref_epochs], [r[key] for r in ref_epochs], linestyle="none", marker="*",
                    ms=13, color=COLOURS["course"], zorder=1.5)  # beneath our lines, which stay visible
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_xlim(0.5, last + 0.5)
        ax.set_xticks(range(1, last + 1) if last <= 15 else range(1, last + 1, max(1, last // 10)))
        ax.grid(True, alpha=0.4)
    handles = [Line2D([], [], color=COLOURS.get(f, "tab:gray"), marker="o", ms=4) for f in histories]
    labels = [framework_label(f, exp) for f in histories]
    if ref_epochs and exp is not None:
        handles.append(Line2D([], [], linestyle="none", marker="*", ms=13, color=COLOURS["course"]))
        labels.append(course_label(exp, reference))
    fig.legend(handles, labels, loc="lower center", ncol=min(3, len(labels)), fontsize=9, frameon=False)
    if exp is not None:
        fig.suptitle(f"{exp.name}: {exp.source.cite()}", fontsize=11)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


def plot(histories, path, exp=None, reference=None):
    """Draw :func:`figure` to ``path`` (atomically)."""
    fig = figure(histories, exp, reference)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))


def _seconds(records) -> str:
    return ", ".join(f"{r['time']:.0f}" for r in records if r.get("time") is not None)


def overall_examples_per_sec(records):
    """d2l's figure over a whole run: examples over the summed step time (epochs of equal size), or None."""
    speeds = [r["examples_per_sec"] for r in records if r.get("examples_per_sec")]
    if not speeds or len(speeds) != len(records):
        return None
    return len(speeds) / sum(1 / v for v in speeds)


def _cells(record, digits):
    if record is None:
        return ["", "", ""]
    return [f"{record[k]:.{digits[k]}f}" for k in ("loss", "train_acc", "test_acc")]


def markdown(exp, histories, reference, bn, lr, batch_size, seed=0, limit_batches=None, device="cpu"):
    """The run's table beside the course's; ``lr``, ``batch_size``, ... are the values *used*.

    Our numbers are printed as gluonbook's ``train_ch5`` prints them (loss to 4 decimals); the
    course's at the precision it recorded (:func:`course_digits`).
    """
    limit = f", first {limit_batches} batches per epoch" if limit_batches else ""
    lines = [f"# {exp.name}: {exp.source.cite()}", "", f"The course: <{exp.source.url()}>", ""]
    if reference:
        lines += [f"The course's recorded run: {reference['source']}.", ""]
    lines += [f"This run: lr {lr}, batch {batch_size}, resize {exp.resize or 28}, seed {seed}{limit}"
              + ("" if (lr, batch_size) == (exp.lr, exp.batch_size) else
                 f" (the course: lr {exp.lr}, batch {exp.batch_size})") + f", on {device}. "
              + "; ".join(f"{framework_label(f, exp)}" for f in histories) + ".", ""]
    cols = list(histories)
    header = "| epoch | " + " | ".join(f"{f} loss | {f} train acc | {f} test acc" for f in cols)
    ref_rows = {r["epoch"]: r for r in (reference or {}).get("epochs", [])}
    if reference:
        header += " | course loss | course train acc | course test acc"
    lines += [header + " |", "|---" * (1 + 3 * len(cols) + (3 if reference else 0)) + "|"]
    ours, theirs = {"loss": 4, "train_acc": 3, "test_acc": 3}, course_digits(exp)
    epochs = sorted({r["epoch"] for h in histories.values() for r in h} | set(ref_rows))
    by_epoch = {f: {r["epoch"]: r for r in histories[f]} for f in cols}  # linear in the log's length
    for epoch in epochs:
        cells = [str(epoch)]
        for f in cols:
            cells += _cells(by_epoch[f].get(epoch), ours)
        if reference:
            cells += _cells(ref_rows.get(epoch), theirs)
        lines.append("| " + " | ".join(cells) + " |")
    times = [f"{f} {_seconds(histories[f])}" for f in cols if _seconds(histories[f])]
    if reference and _seconds(reference.get("epochs", [])):
        times.append(f"the course {_seconds(reference['epochs'])}")
    if times:
        lines += ["", "Seconds per epoch (training, then the test pass, as the loops time them): "
                  + "; ".join(times) + "."]
    speeds = [f"{f} {v:.1f} on {device}" for f in cols for v in [overall_examples_per_sec(histories[f])] if v]
    course_speed = [r["examples_per_sec"] for r in ref_rows.values() if r.get("examples_per_sec")]
    if course_speed:
        speeds.append(f"the course {course_speed[-1]:.1f} on {course_device(reference)}")
    if speeds:
        lines += ["", "examples/sec, as d2l's `train_ch6` prints it (examples over the time of the training "
                      "steps, all epochs): " + "; ".join(speeds) + "."]
    for framework, params in bn.items():
        if params:
            lines += ["", f"{framework}: first BatchNorm gamma {np.round(params[0], 4).tolist()}",
                      f"{framework}: first BatchNorm beta  {np.round(params[1], 4).tolist()}"]
    if reference and "first_bn_gamma" in reference:
        lines += ["", f"course (gluonbook §5.11.3): gamma {reference['first_bn_gamma']}",
                  f"course (gluonbook §5.11.3): beta  {reference['first_bn_beta']}"]
    return "\n".join(lines) + "\n"


def write_outputs(out: Path, log: dict, exp) -> None:
    """Write ``log.json``, then ``curves.png`` and ``results.md`` drawn from it."""
    from modern_cnns.parity.runs import strictjson

    text = strictjson.dumps(log, indent=1)  # strict JSON: a diverged run's NaN is null, with a note
    atomic_write(out / "log.json", lambda tmp: Path(tmp).write_text(text))
    _draw(out, log, exp)
    print(f"wrote {out / 'log.json'}, {out / 'curves.png'}, {out / 'results.md'}")


def _damaged_log(path, why):
    from modern_cnns.parity.runs.runfolder import RunFileError

    return RunFileError(f"{path}: damaged run log: {why}; a finished run writes it (run it again, or restore the file)")


#: the numbers of each epoch's record
NUMBERS = ("loss", "train_acc", "test_acc")


def _checked_log(log_path: Path) -> dict:
    """``log.json``, each field :func:`_draw` reads checked for its type: an error line, not a traceback."""
    from numbers import Real

    from modern_cnns.parity.catalog import experiments
    from modern_cnns.parity.runs import strictjson

    try:
        log = strictjson.loads(log_path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise _damaged_log(log_path, f"not JSON ({err})") from None
    if not isinstance(log, dict):
        raise _damaged_log(log_path, f"a JSON object was expected, found {type(log).__name__}")
    missing = [k for k in ("experiment", "history", "lr", "batch_size", "seed") if k not in log]
    if missing:
        raise _damaged_log(log_path, "no " + ", ".join(missing))
    if not isinstance(log["experiment"], str) or log["experiment"] not in experiments.EXPERIMENTS:
        raise _damaged_log(log_path, f"unknown experiment {log['experiment']!r}")
    history = log["history"]
    if not isinstance(history, dict) or not history or not set(history) <= {"gluon", "torch"}:
        raise _damaged_log(log_path, "history must map 'gluon' and/or 'torch' to their epochs")
    def records_ok(records):
        def number(x):
            return isinstance(x, Real) and not isinstance(x, bool)

        return isinstance(records, list) and all(
            isinstance(r, dict) and type(r.get("epoch")) is int and all(number(r.get(k)) for k in NUMBERS)
            and (r.get("time") is None or number(r["time"])) for r in records)

    for fw, records in history.items():
        if not records_ok(records):
            raise _damaged_log(log_path, f"history[{fw!r}]: each epoch needs an integer epoch and numbers for "
                               + ", ".join(NUMBERS))
    for key in ("lr", "batch_size", "seed"):
        if not isinstance(log[key], Real) or isinstance(log[key], bool):
            raise _damaged_log(log_path, f"{key} {log[key]!r} is not a number")
    if log.get("limit_batches") is not None and type(log["limit_batches"]) is not int:
        raise _damaged_log(log_path, f"limit_batches {log['limit_batches']!r} is not an integer")
    reference, bn = log.get("reference"), log.get("first_bn") or {}
    if reference is not None and not (isinstance(reference, dict) and records_ok(reference.get("epochs", []))):
        raise _damaged_log(log_path, "reference is not the course's record")
    if not isinstance(bn, dict) or not all(p is None or (isinstance(p, list) and len(p) == 2 and all(
            isinstance(v, list) and all(isinstance(x, Real) for x in v) for v in p)) for p in bn.values()):
        raise _damaged_log(log_path, "first_bn must map each framework to [gamma, beta] lists of numbers, or null")
    return {**log, "reference": reference, "first_bn": bn, "limit_batches": log.get("limit_batches")}


def render(out: Path) -> None:
    """Redraw ``curves.png`` and ``results.md`` of the run in ``out`` from its ``log.json``."""
    from modern_cnns.parity.catalog import experiments
    from modern_cnns.parity.paths import can_create_in
    from modern_cnns.parity.runs.runfolder import RunFolderError

    out = Path(out)
    log_path = out / "log.json"
    if not log_path.is_file():
        raise RunFolderError(f"{log_path}: no such file; --render redraws a finished run, which writes it")
    log = _checked_log(log_path)
    from modern_cnns.parity.runs.runfolder import owned_files, read_manifest

    if read_manifest(out) is None:
        raise RunFolderError(f"{out} holds no run.json: it is not a run folder this tool wrote, and --render replaces "
                             "its curves.png and results.md only there; render a run folder (or a copy of one)")
    owned = {str(p) for p in owned_files(out)}
    theirs = [n for n in ("curves.png", "results.md") if os.path.lexists(out / n) and n not in owned]
    if theirs:
        raise RunFolderError(f"{out} holds {', '.join(theirs)}, which this tool did not write (its run.json does not "
                             "list them, or they are a folder or a link): --render never replaces a file it did not "
                             "write; move them away")
    if not can_create_in(out):
        raise RunFolderError(f"{out} is not writable: --render writes curves.png and results.md there; copy the run "
                             "folder somewhere writable and render the copy")
    _draw(out, log, experiments.get(log["experiment"]))
    print(f"redrew {out / 'curves.png'}, {out / 'results.md'} from {log_path}")


def _draw(out: Path, log: dict, exp) -> None:
    plot(log["history"], out / "curves.png", exp, log["reference"])
    table = markdown(exp, log["history"], log["reference"], log["first_bn"], log["lr"], log["batch_size"],
                     log["seed"], log["limit_batches"], log.get("device", "cpu"))
    atomic_write(out / "results.md", lambda tmp: Path(tmp).write_text(table))
