"""A run's outputs: ``log.json``, ``curves.png`` and ``results.md``, beside the course's recorded numbers.

``log.json`` holds everything the other two are drawn from, so :func:`render` redraws them
from it alone (``python -m parity reproduce --render DIR``).
"""
from __future__ import annotations

import json
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
    axes = fig.subplots(1, 3)
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
    for epoch in epochs:
        cells = [str(epoch)]
        for f in cols:
            cells += _cells(next((r for r in histories[f] if r["epoch"] == epoch), None), ours)
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
    atomic_write(out / "log.json", lambda tmp: Path(tmp).write_text(json.dumps(log, indent=1)))
    _draw(out, log, exp)
    print(f"wrote {out / 'log.json'}, {out / 'curves.png'}, {out / 'results.md'}")


def render(out: Path) -> None:
    """Redraw ``curves.png`` and ``results.md`` of the run in ``out`` from its ``log.json``."""
    from modern_cnns.parity.catalog import experiments
    from modern_cnns.parity.runs.runfolder import RunFolderError

    log_path = Path(out) / "log.json"
    try:
        log = json.loads(log_path.read_text())
    except (OSError, ValueError) as err:
        raise RunFolderError(f"{log_path}: cannot read the run's log ({err}); a finished run writes it") from None
    _draw(Path(out), log, experiments.get(log["experiment"]))
    print(f"redrew {Path(out) / 'curves.png'}, {Path(out) / 'results.md'} from {log_path}")


def _draw(out: Path, log: dict, exp) -> None:
    plot(log["history"], out / "curves.png", exp, log["reference"])
    table = markdown(exp, log["history"], log["reference"], log["first_bn"], log["lr"], log["batch_size"],
                     log["seed"], log["limit_batches"], log.get("device", "cpu"))
    atomic_write(out / "results.md", lambda tmp: Path(tmp).write_text(table))
