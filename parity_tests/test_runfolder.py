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


def test_a_new_run_that_dies_before_its_first_checkpoint_loses_nothing(tmp_path, capsys):
    _finished_run(tmp_path)
    with pytest.raises(RuntimeError, match="died"):
        with RunFolder(tmp_path, {**CONFIG, "lr": 0.5}).open(overwrite=True) as folder:
            assert folder.replaced.is_dir() and not (tmp_path / "log.json").exists()
            raise RuntimeError("the new run died")
    assert json.loads((tmp_path / "log.json").read_text()) == {"old": True}  # put back
    assert json.loads((tmp_path / "run.json").read_text())["config"] == CONFIG  # the old run's manifest
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".replaced-")]
    assert "is back in" in capsys.readouterr().err


def _dead_pid():
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    return dead.pid


def test_a_live_lock_refuses_and_a_dead_one_is_taken_over(tmp_path):
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": "earlier"}
    (tmp_path / LOCK).write_text(json.dumps(holder))
    with pytest.raises(RunFolderError, match=f"in use by another run .pid {os.getpid()} on"):
        RunFolder(tmp_path, CONFIG).open()
    (tmp_path / LOCK).write_text(json.dumps({**holder, "pid": _dead_pid()}))
    with RunFolder(tmp_path, CONFIG).open():
        assert json.loads((tmp_path / LOCK).read_text())["pid"] == os.getpid()
    assert not (tmp_path / LOCK).exists()


@pytest.mark.parametrize("content", ["", "  \n", '{"pid": 12'])
def test_an_empty_or_cut_short_lock_is_stale_and_says_so(tmp_path, capsys, content):
    """A run that died while taking the lock (a full disk) left it: it used to refuse every run ("pid None")."""
    (tmp_path / LOCK).write_text(content)
    with RunFolder(tmp_path, CONFIG).open():
        pass
    err = capsys.readouterr().err
    assert "left by a run that died while taking it" in err and "pid None" not in err


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "another tool's lock"])
def test_a_lock_file_that_is_not_this_tools_is_refused_and_kept(tmp_path, content):
    (tmp_path / LOCK).write_text(content)
    with pytest.raises(RunFolderError, match="is not a lock of this tool"):
        RunFolder(tmp_path, CONFIG).open()
    assert (tmp_path / LOCK).read_text() == content


def _tool_temp(folder, name, pid):
    """A temporary as atomic_write names it: .NAME.parity-PID-RANDOM.tmp"""
    path = folder / f".{name}.parity-{pid}-abcd1234.tmp"
    path.write_bytes(b"half a checkpoint")
    return path


def test_only_dead_writers_temporaries_in_the_runs_own_folders_are_removed(tmp_path):
    (tmp_path / "torch").mkdir()
    (tmp_path / "sub").mkdir()
    dead = _dead_pid()
    gone = [_tool_temp(tmp_path / "torch", "model-epoch2.pt", dead), _tool_temp(tmp_path, "log.json", dead)]
    kept = [_tool_temp(tmp_path / "torch", "model-epoch3.pt", os.getpid()),  # a live writer's
            _tool_temp(tmp_path / "sub", "log.json", dead),  # not a place the run writes
            tmp_path / "torch" / ".model-epoch2.pt.abc123.tmp", tmp_path / ".notes.txt.tmp",  # names of others
            tmp_path / "notes.txt"]
    for path in kept[2:]:
        path.write_text("mine")
    before = {p: p.read_bytes() for p in kept}
    with RunFolder(tmp_path, CONFIG).open(resume=True):
        assert not [p for p in gone if p.exists()]
    assert {p: p.read_bytes() for p in kept} == before


def test_a_refused_run_removes_no_temporary(tmp_path):
    _finished_run(tmp_path)
    leftover = _tool_temp(tmp_path / "torch", "model-epoch2.pt", _dead_pid())
    with pytest.raises(RunFolderError, match="already holds a run"):
        RunFolder(tmp_path, CONFIG).open()
    with pytest.raises(RunFolderError, match="cannot resume"):
        RunFolder(tmp_path, {**CONFIG, "seed": 1}).open(resume=True)
    assert leftover.exists()


def _user_files(root):
    """A user's files around a run: notes, a sub-folder, a file inside the run's checkpoint folder."""
    files = {root / "notes.txt": b"my notes", root / "sub" / "data.bin": bytes(range(256)),
             root / "sub" / "deeper" / "results.md": b"# my own results", root / "torch" / "README": b"mine"}
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return files


def _unchanged(files):
    return {p: p.read_bytes() if p.exists() else None for p in files} == files


def test_overwrite_replaces_only_the_files_the_run_wrote(tmp_path):
    """--overwrite used to move *everything* in --out aside and delete it after the first checkpoint."""
    _finished_run(tmp_path)
    mine = _user_files(tmp_path)
    with RunFolder(tmp_path, CONFIG).open(overwrite=True) as folder:
        assert _unchanged(mine)
        assert sorted(str(p.relative_to(folder.replaced)) for p in folder.replaced.rglob("*") if p.is_file()) == \
            ["log.json", "run.json", "torch/checkpoint.json"]
        (tmp_path / "torch" / "checkpoint.json").write_text("{}")
        folder.first_checkpoint_written()
    assert _unchanged(mine)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".replaced-")]


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_results_md_the_tool_did_not_write_is_never_replaced(tmp_path, overwrite):
    """A stray results.md (no run.json lists it) beside the user's files: refused, even with --overwrite."""
    mine = _user_files(tmp_path)
    mine[tmp_path / "results.md"] = b"# the user's"
    (tmp_path / "results.md").write_bytes(b"# the user's")
    with pytest.raises(RunFolderError, match="results.md, which no run manifest there lists"):
        RunFolder(tmp_path, CONFIG).open(overwrite=overwrite)
    assert _unchanged(mine)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "results.md", "sub", "torch"]


@pytest.mark.parametrize("how", ["finished run", "live lock"])
def test_a_folder_holding_another_run_below_is_refused(tmp_path, how):
    """--overwrite on the parent of a training run moved its live lock and run.json away."""
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    if how == "finished run":
        _finished_run(inner)
    else:
        (inner / LOCK).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": "now"}))
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    for mode in ({}, {"overwrite": True}, {"resume": True}):
        with pytest.raises(RunFolderError, match=f"holds another run, in {inner}"):
            RunFolder(tmp_path, CONFIG).open(**mode)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_a_folder_or_link_where_the_run_writes_a_file_is_the_users(tmp_path):
    """A run's manifest lists results.md; a folder or a link by that name is not what the run wrote."""
    _finished_run(tmp_path)
    (tmp_path / "log.json").unlink()
    (tmp_path / "log.json").mkdir()
    (tmp_path / "log.json" / "mine.txt").write_text("mine")
    (tmp_path / "elsewhere.md").write_text("my results")
    (tmp_path / "results.md").symlink_to(tmp_path / "elsewhere.md")
    with pytest.raises(RunFolderError, match="holds log.json, results.md, which no run manifest there lists"):
        RunFolder(tmp_path, CONFIG).open(overwrite=True)
    assert (tmp_path / "log.json" / "mine.txt").read_text() == "mine" and (tmp_path / "results.md").is_symlink()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".replaced-")]


def test_a_run_that_fails_before_its_first_checkpoint_does_not_block_the_retry(tmp_path):
    with pytest.raises(ValueError):
        with RunFolder(tmp_path, CONFIG).open():
            raise ValueError("out of memory, say")
    assert list(tmp_path.iterdir()) == []
    with RunFolder(tmp_path, {**CONFIG, "batch_size": 64}).open():  # other settings, no --overwrite needed
        pass


KILLED_OVERWRITE = """
import os, signal, sys
from modern_cnns.parity.runs.runfolder import RunFolder
RunFolder(sys.argv[1], {config}).open(overwrite=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _killed_overwrite(path):
    proc = subprocess.run([sys.executable, "-c", KILLED_OVERWRITE.format(config=repr(CONFIG)), str(path)],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr


def test_killed_overwrite_attempts_do_not_pile_up_set_aside_folders(tmp_path, capsys):
    _finished_run(tmp_path)
    mine = _user_files(tmp_path)
    for _ in range(3):  # killed before its first checkpoint: the next attempt puts the old run back first
        _killed_overwrite(tmp_path)
        assert len([p for p in tmp_path.iterdir() if p.name.startswith(".replaced-")]) == 1
    with RunFolder(tmp_path, CONFIG).open(resume=True):  # the old run is back, and resumes
        assert json.loads((tmp_path / "log.json").read_text()) == {"old": True}
    assert "restored the run an interrupted --overwrite had set aside" in capsys.readouterr().err
    _killed_overwrite(tmp_path)
    (tmp_path / "torch" / "checkpoint.json").write_text("{}")  # as if the killed run had checkpointed
    with RunFolder(tmp_path, CONFIG).open(resume=True):
        pass
    assert "deleted the run an interrupted --overwrite had set aside" in capsys.readouterr().err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".replaced-")]
    assert _unchanged(mine)


def test_a_damaged_manifest_is_refused_and_nothing_is_touched(tmp_path):
    _finished_run(tmp_path)
    (tmp_path / "run.json").write_text('{"config": ')
    for mode in ({}, {"overwrite": True}, {"resume": True}):
        with pytest.raises(RunFolderError, match="run.json: damaged run manifest"):
            RunFolder(tmp_path, CONFIG).open(**mode)
    assert (tmp_path / "log.json").read_text() == '{"old": true}'


def test_resume_compares_a_hash_of_the_training_code_not_the_commit(tmp_path):
    """Any new commit (even an empty one) blocked --resume, and uncommitted edits went unnoticed."""
    import shutil

    from modern_cnns.parity.runs.runfolder import code_files, code_fingerprint, code_version

    files = code_files()
    keys = {key.split("/")[0] for key, _ in files}
    assert {"modern_cnns.gluon_impl", "modern_cnns.torch_impl", "modern_cnns.data",
            "modern_cnns.parity.runs.reproduce"} <= keys
    copies = []
    for i, (key, path) in enumerate(files):
        copy = tmp_path / f"{i}.py"
        shutil.copy(path, copy)
        copies.append((key, copy))
    assert code_fingerprint(copies) == code_version()  # the content, not where it lies or what git says
    lenet = next(copy for key, copy in copies if key == "modern_cnns.torch_impl/lenet.py")
    lenet.write_text(lenet.read_text() + "\n# an uncommitted edit\n")
    assert code_fingerprint(copies) != code_version()


@needs_torch
@pytest.mark.slow  # a live lock is refused in the quick loop: test_a_live_lock_refuses_and_a_dead_one_is_taken_over
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
