"""Run folders are owned: never clobbered, never shared, resumed only with the settings they hold."""
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from modern_cnns.parity.runs.runfolder import LOCK, RunFolder, RunFolderError
from parity_tests.conftest import REPO, needs_both, needs_torch

CONFIG = {"experiment": "bn_lenet_scratch", "frameworks": ["torch"], "lr": 1.0, "batch_size": 256, "seed": 0,
          "limit_batches": None, "dtype": "float32", "device": "cpu", "code": "test"}


def _finished_run(path, config=CONFIG):
    with RunFolder(path, config).open():
        (path / "torch").mkdir()
        (path / "torch" / "checkpoint.json").write_text("{}")
        (path / "log.json").write_text('{"old": true}')


def test_a_folder_holding_a_run_is_refused_without_resume_or_overwrite(tmp_path):
    _finished_run(tmp_path)
    with pytest.raises(RunFolderError, match="already holds a run .bn_lenet_scratch.: --resume continues it"):
        RunFolder(tmp_path, CONFIG).open()
    assert json.loads((tmp_path / "log.json").read_text()) == {"old": True}  # untouched
    assert not (tmp_path / LOCK).exists()  # and not left locked by the refusal


def test_resume_refuses_other_settings_naming_each_field(tmp_path):
    _finished_run(tmp_path)
    other = {**CONFIG, "lr": 0.5, "seed": 3, "limit_batches": 10}
    with pytest.raises(RunFolderError) as err:
        RunFolder(tmp_path, other).open(resume=True)
    message = str(err.value)
    for field in ("lr 1.0 (stored) vs 0.5 (now)", "seed 0 (stored) vs 3 (now)",
                  "limit_batches None (stored) vs 10 (now)"):
        assert field in message
    with RunFolder(tmp_path, CONFIG).open(resume=True):  # the same settings resume
        pass


def test_overwrite_keeps_the_old_run_until_the_new_one_has_a_checkpoint(tmp_path):
    _finished_run(tmp_path)
    with RunFolder(tmp_path, CONFIG).open(overwrite=True) as folder:
        assert not (tmp_path / "log.json").exists()
        assert json.loads((folder.replaced / "log.json").read_text()) == {"old": True}  # moved, not deleted
        folder.first_checkpoint_written()
        assert folder.replaced is None
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".replaced-")]


def test_a_new_run_that_dies_before_its_first_checkpoint_loses_nothing(tmp_path):
    _finished_run(tmp_path)
    with RunFolder(tmp_path, CONFIG).open(overwrite=True) as folder:
        kept = folder.replaced
    assert json.loads((kept / "log.json").read_text()) == {"old": True}


def test_a_live_lock_refuses_and_a_dead_one_is_taken_over(tmp_path):
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": "earlier"}
    (tmp_path / LOCK).write_text(json.dumps(holder))
    with pytest.raises(RunFolderError, match=f"in use by another run .pid {os.getpid()} on"):
        RunFolder(tmp_path, CONFIG).open()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK).write_text(json.dumps({**holder, "pid": dead.pid}))
    with RunFolder(tmp_path, CONFIG).open():
        assert json.loads((tmp_path / LOCK).read_text())["pid"] == os.getpid()
    assert not (tmp_path / LOCK).exists()


def test_leftover_temporary_files_are_removed_when_the_folder_is_taken(tmp_path):
    (tmp_path / "torch").mkdir()
    leftover = tmp_path / "torch" / ".model-epoch2.pt.abc123.tmp"
    leftover.write_bytes(b"half a checkpoint")
    keep = tmp_path / "notes.txt"
    keep.write_text("mine")
    with RunFolder(tmp_path, CONFIG).open(resume=True):
        assert not leftover.exists() and keep.exists()


@needs_torch
def test_a_second_run_on_the_same_folder_is_refused_while_the_first_trains(tmp_path):
    args = [sys.executable, "-m", "parity", "reproduce", "bn_lenet_scratch", "--framework", "torch",
            "--limit-batches", "2", "--epochs", "500", "--out", str(tmp_path)]
    first = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (tmp_path / "torch" / "checkpoint.json").exists():
            time.sleep(0.1)
        assert (tmp_path / "torch" / "checkpoint.json").exists(), "the first run never checkpointed"
        second = subprocess.run(args + ["--resume"], cwd=REPO, capture_output=True, text=True, timeout=300)
        assert second.returncode == 2 and f"is in use by another run (pid {first.pid}" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.kill()
        first.wait()
    assert (tmp_path / "torch" / "checkpoint.json").exists()  # the first run's work is intact


def _children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


@needs_both
@pytest.mark.slow
def test_killing_a_side_by_side_run_ends_its_training_processes_too(tmp_path):
    """SIGKILL cannot be caught: the two training processes watch their parent and exit, instead of
    training on, orphaned, into a folder whose lock is now stale."""
    from modern_cnns.parity.frameworks import pid_alive

    args = [sys.executable, "-m", "parity", "reproduce", "bn_lenet_scratch", "--limit-batches", "2",
            "--epochs", "500", "--out", str(tmp_path)]
    parent = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 180
        while time.time() < deadline and not ((tmp_path / "gluon" / "checkpoint.json").exists()
                                              and (tmp_path / "torch" / "checkpoint.json").exists()):
            time.sleep(0.1)
        workers = _children(parent.pid)
        assert len(workers) >= 2, workers
    finally:
        parent.kill()
        parent.wait()
    deadline = time.time() + 30
    while time.time() < deadline and any(pid_alive(w) for w in workers):
        time.sleep(0.2)
    assert not [w for w in workers if pid_alive(w)]
