"""``python -m parity reproduce``: the course's training runs, in Gluon, in the port, or both.

Per framework: the course's loop (``train_ch5``, or d2l's ``train_ch6`` for the
PyTorch edition's runs), the course-format epoch lines, a tqdm bar per epoch,
and after every epoch an atomic checkpoint (model, optimiser, data-shuffling
state, history) from which ``--resume`` continues to exactly where an
uninterrupted run ends: RNGs are reseeded per epoch from ``(seed, epoch)``.
At the end: ``log.json``, ``curves.png`` (loss, train and test accuracy per
epoch, both frameworks overlaid, as d2l's Animator draws them), ``results.md``
(beside the course's recorded numbers) and the learned gamma/beta of the first
BatchNorm layer, as seed 004 prints them.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from parity import experiments, registry
from parity.checkpoint import atomic_write
from parity.runfolder import drop_replaced

REFERENCE = Path(__file__).resolve().parent.parent / "data" / "reference" / "course_results.json"


def load_reference(key):
    if key is None:
        return None
    return json.loads(REFERENCE.read_text())[key]


class Limited:
    """The first ``n`` batches of a loader (``--limit-batches``), for quick runs and tests."""

    def __init__(self, loader, n):
        self.loader, self.n = loader, n

    def __len__(self):
        return min(len(self.loader), self.n)

    def __iter__(self):
        for i, batch in enumerate(self.loader):
            if i >= self.n:
                break
            yield batch


def _progress(name):
    from tqdm import tqdm

    def wrap(loader, epoch):
        return tqdm(loader, desc=f"{name} epoch {epoch + 1}", total=len(loader), leave=False, file=sys.stderr)

    return wrap


def _epoch_seed(seed, epoch):
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


class Checkpoints:
    """``DIR/checkpoint.json`` names the files of the last finished epoch; it is written last."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.meta = self.dir / "checkpoint.json"

    def exists(self):
        return self.meta.is_file()

    def load_meta(self):
        return json.loads(self.meta.read_text())

    def save(self, epoch, write_model, write_optimizer, data_state, history, suffix):
        self.dir.mkdir(parents=True, exist_ok=True)
        model, optim = f"model-epoch{epoch + 1}{suffix}", f"optimizer-epoch{epoch + 1}.states"
        write_model(self.dir / model)
        atomic_write(self.dir / optim, write_optimizer)
        meta = {"epoch": epoch + 1, "model": model, "optimizer": optim, "data_rng": data_state, "history": history}
        atomic_write(self.meta, lambda tmp: Path(tmp).write_text(json.dumps(meta)))
        for old in self.dir.glob("*-epoch*"):
            if old.name not in (model, optim):
                old.unlink()


# --------------------------------------------------------------------------- Gluon
def run_gluon(exp, entry, epochs, batch_size, lr, device, out, resume, limit, seed, progress=True, replaced=None):
    import mxnet as mx
    from mxnet import gluon, init

    from gluon_impl.data import load_data_fashion_mnist
    from gluon_impl.train import train_ch5
    from parity.checkpoint import load_gluon, save_gluon
    from parity.pairs import gluon_ctx

    ctx = gluon_ctx(device)
    mx.random.seed(seed)
    net = entry.build_gluon()
    net.initialize(ctx=ctx, init=init.Xavier(), force_reinit=True)
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': lr})
    train_iter, test_iter = load_data_fashion_mnist(batch_size, resize=exp.resize, seed=seed)
    ckpt = Checkpoints(out / "gluon")
    start, history = 0, []
    if resume and ckpt.exists():
        meta = ckpt.load_meta()
        load_gluon(net, ckpt.dir / meta["model"], example_input=entry.batch_shape(1))
        trainer.load_states(str(ckpt.dir / meta["optimizer"]))
        train_iter.stream.set_state(meta["data_rng"])
        start, history = meta["epoch"], meta["history"]
        print(f"gluon: resuming after epoch {start}")

    def on_epoch_end(epoch, record):
        history.append(record)
        ckpt.save(epoch, lambda p: save_gluon(net, p, example_input=entry.batch_shape(1)),
                  trainer.save_states, train_iter.stream.get_state(), history, ".params")
        drop_replaced(replaced)

    def seed_epoch(epoch):
        mx.random.seed(_epoch_seed(seed, epoch))

    train = Limited(train_iter, limit) if limit else train_iter
    test = Limited(test_iter, limit) if limit else test_iter
    train_ch5(net, train, test, batch_size, trainer, ctx, epochs, start_epoch=start,
              progress=_progress("gluon") if progress else None, on_epoch_end=on_epoch_end, seed_epoch=seed_epoch)
    return history, net


# --------------------------------------------------------------------------- PyTorch
def xavier_like_gluon(module):
    """Gluon's ``init.Xavier()`` in torch: Xavier-uniform weights, zero biases, BN gamma 1 / beta 0."""
    from torch import nn

    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def run_torch(exp, entry, epochs, batch_size, lr, device, out, resume, limit, seed, progress=True, replaced=None):
    import torch

    from parity.checkpoint import load_torch, save_torch
    from parity.pairs import torch_device
    from torch_impl.data import load_data_fashion_mnist
    from torch_impl.train import train_ch5, train_ch6

    dev = torch_device(device)
    torch.manual_seed(seed)
    net = entry.build_torch().to(dev)
    if exp.loop == "ch5":
        xavier_like_gluon(net)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    train_iter, test_iter = load_data_fashion_mnist(batch_size, resize=exp.resize, seed=seed)
    ckpt = Checkpoints(out / "torch")
    start, history = 0, []
    if resume and ckpt.exists():
        meta = ckpt.load_meta()
        load_torch(net, ckpt.dir / meta["model"])
        optimizer.load_state_dict(torch.load(ckpt.dir / meta["optimizer"], weights_only=True))
        train_iter.stream.set_state(meta["data_rng"])
        start, history = meta["epoch"], meta["history"]
        print(f"torch: resuming after epoch {start}")

    def on_epoch_end(epoch, record):
        history.append(record)
        ckpt.save(epoch, lambda p: save_torch(net, p), lambda tmp: torch.save(optimizer.state_dict(), tmp),
                  train_iter.stream.get_state(), history, ".pt")
        drop_replaced(replaced)

    def seed_epoch(epoch):
        torch.manual_seed(_epoch_seed(seed, epoch))

    train = Limited(train_iter, limit) if limit else train_iter
    test = Limited(test_iter, limit) if limit else test_iter
    extras = dict(start_epoch=start, progress=_progress("torch") if progress else None, on_epoch_end=on_epoch_end,
                  seed_epoch=seed_epoch)
    if exp.loop == "ch6":
        train_ch6(net, train, test, epochs, lr, dev, optimizer=optimizer, **extras)
    else:
        train_ch5(net, train, test, batch_size, optimizer, dev, epochs, **extras)
    return history, net


# --------------------------------------------------------------------------- outputs
def first_bn_params(framework, net):
    """gamma and beta of the first BatchNorm layer (seed 004 prints ``net[1].gamma``), flattened."""
    if framework == "gluon":
        from parity.state import gluon_slots

        slots = gluon_slots(net)
        names = [n for n in slots if n.endswith(".gamma")]
        if not names:
            return None
        head = names[0][: -len("gamma")]
        return slots[head + "gamma"].read().ravel().tolist(), slots[head + "beta"].read().ravel().tolist()
    from torch_impl import batchnorm, gluon_layers

    for m in net.modules():
        if isinstance(m, gluon_layers.BatchNorm):
            return m.weight.detach().cpu().numpy().ravel().tolist(), m.bias.detach().cpu().numpy().ravel().tolist()
        if isinstance(m, (batchnorm.BatchNorm, batchnorm.BatchNormD2L)):
            return m.gamma.detach().cpu().numpy().ravel().tolist(), m.beta.detach().cpu().numpy().ravel().tolist()
    return None


def plot(histories, path):
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


def markdown(exp, histories, reference, bn, lr, batch_size, seed=0, limit_batches=None):
    """The run's table beside the course's; ``lr``, ``batch_size``, ... are the values *used*."""
    limit = f", first {limit_batches} batches per epoch" if limit_batches else ""
    lines = [f"# {exp.name}: {exp.source}", "",
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
    for framework, params in bn.items():
        if params:
            lines += ["", f"{framework}: first BatchNorm gamma {np.round(params[0], 4).tolist()}",
                      f"{framework}: first BatchNorm beta  {np.round(params[1], 4).tolist()}"]
    if reference and "first_bn_gamma" in reference:
        lines += ["", f"course (seed 004): gamma {reference['first_bn_gamma']}",
                  f"course (seed 004): beta  {reference['first_bn_beta']}"]
    return "\n".join(lines) + "\n"


class _Prefixed:
    """A stdout whose every line starts with ``prefix``: two frameworks training side by side."""

    def __init__(self, stream, prefix):
        self.stream, self.prefix, self.at_line_start = stream, prefix, True

    def write(self, text):
        for piece in text.splitlines(keepends=True):
            if self.at_line_start:
                self.stream.write(self.prefix)
            self.stream.write(piece)
            self.at_line_start = piece.endswith("\n")
        self.stream.flush()
        return len(text)

    def flush(self):
        self.stream.flush()


def _exit_with_parent():
    """End this worker if the run that started it dies (SIGKILL included): never train on, orphaned."""
    import os
    import threading
    import time

    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _train_one(fw, name, epochs, batch_size, lr, device, out, resume, limit_batches, seed, threads=None,
               replaced=None):
    """Train ``name`` in framework ``fw``; return (history, first BN's gamma/beta or None).

    ``threads``: this runs in its own process, beside the other framework's, with that many threads.
    """
    import os

    from parity.frameworks import ensure_threads, set_threads

    if threads is not None:
        os.environ["MXNET_OMP_MAX_THREADS"] = str(threads)  # read when MXNet loads, below
        sys.stdout = _Prefixed(sys.stdout, f"[{fw}] ")
        _exit_with_parent()
        set_threads(threads)
    else:
        ensure_threads()
    exp = experiments.get(name)
    entry = registry.get(exp.network)
    runner = {"gluon": run_gluon, "torch": run_torch}[fw]
    history, net = runner(exp, entry, epochs, batch_size, lr, device, out, resume, limit_batches, seed,
                          progress=threads is None, replaced=replaced)
    return history, first_bn_params(fw, net)


def reproduce(name, framework="both", epochs=None, batch_size=None, lr=None, device="cpu", out=None,
              resume=False, limit_batches=None, seed=0, concurrent=None, overwrite=False):
    """Train experiment ``name`` in one framework or both; write log.json, curves.png, results.md.

    ``concurrent``: with ``framework="both"``, train the two in two processes at once, each with
    half the cores, instead of one after the other with all of them.  ``None`` (the default)
    does so on 2 or more cores: on 2 cores, the concise BN-LeNet takes 16.6 s per epoch pair
    side by side against 22.6 s one after the other (README, "Speed").  Half the cores each:
    Gluon with all of them and torch with half was slower (oversubscribed: 50 s vs 43 s for two
    epochs), and ``OMP_WAIT_POLICY=PASSIVE`` changed nothing measurable (44 s).
    """
    exp = experiments.get(name)
    epochs, batch_size, lr = epochs or exp.epochs, batch_size or exp.batch_size, lr or exp.lr
    out = Path(out or Path("runs") / name)
    frameworks = ("gluon", "torch") if framework == "both" else (framework,)
    from parity.runfolder import RunFolder, code_version

    config = {"experiment": name, "frameworks": list(frameworks), "lr": lr, "batch_size": batch_size, "seed": seed,
              "limit_batches": limit_batches, "dtype": "float32", "device": device, "code": code_version()}
    with RunFolder(out, config).open(resume=resume, overwrite=overwrite) as folder:
        return _reproduce_in(exp, frameworks, epochs, batch_size, lr, device, out, resume, limit_batches, seed,
                             concurrent, folder.replaced)


def _side_by_side_plan() -> dict:
    """Threads of each framework's process when both train at once: half the cores each.

    Measured on 2 cores, concise BN-LeNet, 5 epochs each: 103 s.  Gluon with both cores and
    torch with one at ``nice 10`` (to fill Gluon's idle gaps without stalling its OpenMP
    barriers): 106 s.  Gluon with both and torch with one, same priority: slower (50 s vs 43 s
    for 2 epochs).
    """
    from parity.sweep import threads_per_job

    return {fw: {"threads": threads_per_job(2)} for fw in ("gluon", "torch")}


def _reproduce_in(exp, frameworks, epochs, batch_size, lr, device, out, resume, limit_batches, seed, concurrent,
                  replaced):
    name = exp.name
    args = (epochs, batch_size, lr, device, out, resume, limit_batches, seed)
    for fw in frameworks:
        print(f"== {exp.name} ({exp.source}) in {fw}: {epochs} epochs, lr {lr}, batch {batch_size}", flush=True)
    if concurrent is None:
        from parity.frameworks import cores

        concurrent = cores() >= 2
    if concurrent and len(frameworks) == 2:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor


        with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
            plan = _side_by_side_plan()
            futures = {fw: pool.submit(_train_one, fw, name, *args, replaced=replaced, **plan[fw]) for fw in frameworks}
            trained = {fw: future.result() for fw, future in futures.items()}
    else:
        trained = {fw: _train_one(fw, name, *args, replaced=replaced) for fw in frameworks}
    histories = {fw: history for fw, (history, _) in trained.items()}
    bn = {fw: params for fw, (_, params) in trained.items()}
    for fw, params in bn.items():
        if params:
            print(f"{fw}: first BatchNorm gamma {np.round(params[0], 7).tolist()}")
            print(f"{fw}: first BatchNorm beta  {np.round(params[1], 7).tolist()}")
    reference = load_reference(exp.reference)
    log = {"experiment": exp.name, "epochs": epochs, "batch_size": batch_size, "lr": lr, "device": device,
           "seed": seed, "limit_batches": limit_batches, "history": histories, "first_bn": bn, "reference": reference}
    atomic_write(out / "log.json", lambda tmp: Path(tmp).write_text(json.dumps(log, indent=1)))
    plot(histories, out / "curves.png")
    table = markdown(exp, histories, reference, bn, lr, batch_size, seed, limit_batches)
    atomic_write(out / "results.md", lambda tmp: Path(tmp).write_text(table))
    print(f"wrote {out / 'log.json'}, {out / 'curves.png'}, {out / 'results.md'}")
    return log
