"""Errors survive process boundaries: side-by-side training shows the same ``error:`` line as ``--serial``."""
import importlib
import inspect
import json
import pickle
import pkgutil
import subprocess
import sys

import pytest

from parity_tests.cli_inprocess import run_main
from parity_tests.conftest import REPO, needs_both

#: the installed packages (in a checkout, modern_cnns's path also holds the repository root, tests and all)
PACKAGES = ("modern_cnns.parity", "modern_cnns.gluon_impl", "modern_cnns.torch_impl", "modern_cnns.data")


def _tool_exception_classes():
    """Every exception class defined in a ``modern_cnns`` module, found by walking the package (not a list)."""
    classes, names = {}, list(PACKAGES)
    for top in PACKAGES:
        names += [info.name for info in pkgutil.walk_packages(importlib.import_module(top).__path__, prefix=f"{top}.")]
    for name in names:
        if name.rsplit(".", 1)[-1] == "__main__":
            continue  # importing it runs the command line
        try:
            module = importlib.import_module(name)
        except ImportError as err:  # a framework this environment lacks
            pytest.skip(f"{name} does not import here: {err}")
        for obj in vars(module).values():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == module.__name__:
                classes[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return classes


def _instance(cls):
    """``cls`` built from sample values for each required argument (a string, else a list of strings)."""
    required = [p for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
                if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    for sample in (lambda name: f"sample {name}", lambda name: [f"sample {name}", "another"]):
        try:
            return cls(*[sample(p.name) for p in required] or ["sample message"])
        except TypeError:
            continue
    raise AssertionError(f"cannot build {cls} from sample values")


@needs_both
def test_every_exception_class_of_the_tool_pickles_and_unpickles():
    """Side-by-side training sends errors back pickled; a class that does not unpickle (TransferError did)
    turned the error line into BrokenProcessPool.  Classes added later are found by the same walk."""
    classes = _tool_exception_classes()
    assert {"TransferError", "CheckpointError", "RunFolderError", "TrainingProcessError", "DatasetError"} <= \
        {name.rsplit(".", 1)[-1] for name in classes}, sorted(classes)
    for name, cls in classes.items():
        err = _instance(cls)
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is cls and str(back) == str(err) and back.args == err.args, name
        assert vars(back) == vars(err), name


def _run(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "parity", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def one_epoch_run(tmp_path_factory):
    """A finished 1-epoch run of both frameworks (one batch): the base that tests damage copies of.

    ``--serial`` trains in the calling process: here, this one (a child would load both frameworks again)."""
    out = tmp_path_factory.mktemp("run") / "run"
    code, _, err = run_main("reproduce", "bn_lenet_scratch", "--epochs", "1", "--limit-batches", "1", "--serial",
                            "--out", out)
    assert code == 0, err[-2000:]
    return out


@needs_both
def test_side_by_side_training_shows_the_same_error_line_as_serial(one_epoch_run, tmp_path):
    """A torch checkpoint that lacks a tensor: a TransferError in the training process, shown as itself."""
    import shutil

    import torch

    lines = {}
    for mode in ("side-by-side", "--serial"):
        out = tmp_path / mode
        shutil.copytree(one_epoch_run, out)
        model = out / "torch" / "model-epoch1.pt"
        state = torch.load(model, weights_only=True)
        del state[sorted(state)[0]]
        torch.save(state, model)
        args = ("reproduce", "bn_lenet_scratch", "--epochs", "2", "--limit-batches", "1", "--resume", "--out", out)
        if mode == "--serial":  # training in the calling process, this one: the error as raised where it happens
            code, _, err = run_main(*args, "--serial")
        else:  # the command as a user runs it, its training in two processes of its own
            proc = _run(*map(str, args))
            code, err = proc.returncode, proc.stderr
        assert code == 1 and "Traceback" not in err, err[-3000:]
        lines[mode] = [line for line in err.splitlines() if line.startswith("error:")]
    assert lines["side-by-side"] == lines["--serial"] and "file -> torch transfer refused" in lines["--serial"][0]


def _wait_for_checkpoints(out, frameworks, deadline_s=240):
    import time

    deadline = time.time() + deadline_s
    while time.time() < deadline and not all((out / fw / "checkpoint.json").exists() for fw in frameworks):
        time.sleep(0.1)
    assert all((out / fw / "checkpoint.json").exists() for fw in frameworks), "the run never checkpointed"


def _loads(pid, library):
    try:
        with open(f"/proc/{pid}/maps") as f:
            return library in f.read()
    except OSError:
        return False


@needs_both
@pytest.mark.slow
def test_a_killed_training_process_is_named_by_framework_and_signal(tmp_path):
    """It was BrokenProcessPool, naming neither the framework nor the signal."""
    import os
    import signal

    out = tmp_path / "run"
    args = [sys.executable, "-m", "parity", "reproduce", "bn_lenet_scratch", "--limit-batches", "1", "--epochs", "500",
            "--out", str(out)]
    parent = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_checkpoints(out, ("gluon", "torch"))
        children = subprocess.run(["pgrep", "-P", str(parent.pid)], capture_output=True, text=True).stdout.split()
        gluon = [int(pid) for pid in children if _loads(pid, "libmxnet")]
        assert len(gluon) == 1, children
        os.kill(gluon[0], signal.SIGKILL)
        _, err = parent.communicate(timeout=120)
    finally:
        parent.kill()
    assert parent.returncode == 1 and "Traceback" not in err, err[-3000:]
    assert "error: the gluon training process was killed by SIGKILL" in err, err[-3000:]
    assert json.loads((out / "torch" / "checkpoint.json").read_text())["epoch"] >= 1  # what it finished is kept


@needs_both
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["side-by-side", "--serial"])
def test_ctrl_c_prints_one_line_saying_how_to_resume_and_exits_130(tmp_path, mode):
    """It printed a full KeyboardInterrupt traceback (two, side by side)."""
    import os
    import signal

    out = tmp_path / "run"
    args = [sys.executable, "-m", "parity", "reproduce", "bn_lenet_scratch", "--limit-batches", "1", "--epochs", "500",
            "--out", str(out), *(["--serial"] if mode == "--serial" else [])]
    # a session of its own: SIGINT to its process group is what a terminal's Ctrl-C sends
    # (and SIGINT's default action back: a shell's background job, a CI runner's, inherits it ignored)
    run = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        _wait_for_checkpoints(out, ("gluon",) if mode == "--serial" else ("gluon", "torch"))
        os.killpg(run.pid, signal.SIGINT)
        _, err = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode == 130, err[-3000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]
    lines = [line for line in err.splitlines() if line.startswith("interrupted")]
    assert lines == [f"interrupted; the last finished epoch is kept in {out}; continue with: python -m parity "
                     f"reproduce bn_lenet_scratch --out {out} --resume --epochs 500 --limit-batches 1"], err[-3000:]
    assert not (out / ".lock").exists() and (out / "run.json").exists()
