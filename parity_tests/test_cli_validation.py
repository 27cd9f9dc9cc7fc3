"""Careless and hostile input to the CLI: a clear ``error:`` line and exit code 2, before any work."""
import json
import subprocess
import sys

import pytest

from parity_tests.cli_inprocess import run_main
from parity_tests.conftest import REPO, needs_both, needs_gluon


def run_cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "parity", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


#: (arguments, what the error line must say)
BAD_OPTIONS = [
    (["check", "--steps", "0"], "--steps: must be a positive integer, got 0"),
    (["check", "--batch-size", "-3"], "--batch-size: must be a positive integer, got -3"),
    (["check", "--jobs", "0"], "--jobs: must be a positive integer, got 0"),
    (["check", "lenet", "--steps", "99999999999999999999"], "--steps: must be at most 1000"),
    (["check", "--seed", "-1"], "--seed: must be >= 0, got -1"),
    (["check", "--json", "/etc/hostname/r.json"], "--json: /etc/hostname is not a folder"),
    (["check", "--markdown", "/proc/r.md"], "--markdown: /proc is not writable"),
    (["check", "--markdown", "/proc/new/r.md"], "--markdown: /proc is not writable"),
    (["reproduce", "bn_lenet_scratch", "--epochs", "0"], "--epochs: must be a positive integer, got 0"),
    (["reproduce", "bn_lenet_scratch", "--epochs", "-1"], "--epochs: must be a positive integer, got -1"),
    (["reproduce", "bn_lenet_scratch", "--batch-size", "0"], "--batch-size: must be a positive integer, got 0"),
    (["reproduce", "bn_lenet_scratch", "--lr", "0"], "--lr: must be a finite number > 0, got 0"),
    (["reproduce", "bn_lenet_scratch", "--lr", "nan"], "--lr: must be a finite number > 0, got nan"),
    (["reproduce", "bn_lenet_scratch", "--lr", "inf"], "--lr: must be a finite number > 0, got inf"),
    (["reproduce", "bn_lenet_scratch", "--limit-batches", "0"], "--limit-batches: must be a positive integer"),
    (["reproduce", "bn_lenet_scratch", "--out", "/proc/run"], "--out: /proc is not writable"),
    (["lockstep", "bn_lenet_scratch", "--every", "0"], "--every: must be a positive integer, got 0"),
    (["lockstep", "bn_lenet_scratch", "--lr", "-1"], "--lr: must be a finite number > 0, got -1"),
    (["summary", "lenet", "--batch-size", "0"], "--batch-size: must be a positive integer, got 0"),
    (["convert", "--model", "lenet", "a.params", "/proc/b.pt"], "dst: /proc is not writable"),
    (["convert", "--model", "lenet", "a.params", "/etc/hostname/b.pt"], "dst: /etc/hostname is not a folder"),
]


@pytest.mark.parametrize("args,message", BAD_OPTIONS, ids=[" ".join(a) for a, _ in BAD_OPTIONS])
def test_bad_options_are_refused_before_any_work(args, message):
    proc = run_cli(*args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "error: argument " + message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not proc.stdout


#: unknown names, wherever a name is taken: one line listing the valid ones, exit 2
UNKNOWN_NAMES = [["check", "resnet50"], ["summary", "resnet50"], ["reproduce", "resnet50"],
                 ["lockstep", "resnet50"], ["convert", "--model", "resnet50", "a.params", "b.pt"]]


@pytest.mark.parametrize("args", UNKNOWN_NAMES, ids=[a[0] for a in UNKNOWN_NAMES])
def test_unknown_names_get_the_list_of_valid_ones(args, tmp_path):
    proc = run_cli(*[str(tmp_path / a) if a.endswith((".params", ".pt")) else a for a in args])
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: unknown ") and "valid" in proc.stderr and "Traceback" not in proc.stderr


@needs_both
def test_report_folders_that_do_not_exist_yet_are_created(tmp_path):
    """The main job writes reports/parity.json on a fresh clone, where reports/ does not exist."""
    report = tmp_path / "reports" / "new" / "parity.json"
    code, out, err = run_main("check", "lenet", "--dtype", "float64", "--json", str(report))
    assert code == 0, out + err
    assert json.loads(report.read_text())["passed"] is True


@needs_gluon
def test_a_batch_mxnet_cannot_index_is_refused_before_any_allocation():
    """It was numpy's MemoryError (exit 1); 2^31 elements or more is a usage error, whatever the memory.
    Real allocation failures: test_api_contract.py::test_each_frameworks_allocation_failure_is_one_error_line."""
    proc = run_cli("summary", "lenet", "--framework", "gluon", "--batch-size", "99999999999")
    assert proc.returncode == 2 and proc.stderr.startswith("error: the input batch 99999999999x1x28x28 has "), \
        proc.stderr[-2000:]
    assert "indexes at most 2,147,483,646" in proc.stderr and "Traceback" not in proc.stderr


def test_json_report_is_strict_even_with_nan_inf_and_numpy_scalars():
    import numpy as np

    from modern_cnns.parity.verdict.check import Result, Row
    from modern_cnns.parity.verdict.checks import PREDICT, TRAIN
    from modern_cnns.parity.verdict.report import to_json

    rows = [Row(PREDICT, float("nan"), np.float64("nan"), "rel <= 1e-05", np.bool_(False)),
            Row(TRAIN, float("inf"), np.float32(1.5), "rel <= 1e-05", np.bool_(False))]
    text = to_json([Result("lenet", "cpu", "float32", 2, rows=rows)], np.float64(1.0))

    def refuse(token):
        raise AssertionError(f"non-standard JSON token {token}")

    data = json.loads(text, parse_constant=refuse)
    first, second = data["results"][0]["rows"]
    assert (first["check"], second["check"]) == ("predict output", "train output")  # checks by name, as printed
    assert first["max_rel"] is None and first["max_rel note"] == "not a number" and first["passed"] is False
    assert second["max_abs"] is None and second["max_abs note"] == "inf" and second["max_rel"] == 1.5
    assert data["passed"] is False


@needs_both
def test_an_unavailable_device_is_skipped_with_its_own_exit_code_and_a_fresh_report(tmp_path):
    from modern_cnns.parity.frameworks import device_skip_reason

    if device_skip_reason("gpu") is None:
        pytest.skip("this machine has a GPU in both frameworks: nothing to skip")
    report = tmp_path / "r.json"
    report.write_text('{"results": [], "passed": true, "cpu numerics": {}, "stale": true}')  # an old report of ours
    proc = run_cli("check", "lenet", "--device", "gpu", "--json", str(report))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    data = json.loads(report.read_text())
    assert "stale" not in data and data["passed"] is False and data["skipped"].startswith("gpu: ")
