"""Training loops and ``python -m parity reproduce``: step-for-step equality, outputs, resume, lockstep."""
import json
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from modern_cnns.parity.catalog import registry
from parity_tests.cli_inprocess import run_main
from parity_tests.conftest import REPO, needs_both

pytestmark = needs_both
EPOCH_LINE = re.compile(r"^epoch \d+, loss \d+\.\d{4}, train acc \d\.\d{3}, test acc \d\.\d{3}, time \d+\.\d sec$")


class Float64Loader:
    """Batches of a BatchStream as float64 NDArrays or tensors (for the float64 step-for-step test)."""

    def __init__(self, stream, framework):
        self.stream, self.framework = stream, framework

    def __len__(self):
        return len(self.stream)

    def __iter__(self):
        for X, y in self.stream:
            if self.framework == "gluon":
                from mxnet import nd

                yield nd.array(X, dtype="float64"), nd.array(y, dtype="float64")
            else:
                import torch

                yield torch.from_numpy(X.astype(np.float64)), torch.from_numpy(y)


@pytest.mark.parametrize("name", ["bn_lenet_scratch", "bn_lenet_concise"])
def test_torch_train_ch5_matches_gluon_train_ch5_step_for_step(name, capsys):
    """Same weights, same batches (with a short last batch), float64: same losses, accuracies and weights."""
    import mxnet as mx

    from modern_cnns.data import BatchStream, load_fashion_mnist
    from modern_cnns.gluon_impl.train import train_ch5 as gluon_train
    from modern_cnns.parity.verdict.compare import assert_close
    from modern_cnns.parity.verdict.pair import Pair
    from modern_cnns.parity.verdict.tolerance import FLOAT64_RTOL, scale_floor
    from modern_cnns.parity.weights.state import gluon_slots, torch_slots
    from modern_cnns.torch_impl.train import train_ch5 as torch_train

    entry = registry.get(name)
    pair = Pair.from_entry(entry, dtype="float64")
    block, module, names = pair.block, pair.module, pair.names
    ds = load_fashion_mnist()
    images, labels = ds.train_images[:1000], ds.train_labels[:1000]  # 256, 256, 256 and a short 232

    def loaders(framework):
        train = BatchStream(images, labels, 256, shuffle=True, seed=4)
        test = BatchStream(ds.test_images[:512], ds.test_labels[:512], 256)
        return Float64Loader(train, framework), Float64Loader(test, framework)

    trainer, optimizer = pair.trainers(lr=1.0)
    g_hist = gluon_train(block, *loaders("gluon"), 256, trainer, mx.cpu(), 2)
    t_hist = torch_train(module, *loaders("torch"), 256, optimizer, "cpu", 2)
    for g, t in zip(g_hist, t_hist):
        assert abs(g["loss"] - t["loss"]) <= 1e-10 * g["loss"]
        assert g["train_acc"] == t["train_acc"] and g["test_acc"] == t["test_acc"]
    t_slots, _ = torch_slots(module)
    g_state = {gname: slot.read() for gname, slot in gluon_slots(block).items()}
    # the project's float64 policy (parity.verdict.tolerance): within 1e-10 of each tensor's scale, floored
    # for analytically-zero tensors (a conv bias before BN) at SCALE_FLOOR of the largest state value
    floor = scale_floor(g_state.values())
    for gname, expected in g_state.items():
        assert_close(gname, t_slots[names[gname]].read(), expected, FLOAT64_RTOL, floor)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert len(lines) == 4 and all(EPOCH_LINE.match(line) for line in lines), lines


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "parity", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=900, env=env)


def test_reproduce_writes_course_format_log_curves_and_table(tmp_path):
    """``--serial`` trains both frameworks in the calling process: here, this one (``parity.cli.main``)."""
    code, out, err = run_main("reproduce", "bn_lenet_scratch", "--epochs", "2", "--limit-batches", "4", "--out",
                              tmp_path, "--serial")
    assert code == 0, out + err
    epoch_lines = [line for line in out.splitlines() if line.startswith("epoch")]
    assert len(epoch_lines) == 4 and all(EPOCH_LINE.match(line) for line in epoch_lines)
    assert "gluon: first BatchNorm gamma [" in out and "torch: first BatchNorm beta  [" in out
    assert "gluon epoch 1" in err  # the tqdm bar
    log = json.loads((tmp_path / "log.json").read_text())
    assert [r["epoch"] for r in log["history"]["gluon"]] == [1, 2] == [r["epoch"] for r in log["history"]["torch"]]
    assert log["reference"]["epochs"][-1]["loss"] == 0.3033
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (tmp_path / "results.md").read_text()
    assert "| 5 |  |  |  |  |  |  | 0.3033 | 0.889 | 0.861 |" in table
    assert "course (gluonbook §5.11.3): gamma [1.3520054" in table


@pytest.mark.slow  # side by side in the quick loop: test_errors_cross_processes.py, and each process's imports below
def test_both_frameworks_train_side_by_side_by_default(tmp_path):
    """Two processes, one per framework; their lines are labelled; the run's outputs are complete."""
    proc = run_cli("reproduce", "bn_lenet_scratch", "--epochs", "2", "--limit-batches", "4", "--out", str(tmp_path),
                   "--lr", "0.9")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the table states the values used, beside the course's
    assert "lr 0.9, batch 256, resize 28, seed 0, first 4 batches per epoch (the course: lr 1.0, batch 256)" \
        in (tmp_path / "results.md").read_text()
    for framework in ("gluon", "torch"):
        lines = [line[len(framework) + 3:] for line in proc.stdout.splitlines() if line.startswith(f"[{framework}] ")]
        epoch_lines = [line for line in lines if line.startswith("epoch")]
        assert len(epoch_lines) == 2 and all(EPOCH_LINE.match(line) for line in epoch_lines), proc.stdout
    log = json.loads((tmp_path / "log.json").read_text())
    assert [r["epoch"] for r in log["history"]["gluon"]] == [1, 2] == [r["epoch"] for r in log["history"]["torch"]]


@pytest.mark.parametrize("framework,module", [("torch", "torch"), ("gluon", "mxnet")])
def test_a_side_by_side_process_loads_only_its_own_framework(framework, module, tmp_path):
    """Each framework's import costs ~3 s and both processes start at once on the same cores."""
    script = (f"import sys; from modern_cnns.parity.runs.reproduce import _train_one; "
              f"from modern_cnns.parity.runs.spec import RunSpec; "
              f"_train_one({framework!r}, RunSpec.of('bn_lenet_concise', epochs=1, limit_batches=1, "
              f"out={str(tmp_path)!r}), threads=1); print('loaded:', sorted({{'mxnet', 'torch'}} & set(sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"loaded: [{module!r}]" in proc.stdout, proc.stdout


def test_reproduce_list_and_unknown_experiment():
    proc = run_cli("reproduce", "--list")
    assert proc.returncode == 0
    for name in ("bn_lenet_scratch", "bn_lenet_concise_d2l", "resnet", "resnet18", "densenet", "googlenet",
                 "alexnet", "vgg_small", "nin"):
        assert re.search(rf"^{name}\s", proc.stdout, re.M), name
    proc = run_cli("reproduce", "lenet5000")
    assert proc.returncode == 2 and "valid: bn_lenet_scratch" in proc.stderr


def _final_state(out):
    """(epoch, {tensor name: bytes of its values}, history without timings) per framework."""
    from modern_cnns.parity.weights.checkpoint import read_gluon, read_torch

    state = {}
    for framework, read in (("gluon", read_gluon), ("torch", read_torch)):
        meta = json.loads((out / framework / "checkpoint.json").read_text())
        strip = [{k: v for k, v in r.items() if k not in ("time", "examples_per_sec")} for r in meta["history"]]
        tensors = {name: value.tobytes() for name, value in read(out / framework / meta["model"]).items()}
        state[framework] = (meta["epoch"], tensors, strip)
    return state


@pytest.mark.slow
def test_resume_after_a_kill_ends_where_an_uninterrupted_run_ends(tmp_path):
    args = ["reproduce", "bn_lenet_concise", "--epochs", "3", "--limit-batches", "25", "--serial"]
    straight = tmp_path / "straight"
    proc = run_cli(*args, "--out", str(straight))
    assert proc.returncode == 0, proc.stderr

    interrupted = tmp_path / "interrupted"
    child = subprocess.Popen([sys.executable, "-m", "parity", *args, "--out", str(interrupted)], cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    meta = interrupted / "gluon" / "checkpoint.json"
    deadline = time.time() + 600
    while time.time() < deadline and not meta.exists():
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)  # mid-way through Gluon's epoch 2
    child.wait()
    assert child.returncode == -signal.SIGKILL
    assert json.loads(meta.read_text())["epoch"] == 1
    assert not (interrupted / "torch").exists()
    assert not [p for p in (interrupted / "gluon").iterdir() if p.name.endswith(".tmp")]

    proc = run_cli(*args, "--out", str(interrupted), "--resume")
    assert proc.returncode == 0, proc.stderr
    assert "gluon: resuming after epoch 1" in proc.stdout
    assert _final_state(interrupted) == _final_state(straight)


def test_lockstep_float64_stays_together_float32_drifts():
    from modern_cnns.parity.runs.lockstep import lockstep

    lines = []
    h64 = lockstep("bn_lenet_scratch", dtype="float64", steps=6, every=3, out=lines.append)
    assert len(h64) == 2 and all(rel < 1e-10 for _, rel, _ in h64), h64
    h32 = lockstep("bn_lenet_scratch", dtype="float32", steps=6, every=3, out=lines.append)
    assert all(rel > 1e-8 for _, rel, _ in h32), h32  # float32 rounding, not zero: the runs are really compared
    assert lines[0].startswith("lockstep bn_lenet_scratch in float64")


@pytest.mark.slow  # three runs; the quick loop resumes (test_errors_cross_processes.py) and refuses resumes (run files)
def test_train_ch6_run_resumes_to_the_same_end(tmp_path):
    """The PyTorch edition's loop: a run stopped after epoch 1 and resumed equals a straight run."""
    from modern_cnns.parity.weights.checkpoint import read_torch

    args = ["reproduce", "bn_lenet_scratch_d2l", "--framework", "torch", "--limit-batches", "5"]
    assert run_cli(*args, "--epochs", "2", "--out", str(tmp_path / "a")).returncode == 0
    assert run_cli(*args, "--epochs", "1", "--out", str(tmp_path / "b")).returncode == 0
    proc = run_cli(*args, "--epochs", "2", "--out", str(tmp_path / "b"), "--resume")
    assert proc.returncode == 0 and "torch: resuming after epoch 1" in proc.stdout, proc.stderr
    final = {}
    for run in ("a", "b"):
        meta = json.loads((tmp_path / run / "torch" / "checkpoint.json").read_text())
        final[run] = {k: v.tobytes() for k, v in read_torch(tmp_path / run / "torch" / meta["model"]).items()}
    assert final["a"] == final["b"]
