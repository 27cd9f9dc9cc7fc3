"""``python -m parity reproduce``: the course's training runs, in Gluon, in the port, or both.

Per framework: the course's loop (``train_ch5``, or d2l's ``train_ch6`` for the
PyTorch edition's runs), the course-format epoch lines, a tqdm bar per epoch,
and after every epoch an atomic checkpoint (model, optimiser, data-shuffling
state, history) from which ``--resume`` continues to exactly where an
uninterrupted run ends: RNGs are reseeded per epoch from ``(seed, epoch)``.
At the end: ``log.json``, ``curves.png`` (loss, train and test accuracy per
epoch, both frameworks overlaid, as d2l's Animator draws them), ``results.md``
(beside the course's recorded numbers) and the learned gamma/beta of the first
BatchNorm layer, as gluonbook §5.11.3 prints them.
"""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from modern_cnns.parity.catalog import registry
from modern_cnns.parity.runs import record
from modern_cnns.parity.runs.outputs import first_bn_params, load_reference, write_outputs
from modern_cnns.parity.runs.runfolder import drop_replaced
from modern_cnns.parity.runs.spec import RunSpec
from modern_cnns.parity.weights.checkpoint import EpochCheckpoints


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


def _limited(spec: RunSpec, train_iter, test_iter):
    if not spec.limit_batches:
        return train_iter, test_iter
    return Limited(train_iter, spec.limit_batches), Limited(test_iter, spec.limit_batches)


@contextmanager
def _optimizer_state(path):
    """A damaged optimizer state file is an ``error:`` line naming it, whatever the framework raised."""
    from modern_cnns.parity.weights.checkpoint import CheckpointError

    try:
        yield
    except Exception as err:  # MXNetError, RuntimeError, pickle errors, KeyError, ValueError: all mean damage
        lines = [line for line in str(err).strip().splitlines() if line.strip()] or [""]
        reason = lines[-1] if "MXNetError" in type(err).__name__ else lines[0]  # MXNet's last line, torch's first
        raise CheckpointError(f"{path}: damaged optimizer state ({type(err).__name__}: {reason[:200]}); start "
                              "the run again with --overwrite") from None


# --------------------------------------------------------------------------- Gluon
def train_gluon(spec: RunSpec, progress: bool = True, replaced: Path | None = None):
    """Train ``spec`` in Gluon with gluonbook's ``train_ch5``; return (history, the trained block)."""
    import mxnet as mx
    from mxnet import gluon

    from modern_cnns.gluon_impl.data import load_data_fashion_mnist
    from modern_cnns.gluon_impl.train import train_ch5
    from modern_cnns.parity.frameworks import gluon_ctx
    from modern_cnns.parity.weights.checkpoint import load_gluon, save_gluon
    from modern_cnns.parity.weights.init import gluon_start

    exp, entry = spec.experiment, registry.get(spec.experiment.network)
    ctx = gluon_ctx(spec.device)
    mx.random.seed(spec.seed)
    net = gluon_start(entry.build_gluon(), entry, exp, spec.seed, ctx)  # Xavier, or the torch side's weights
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': spec.lr})
    train_iter, test_iter = load_data_fashion_mnist(spec.batch_size, resize=exp.resize, seed=spec.seed)
    ckpt = EpochCheckpoints(spec.out / "gluon")
    start, history = 0, []
    if spec.resume and ckpt.exists():
        meta = ckpt.load_meta()
        load_gluon(net, ckpt.dir / meta["model"], example_input=entry.batch_shape(1))
        with _optimizer_state(ckpt.dir / meta["optimizer"]):
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
        mx.random.seed(_epoch_seed(spec.seed, epoch))

    train, test = _limited(spec, train_iter, test_iter)
    train_ch5(net, train, test, spec.batch_size, trainer, ctx, spec.epochs, start_epoch=start,
              progress=_progress("gluon") if progress else None, on_epoch_end=on_epoch_end, seed_epoch=seed_epoch)
    return history, net


# --------------------------------------------------------------------------- PyTorch
def train_torch(spec: RunSpec, progress: bool = True, replaced: Path | None = None):
    """Train ``spec`` in torch with the experiment's loop; return (history, the trained module).

    gluonbook's experiments (``loop="ch5"``) run the port of ``train_ch5`` from Gluon's
    initialisation (:func:`~modern_cnns.parity.weights.init.xavier_like_gluon`) and Gluon's SGD;
    d2l 0.17's (``loop="ch6"``) run that edition's ``train_ch6``, which initialises the network
    itself; d2l 1.0's (``loop="d2l1"``) the same steps with that edition's ``init_cnn``, where
    the course's cell reaches the layers (:func:`~modern_cnns.parity.weights.init.torch_initialiser`).
    """
    import torch

    from modern_cnns.parity.frameworks import torch_device
    from modern_cnns.parity.weights.checkpoint import load_torch, save_torch
    from modern_cnns.parity.weights.init import torch_initialiser, torch_start, xavier_like_gluon
    from modern_cnns.torch_impl.data import load_data_fashion_mnist
    from modern_cnns.torch_impl.train import sgd_like_gluon, train_ch5, train_ch6

    exp, entry = spec.experiment, registry.get(spec.experiment.network)
    dev = torch_device(spec.device)
    net = torch_start(entry, exp, spec.seed).to(dev)
    if exp.loop == "ch5":
        xavier_like_gluon(net)
        optimizer = sgd_like_gluon(net.parameters(), spec.lr)
    else:
        optimizer = torch.optim.SGD(net.parameters(), lr=spec.lr)
    train_iter, test_iter = load_data_fashion_mnist(spec.batch_size, resize=exp.resize, seed=spec.seed)
    ckpt = EpochCheckpoints(spec.out / "torch")
    start, history = 0, []
    if spec.resume and ckpt.exists():
        meta = ckpt.load_meta()
        load_torch(net, ckpt.dir / meta["model"])
        with _optimizer_state(ckpt.dir / meta["optimizer"]):
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
        torch.manual_seed(_epoch_seed(spec.seed, epoch))

    train, test = _limited(spec, train_iter, test_iter)
    extras = dict(start_epoch=start, progress=_progress("torch") if progress else None, on_epoch_end=on_epoch_end,
                  seed_epoch=seed_epoch)
    if exp.loop in ("ch6", "d2l1"):
        train_ch6(net, train, test, spec.epochs, spec.lr, dev, optimizer=optimizer, init=torch_initialiser(exp),
                  **extras)
    else:
        train_ch5(net, train, test, spec.batch_size, optimizer, dev, spec.epochs, **extras)
    return history, net


TRAINERS = {"gluon": train_gluon, "torch": train_torch}


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


def _train_one(fw: str, spec: RunSpec, threads: int | None = None, replaced: Path | None = None):
    """Train ``spec`` in framework ``fw``; return (history, first BN's gamma/beta or None).

    ``threads``: this runs in its own process, beside the other framework's, with that many threads.
    """
    import os

    from modern_cnns.parity.frameworks import ensure_threads, set_threads

    if threads is not None:
        os.environ["MXNET_OMP_MAX_THREADS"] = str(threads)  # read when MXNet loads, below
        sys.stdout = _Prefixed(sys.stdout, f"[{fw}] ")
        _exit_with_parent()
        set_threads(threads, frameworks=(fw,))
    else:
        ensure_threads()
    history, net = TRAINERS[fw](spec, progress=threads is None, replaced=replaced)
    return history, first_bn_params(fw, net)


def reproduce(name, framework="both", epochs=None, batch_size=None, lr=None, device="cpu", out=None,
              resume=False, limit_batches=None, seed=0, concurrent=None, overwrite=False):
    """Train experiment ``name`` in one framework or both; write log.json, curves.png, results.md.

    Args:
        name: an experiment (``python -m parity reproduce --list``).
        framework: ``"gluon"``, ``"torch"`` or ``"both"``.
        epochs, batch_size, lr: None for the course's values.
        device: ``"cpu"`` or ``"gpu"``.
        out: the run folder (default ``runs/NAME``).
        resume: continue the run in ``out`` from its last epoch checkpoint (same settings).
        limit_batches: only the first N batches of each epoch.
        seed: seeds initialisation, shuffling and each epoch's RNGs.
        concurrent: with ``framework="both"``, train the two in two processes at once, each with
            half the cores, instead of one after the other with all of them.  None (the default)
            does so on 2 or more cores: on 2 cores, the concise BN-LeNet's 5 epochs of both took
            70.1-88.2 s side by side against 111.7 s one after the other (README, "Benchmarks").  Half the
            cores each: Gluon with all of them and torch with half was slower (oversubscribed:
            50 s vs 43 s for two epochs), and ``OMP_WAIT_POLICY=PASSIVE`` changed nothing
            measurable (44 s).
        overwrite: replace the run in ``out``; the old one is kept until the new run's first checkpoint.

    Returns:
        The run's log (what ``log.json`` holds).
    """
    from modern_cnns.parity.runs.runfolder import RunFolder, code_version

    spec = RunSpec.of(name, epochs=epochs, batch_size=batch_size, lr=lr, out=out, device=device, resume=resume,
                      limit_batches=limit_batches, seed=seed)
    if framework not in ("gluon", "torch", "both"):
        raise ValueError(f"framework must be 'gluon', 'torch' or 'both', got {framework!r}")
    frameworks = ("gluon", "torch") if framework == "both" else (framework,)
    config = {**spec.config(frameworks), "code": code_version()}
    folder = RunFolder(spec.out, config).open(resume=resume, overwrite=overwrite)
    try:
        with folder:
            if not folder.fresh:
                _check_resume_points(spec, frameworks)
            started = time.monotonic()
            log = _reproduce_in(spec, frameworks, concurrent, folder.replaced)
            # run.json: code, packages, machine, wall time
            record.finish(spec.out, time.monotonic() - started, resumed=bool(resume))
            return log
    except KeyboardInterrupt:
        raise RunInterrupted(_resume_hint(spec, frameworks)) from None


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run (still a ``KeyboardInterrupt``); the message says what is kept and how to resume."""


def _resume_hint(spec: RunSpec, frameworks) -> str:
    """What Ctrl-C left: nothing (no epoch finished), or the command that continues the run."""
    kept = [fw for fw in frameworks if (spec.out / fw / "checkpoint.json").is_file()]
    if not kept:
        return f"interrupted before the first epoch finished; nothing of this run was kept in {spec.out}"
    exp = spec.experiment
    flags = [f"--framework {frameworks[0]}" if len(frameworks) == 1 else "",
             f"--epochs {spec.epochs}" if spec.epochs != exp.epochs else "",
             f"--batch-size {spec.batch_size}" if spec.batch_size != exp.batch_size else "",
             f"--lr {spec.lr}" if spec.lr != exp.lr else "",
             f"--limit-batches {spec.limit_batches}" if spec.limit_batches else "",
             f"--seed {spec.seed}" if spec.seed else "", "--device gpu" if spec.device == "gpu" else ""]
    import shlex

    return (f"interrupted; the last finished epoch is kept in {spec.out}; continue with: python -m parity reproduce "
            f"{exp.name} --out {shlex.quote(str(spec.out))} --resume " + " ".join(f for f in flags if f)).rstrip()


def _check_resume_points(spec: RunSpec, frameworks) -> None:
    """Each framework's checkpoint is whole, and not past ``--epochs``: refused before any training."""
    from modern_cnns.parity.runs.runfolder import RunFolderError
    from modern_cnns.parity.weights.checkpoint import EpochCheckpoints

    for fw in frameworks:
        ckpt = EpochCheckpoints(spec.out / fw)
        if ckpt.exists():
            done = ckpt.load_meta()["epoch"]
            if done > spec.epochs:
                raise RunFolderError(f"the run in {spec.out} has trained {done} epochs in {fw}: --epochs {spec.epochs} "
                                     f"cannot resume it; give --epochs {done} or more to continue it, or --overwrite "
                                     "to start again")


class TrainingProcessError(RuntimeError):
    """A training process of a side-by-side run died without a result: killed (a signal), or crashed."""


class _RemoteTraceback(Exception):
    """The traceback of an error raised in a training process (shown as the cause of a bug, not of an error line)."""

    def __str__(self):
        return self.args[0] if self.args else ""


def _died(fw: str, exitcode) -> TrainingProcessError:
    import signal

    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        why = f"was killed by {name}" + (" (the kernel's out-of-memory killer sends this one)"
                                         if -exitcode == signal.SIGKILL else "")
    else:
        why = f"ended with exit code {exitcode} and no result"
    return TrainingProcessError(f"the {fw} training process {why}; each framework's last finished epoch is kept: "
                                "--resume continues from there")


def _portable(err: BaseException) -> BaseException:
    """``err`` if it survives pickling (every error class of this tool does), else a RuntimeError saying it."""
    import pickle

    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:
        return RuntimeError(f"{type(err).__name__}: {err}")


def _worker(fw: str, spec: RunSpec, threads: int, replaced, send) -> None:
    """One framework's training in its own process; sends ``(ok, result or error, traceback text)``."""
    import signal
    import traceback

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it ends this process
    try:
        outcome = (True, _train_one(fw, spec, threads=threads, replaced=replaced), "")
    except BaseException as err:
        outcome = (False, _portable(err), traceback.format_exc())
    send.send(outcome)
    send.close()


def _side_by_side(spec: RunSpec, frameworks, replaced) -> dict:
    """Train each framework in its own process at once; the first error (or death) ends both and is raised.

    Errors cross back as themselves, so the user sees the same ``error:`` line as with ``--serial``;
    a process that dies without a result is named, with the signal that killed it.
    """
    import multiprocessing
    import signal
    from multiprocessing.connection import Connection, wait
    from typing import cast

    context, plan, workers = multiprocessing.get_context("spawn"), _side_by_side_plan(), {}
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited: Ctrl-C reaches the parent only
    try:
        for fw in frameworks:
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_worker, args=(fw, spec, plan[fw]["threads"], replaced, send),
                                      name=f"{fw} training")
            process.start()
            send.close()
            workers[receive] = (fw, process)
    finally:
        signal.signal(signal.SIGINT, previous)
    results, pending = {}, dict(workers)
    try:
        while pending:
            # wait returns those of the objects it is given that are ready: here, receiving connections
            for receive in cast("list[Connection]", wait(list(pending))):
                fw, process = pending.pop(receive)
                try:
                    outcome = receive.recv()
                except EOFError:
                    outcome = None
                process.join()
                if outcome is None:
                    raise _died(fw, process.exitcode)
                ok, value, remote = outcome
                if not ok:
                    raise value from _RemoteTraceback(remote)
                results[fw] = value
    finally:
        for _fw, process in workers.values():
            if process.is_alive():
                process.terminate()
        for _fw, process in workers.values():
            process.join()
    return {fw: results[fw] for fw in frameworks}


def _side_by_side_plan() -> dict:
    """Threads of each framework's process when both train at once: half the cores each.

    Measured on 2 cores, concise BN-LeNet, 5 epochs each: 70.1-88.2 s (five runs).  Gluon with
    both cores and torch with one at ``nice 10`` (to fill Gluon's idle gaps without stalling its
    OpenMP barriers): 106 s (with an older 103 s baseline).  Gluon with both and torch with one,
    same priority: slower (50 s vs 43 s for 2 epochs).  Each process pinned to its own core: no
    gain (80.8 and 92.0 s against 82.5 and 83.4 s).  The count stays fixed for the whole run:
    MXNet's float32 results depend on it, so raising Gluon's once torch is done would make the
    run's numbers depend on timing (``docs/FINDINGS.md``).
    """
    from modern_cnns.parity.frameworks import threads_per_job

    return {fw: {"threads": threads_per_job(2)} for fw in ("gluon", "torch")}


def _reproduce_in(spec: RunSpec, frameworks, concurrent, replaced):
    exp = spec.experiment
    for fw in frameworks:
        print(f"== {exp.name} ({exp.source.cite()}) in {fw}: {spec.epochs} epochs, lr {spec.lr}, "
              f"batch {spec.batch_size}", flush=True)
    if concurrent is None:
        from modern_cnns.parity.frameworks import cores

        concurrent = cores() >= 2
    if concurrent and len(frameworks) == 2:
        trained = _side_by_side(spec, frameworks, replaced)
    else:
        trained = {fw: _train_one(fw, spec, replaced=replaced) for fw in frameworks}
    histories = {fw: history for fw, (history, _) in trained.items()}
    bn = {fw: params for fw, (_, params) in trained.items()}
    for fw, params in bn.items():
        if params:
            print(f"{fw}: first BatchNorm gamma {np.round(params[0], 7).tolist()}")
            print(f"{fw}: first BatchNorm beta  {np.round(params[1], 7).tolist()}")
    log = {"experiment": exp.name, "epochs": spec.epochs, "batch_size": spec.batch_size, "lr": spec.lr,
           "device": spec.device, "seed": spec.seed, "limit_batches": spec.limit_batches, "history": histories,
           "first_bn": bn, "reference": load_reference(exp.reference)}
    write_outputs(spec.out, log, exp)
    return log
