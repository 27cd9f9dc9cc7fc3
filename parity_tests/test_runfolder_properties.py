"""Property-based: run folders seeded with a user's files, other runs and damaged files.

Whatever the tree and the way in (new, ``--resume``, ``--overwrite``), a run ends in a refusal
the command line turns into an ``error:`` line, or in a run; the user's files are byte-identical
afterwards; a refused run changes nothing at all.  The fast properties drive the run-folder API
(a run simulated with the tool's own writers); the slow ones the command line with tiny runs.
"""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from modern_cnns.parity.runs.runfolder import LOCK, RunFileError, RunFolder, RunFolderError
from modern_cnns.parity.weights.checkpoint import CheckpointError, EpochCheckpoints, atomic_write
from parity_tests.conftest import REPO, needs_torch

CONFIG = {"experiment": "bn_lenet_scratch", "frameworks": ["torch"], "lr": 1.0, "batch_size": 256, "seed": 0,
          "limit_batches": 1, "dtype": "float32", "device": "cpu", "code": "test"}

#: names a user may well have, the run's own among them, and odd ones
NAMES = st.sampled_from(["notes.txt", "results.md", "log.json", "curves.png", "run.json", "torch", "gluon", "sub",
                         "checkpoint.json", "model-epoch1.pt", "optimizer-epoch1.states", ".lock", ".replaced-x",
                         "é ü.md", "a b", ".hidden", "data.bin", f".notes.parity-{os.getpid()}-abcdefgh.tmp"])
PATHS = st.lists(NAMES, min_size=1, max_size=3).map(lambda parts: Path(*parts))
CONTENT = st.one_of(st.binary(max_size=64), st.sampled_from([b"", b"{", b'{"config": 1}', b"\x00" * 10]))
USER_TREES = st.dictionaries(PATHS, CONTENT, max_size=6)

#: the run's files, damaged: (path, content) written over a finished run
DAMAGE = st.sampled_from([None, ("run.json", b""), ("run.json", b"{"), ("run.json", b"[]"),
                          ("torch/checkpoint.json", b""), ("torch/checkpoint.json", b'{"epoch": -1}'),
                          ("torch/checkpoint.json", b"{"), ("torch/model-epoch1.pt", b"garbage"),
                          ("log.json", b"NaN")])


def _write_tree(root: Path, tree: dict) -> dict:
    """Write the user's files (skipping ones a file or folder already blocks); return what was written."""
    written = {}
    for rel, content in tree.items():
        path = root / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                continue
            path.write_bytes(content)
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            continue
        written[path] = content
    return written


def _snapshot(root: Path) -> dict:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


def _simulated_run(folder: RunFolder, fail_before_checkpoint: bool, epochs: int = 1) -> None:
    """What a torch run writes, with the tool's own writers: a checkpoint per epoch, then the outputs."""
    if fail_before_checkpoint:
        raise ZeroDivisionError("the run died before its first checkpoint")
    ckpt = EpochCheckpoints(folder.path / "torch")
    history = []
    for epoch in range(epochs):
        history.append({"epoch": epoch + 1, "loss": float("nan"), "train_acc": 0.1, "test_acc": 0.1})
        ckpt.save(epoch, lambda p: atomic_write(p, lambda tmp: Path(tmp).write_bytes(b"model")),
                  lambda tmp: Path(tmp).write_bytes(b"optimizer"), np.random.default_rng(0).bit_generator.state,
                  history, ".pt")
        folder.first_checkpoint_written()
    for name in ("log.json", "results.md", "curves.png"):
        atomic_write(folder.path / name, lambda tmp: Path(tmp).write_text("{}"))


def _finished(root: Path, config=CONFIG) -> None:
    with RunFolder(root, config).open() as folder:
        _simulated_run(folder, False)


#: what the command line turns into an ``error:`` line (exit 1 or 2): nothing else may come out
REFUSALS = (RunFolderError, CheckpointError, RunFileError)


def _check_one(root: Path, tree: dict, our_run: bool, nested_run: bool, damage, mode: str, fail: bool):
    if our_run:
        _finished(root)
        if damage:
            (root / damage[0]).parent.mkdir(parents=True, exist_ok=True)
            if (root / damage[0]).is_dir():
                shutil.rmtree(root / damage[0])
            (root / damage[0]).write_bytes(damage[1])
    if nested_run:  # made elsewhere and moved in (a run is refused inside another run's folder)
        elsewhere = root.parent / "elsewhere-inner"
        _finished(elsewhere)
        (root / "sub").mkdir(parents=True, exist_ok=True)
        shutil.move(str(elsewhere), str(root / "sub" / "inner"))
    ours = _snapshot(root)
    mine = _write_tree(root, tree)
    before = _snapshot(root)
    refused = False
    try:
        with RunFolder(root, {**CONFIG, "seed": 1 if mode == "new-settings" else 0}).open(
                resume=mode == "resume", overwrite=mode == "overwrite") as folder:
            _simulated_run(folder, fail)
    except REFUSALS as err:
        refused = True
        assert str(err)
    except ZeroDivisionError:
        pass
    after = _snapshot(root)
    # an empty (or cut short) .lock at the top is what a run that died taking the lock leaves: stale, on purpose
    mine = {p: c for p, c in mine.items()
            if not (p == root / LOCK and (not c.strip() or c.startswith(b'{"pid": ')))}
    for path, content in mine.items():  # the user's files, byte for byte, where they were
        assert after.get(path) == content, (path, sorted(after))
    if refused:  # a refused run changes nothing, but for a dead run's stale lock, which it took over and released
        stale = {root / LOCK} - set(mine)
        assert {p: c for p, c in after.items() if p not in stale} == {p: c for p, c in before.items() if p not in stale}
    if nested_run:
        assert refused and {p: c for p, c in after.items() if "inner" in p.parts} == \
            {p: c for p, c in ours.items() if "inner" in p.parts}
    assert root / LOCK in mine or not (root / LOCK).is_file()  # released (a folder .lock is the user's)
    assert not [p for p in root.rglob("*.tmp") if f".parity-{os.getpid()}-" in p.name and p.is_file() and p not in mine]
    assert not [p for p in root.iterdir() if p.name.startswith(".replaced-2")]  # nothing piles up


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=USER_TREES, our_run=st.booleans(), nested_run=st.booleans(), damage=DAMAGE,
       mode=st.sampled_from(["new", "new-settings", "resume", "overwrite"]), fail=st.booleans())
def test_user_files_survive_any_run_folder_and_any_way_in(tree, our_run, nested_run, damage, mode, fail):
    from unittest import mock

    # fsync is durability, not ownership: skipped here, it costs ~20 ms a file on a busy disk
    with tempfile.TemporaryDirectory() as folder, mock.patch("os.fsync"):
        _check_one(Path(folder) / "out", tree, our_run, nested_run, damage, mode, fail)


@settings(max_examples=80, deadline=None)
@given(meta=st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                         lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                             st.sampled_from(["epoch", "model", "optimizer", "history", "data_rng", "superseded",
                                              "x"]), inner, max_size=6), max_leaves=12))
@example(meta={"epoch": None, "superseded": True})  # found by this test: a TypeError in written()
def test_any_checkpoint_json_loads_or_is_a_damaged_checkpoint(meta):
    import json

    with tempfile.TemporaryDirectory() as folder:
        ckpt = EpochCheckpoints(Path(folder))
        ckpt.meta.write_text(json.dumps(meta))
        for name in ("model-epoch1.pt", "optimizer-epoch1.states"):
            (Path(folder) / name).write_bytes(b"x")
        try:
            loaded = ckpt.load_meta()
        except CheckpointError as err:
            assert "damaged checkpoint" in str(err)
        else:
            assert loaded["epoch"] == len(loaded["history"])
        assert sorted(ckpt.written()) == sorted(set(ckpt.written()))


@settings(max_examples=60, deadline=None)
@given(log=st.one_of(st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
                     st.recursive(st.none() | st.integers() | st.floats() | st.text(max_size=6),
                                  lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                                      st.sampled_from(["experiment", "history", "lr", "batch_size", "seed", "gluon",
                                                       "epoch", "loss", "first_bn", "reference", "limit_batches"]),
                                      inner, max_size=6), max_leaves=14).map(
                         lambda d: __import__("json").dumps(d))))
def test_any_log_json_renders_or_is_an_error(log):
    from modern_cnns.parity.runs.outputs import _checked_log

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "log.json"
        path.write_text(log)
        try:
            _checked_log(path)
        except RunFileError as err:
            assert str(err).startswith(f"{path}: damaged run log")


# --------------------------------------------------------------------------- the command line (slow)
def _cli(out, *extra):
    return subprocess.run([sys.executable, "-m", "parity", "reproduce", "bn_lenet_scratch", "--framework", "torch",
                           "--epochs", "1", "--limit-batches", "1", "--out", str(out), *extra], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


@needs_torch
@pytest.mark.slow
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=USER_TREES, mode=st.sampled_from([[], ["--resume"], ["--overwrite"]]), nested_run=st.booleans())
def test_the_command_line_on_any_tree_ends_in_a_run_or_an_error_line(tree, mode, nested_run):
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out"
        out.mkdir()
        if nested_run:
            _finished(out / "sub" / "inner")
        mine = _write_tree(out, tree)
        before = _snapshot(out)
        proc = _cli(out, *mode)
        assert proc.returncode in (0, 1, 2, 3) and "Traceback" not in proc.stderr, proc.stderr[-3000:]
        if proc.returncode:
            assert [line for line in proc.stderr.splitlines() if line.startswith("error: ")], proc.stderr[-3000:]
            assert _snapshot(out) == before
        after = _snapshot(out)
        assert all(after.get(path) == content for path, content in mine.items())
