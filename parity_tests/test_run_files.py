"""A run's files, damaged or contradicted: ``error: FILE: damaged ...`` (exit 1) or a refusal (exit 2), never a
traceback; and every file a run writes is strict JSON."""
import json
import re
import shutil
import subprocess
import sys

import pytest

from parity_tests.cli_inprocess import run_main
from parity_tests.conftest import REPO, needs_gluon, needs_torch


def run_cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "parity", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def run_here(*args):
    """``python -m parity ARGS`` in this process (``parity.cli.main``), answered as ``run_cli`` answers: a
    one-framework run trains in the calling process, so no second import of the framework is needed."""
    code, out, err = run_main(*args)
    return subprocess.CompletedProcess(args, code, out, err)


def _tiny_run(out, framework, epochs, *extra):
    proc = run_here("reproduce", "bn_lenet_scratch", "--framework", framework, "--epochs", str(epochs),
                   "--limit-batches", "1", "--out", str(out), *extra)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def torch_run(tmp_path_factory):
    """A finished 2-epoch torch run (one batch per epoch)."""
    return _tiny_run(tmp_path_factory.mktemp("torch") / "run", "torch", 2)


def _edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _torch_folder_a_file(out):
    shutil.rmtree(out / "torch")
    (out / "torch").write_text("not a folder")


#: (what the user did, how, what the error line says after "error: <file>: ")
DAMAGE = [
    ("truncated checkpoint.json", lambda out: (out / "torch/checkpoint.json").write_text(
        (out / "torch/checkpoint.json").read_text()[:40]), "torch/checkpoint.json: damaged checkpoint: not JSON"),
    ("empty checkpoint.json", lambda out: (out / "torch/checkpoint.json").write_text(""),
     "torch/checkpoint.json: damaged checkpoint: not JSON"),
    ("missing optimizer state", lambda out: (out / "torch/optimizer-epoch2.states").unlink(),
     "torch/checkpoint.json: damaged checkpoint: it names optimizer-epoch2.states, which is missing"),
    ("garbage optimizer state", lambda out: (out / "torch/optimizer-epoch2.states").write_bytes(b"garbage" * 9),
     "torch/optimizer-epoch2.states: damaged optimizer state"),
    ("torch/ is a file", _torch_folder_a_file, "torch: damaged run layout: a file where the checkpoint folder"),
    ("epoch edited backwards", lambda out: _edit_json(out / "torch/checkpoint.json", lambda d: d.update(epoch=1)),
     "torch/checkpoint.json: damaged checkpoint: model 'model-epoch2.pt' is not this tool's file of epoch 1"),
    ("epoch and files edited backwards", lambda out: _edit_json(
        out / "torch/checkpoint.json", lambda d: d.update(epoch=1, model="model-epoch1.pt",
                                                          optimizer="optimizer-epoch1.states")),
     "torch/checkpoint.json: damaged checkpoint: it names model-epoch1.pt, which is missing"),
    ("history edited", lambda out: _edit_json(out / "torch/checkpoint.json", lambda d: d.update(history=[])),
     "torch/checkpoint.json: damaged checkpoint: its history does not hold one record per epoch 1..2"),
    ("data_rng edited", lambda out: _edit_json(out / "torch/checkpoint.json", lambda d: d.update(data_rng=3)),
     "torch/checkpoint.json: damaged checkpoint: data_rng is not a shuffling state"),
]


@needs_torch
@pytest.mark.parametrize("what,damage,message", DAMAGE, ids=[d[0] for d in DAMAGE])
def test_a_damaged_checkpoint_or_layout_is_an_error_line_naming_the_file(torch_run, tmp_path, what, damage, message):
    """They were tracebacks; a `torch/` file silently restarted at epoch 1, then crashed."""
    out = tmp_path / "run"
    shutil.copytree(torch_run, out)
    damage(out)
    proc = run_here("reproduce", "bn_lenet_scratch", "--framework", "torch", "--epochs", "3", "--limit-batches", "1",
                   "--resume", "--out", str(out))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert f"error: {out}/{message}" in proc.stderr, proc.stderr[-3000:]
    assert not (out / ".lock").exists() and (out / "run.json").exists()  # refused: the run is still there


@needs_gluon
@pytest.mark.slow  # a run of its own; the torch optimizer state's damage is in the quick loop (DAMAGE)
def test_a_garbage_gluon_optimizer_state_is_an_error_line(tmp_path):
    out = _tiny_run(tmp_path / "run", "gluon", 1)
    (out / "gluon" / "optimizer-epoch1.states").write_bytes(b"\x00garbage" * 20)
    proc = run_cli("reproduce", "bn_lenet_scratch", "--framework", "gluon", "--epochs", "2", "--limit-batches", "1",
                   "--resume", "--out", str(out))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert f"error: {out}/gluon/optimizer-epoch1.states: damaged optimizer state" in proc.stderr


@needs_torch
def test_a_resume_with_fewer_epochs_than_the_run_has_is_refused(torch_run, tmp_path):
    """`--resume --epochs 1` on a finished 2-epoch run exited 0 with a log that contradicted itself."""
    out = tmp_path / "run"
    shutil.copytree(torch_run, out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    proc = run_here("reproduce", "bn_lenet_scratch", "--framework", "torch", "--epochs", "1", "--limit-batches", "1",
                   "--resume", "--out", str(out))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "has trained 2 epochs in torch: --epochs 1 cannot resume it; give --epochs 2 or more" in proc.stderr
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def _strict(text):
    def refuse(token):
        raise ValueError(f"{token} is not JSON")

    return json.loads(text, parse_constant=refuse)


@needs_torch
@pytest.mark.slow  # strict JSON of non-finite numbers in the quick loop: the round trip below
def test_a_diverged_run_writes_strict_json_with_a_note_for_each_nan(tmp_path):
    """A diverged run wrote NaN tokens into log.json and checkpoint.json (not JSON; jq refuses them)."""
    out = tmp_path / "run"
    proc = run_cli("reproduce", "bn_lenet_scratch", "--framework", "torch", "--epochs", "1", "--limit-batches", "3",
                   "--lr", "1e38", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    log = _strict((out / "log.json").read_text())
    checkpoint = _strict((out / "torch" / "checkpoint.json").read_text())
    for record in (log["history"]["torch"][0], checkpoint["history"][0]):
        assert record["loss"] is None and record["loss note"] == "not a number"
    assert log["first_bn"]["torch note"]  # the NaN gamma/beta, by position
    for name in ("run.json",):
        _strict((out / name).read_text())
    proc = run_cli("reproduce", "--render", str(out))  # the notes read back as the numbers they stand for
    assert proc.returncode == 0, proc.stderr
    assert "| 1 | nan |" in (out / "results.md").read_text()


def test_strict_json_round_trips_every_non_finite_number():
    import math

    from modern_cnns.parity.runs import strictjson

    data = {"a": math.nan, "b": [1.0, math.inf, [-math.inf, 2.0]], "c": {"d": [{"e": math.nan}]}, "f": "text"}
    text = strictjson.dumps(data)
    assert "NaN" not in text and "Infinity" not in text
    back = strictjson.loads(text)
    assert math.isnan(back["a"]) and back["b"][1] == math.inf and back["b"][2][0] == -math.inf
    assert math.isnan(back["c"]["d"][0]["e"]) and back["f"] == "text" and "a note" not in back


def test_an_out_of_range_seed_is_refused_before_the_folder_is_taken(tmp_path):
    """--seed 2**64 failed inside training, after the run folder was taken."""
    from modern_cnns.parity.runs.reproduce import reproduce

    out = tmp_path / "run"
    proc = run_cli("reproduce", "bn_lenet_scratch", "--seed", str(2**64), "--out", str(out))
    assert proc.returncode == 2 and "error: argument --seed: must be at most 4294967295" in proc.stderr
    with pytest.raises(ValueError, match="seed must be an integer from 0 to 4294967295"):
        reproduce("bn_lenet_scratch", seed=2**64, out=out)
    assert not out.exists()


#: malformed log.json contents, and what the error says
MALFORMED_LOGS = [
    ("{", "not JSON"), ("[]", "a JSON object was expected, found list"), ("{}", "no experiment, history, lr"),
    ('{"experiment": "nope", "history": {}, "lr": 1, "batch_size": 1, "seed": 0}', "unknown experiment 'nope'"),
    ('{"experiment": "bn_lenet_scratch", "history": {"gluon": [{"epoch": "1"}]}, "lr": 1, "batch_size": 1, '
     '"seed": 0}', "history['gluon']: each epoch needs"),
    ('{"experiment": "bn_lenet_scratch", "history": {"gluon": []}, "lr": "fast", "batch_size": 1, "seed": 0}',
     "lr 'fast' is not a number"),
    ('{"experiment": "bn_lenet_scratch", "history": {"gluon": []}, "lr": 1, "batch_size": 1, "seed": 0, '
     '"first_bn": {"gluon": [1]}}', "first_bn must map"),
]


@pytest.mark.parametrize("content,message", MALFORMED_LOGS, ids=[m for _, m in MALFORMED_LOGS])
def test_render_of_a_malformed_log_is_an_error_line(tmp_path, content, message):
    """--render on a malformed log.json printed tracebacks."""
    from modern_cnns.parity.runs.outputs import render
    from modern_cnns.parity.runs.runfolder import RunFileError

    (tmp_path / "log.json").write_text(content)
    with pytest.raises(RunFileError, match=f"log.json: damaged run log: .*{re.escape(message)}"):
        render(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.json"]  # nothing drawn


def test_render_cli_exit_codes(tmp_path):
    proc = run_cli("reproduce", "--render", str(tmp_path))
    assert proc.returncode == 2 and "log.json: no such file; --render redraws a finished run" in proc.stderr
    (tmp_path / "log.json").write_text("{")
    proc = run_cli("reproduce", "--render", str(tmp_path))
    assert proc.returncode == 1 and "damaged run log: not JSON" in proc.stderr and "Traceback" not in proc.stderr
