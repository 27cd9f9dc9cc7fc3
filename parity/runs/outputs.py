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


def plot(histories, path):
    """Draw loss, train and test accuracy per epoch, both frameworks overlaid, to ``path`` (atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    styles = {"gluon": "-", "torch": "--"}
    for framework, history in histories.items():
        epochs = [r["epoch"] for r in history]
        for key, color in (("loss", "C0"), ("train_acc", "C1"), ("test_acc", "C2")):
            ax.plot(epochs, [r[key] for r in history], styles[framework], color=color, marker="o",
                    label=f"{framework} {key.replace('_', ' ')}")
    ax.set_xlabel("epoch")
    ax.grid(True)
    ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)


def _seconds(records) -> str:
    return ", ".join(f"{r['time']:.0f}" for r in records if r.get("time") is not None)


def markdown(exp, histories, reference, bn, lr, batch_size, seed=0, limit_batches=None):
    """The run's table beside the course's; ``lr``, ``batch_size``, ... are the values *used*."""
    limit = f", first {limit_batches} batches per epoch" if limit_batches else ""
    lines = [f"# {exp.name}: {exp.source.cite()}", "", f"The course: <{exp.source.url()}>", "",
             f"lr {lr}, batch {batch_size}, resize {exp.resize or 28}, seed {seed}{limit}"
             + ("" if (lr, batch_size) == (exp.lr, exp.batch_size) else
                f" (the course: lr {exp.lr}, batch {exp.batch_size})"), ""]
    cols = list(histories)
    header = "| epoch | " + " | ".join(f"{f} loss | {f} train acc | {f} test acc" for f in cols)
    ref_rows = {r["epoch"]: r for r in (reference or {}).get("epochs", [])}
    if reference:
        header += " | course loss | course train acc | course test acc"
    lines += [header + " |", "|---" * (1 + 3 * len(cols) + (3 if reference else 0)) + "|"]
    epochs = sorted({r["epoch"] for h in histories.values() for r in h} | set(ref_rows))
    for epoch in epochs:
        cells = [str(epoch)]
        for f in cols:
            r = next((r for r in histories[f] if r["epoch"] == epoch), None)
            cells += [f"{r['loss']:.4f}", f"{r['train_acc']:.3f}", f"{r['test_acc']:.3f}"] if r else ["", "", ""]
        if reference:
            r = ref_rows.get(epoch)
            cells += [f"{r['loss']:.4f}", f"{r['train_acc']:.3f}", f"{r['test_acc']:.3f}"] if r else ["", "", ""]
        lines.append("| " + " | ".join(cells) + " |")
    times = [f"{f} {_seconds(histories[f])}" for f in cols if _seconds(histories[f])]
    if reference and _seconds(reference.get("epochs", [])):
        times.append(f"the course {_seconds(reference['epochs'])}")
    if times:
        how = "as `train_ch5` prints them: training, then the test pass" if exp.loop == "ch5" else "wall time"
        lines += ["", f"Seconds per epoch ({how}): " + "; ".join(times) + "."]
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
    plot(log["history"], out / "curves.png")
    table = markdown(exp, log["history"], log["reference"], log["first_bn"], log["lr"], log["batch_size"],
                     log["seed"], log["limit_batches"])
    atomic_write(out / "results.md", lambda tmp: Path(tmp).write_text(table))
