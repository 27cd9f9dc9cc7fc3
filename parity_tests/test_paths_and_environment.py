"""Output paths (defaults included), links, long names, a full disk, a read-only folder, and the variables
MXNet reads when it loads: each an ``error:`` line with its exit code, checked before any work."""
import errno
import json
import os
import subprocess
import sys

import pytest

from parity_tests.cli_inprocess import run_main
from parity_tests.conftest import REPO, needs_both, needs_torch


def run_cli(*args, cwd=REPO, env=None, module="parity", timeout=600):
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture
def small_mount(tmp_path):
    """A 256 KiB tmpfs of its own: fillable to "disk full", and remountable read-only (root can write anywhere
    else).  Skipped where this process may not mount."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs (a full disk, a read-only folder)")
    mount = tmp_path / "mnt"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(mount):
    with open(mount / "filler", "ab", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as err:
            assert err.errno == errno.ENOSPC


def _read_only(mount):
    proc = subprocess.run(["mount", "-o", "remount,ro", str(mount)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_disk_full_while_taking_the_lock_says_so_and_leaves_no_lock(small_mount):
    """It was a traceback, and the empty .lock it left refused every later run ("pid None on None")."""
    out = small_mount / "run"
    out.mkdir()
    _fill(small_mount)
    proc = run_cli("reproduce", "bn_lenet_scratch", "--framework", "torch", "--out", str(out))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert f"error: {out}/.lock: disk full" in proc.stderr
    assert list(out.iterdir()) == []  # no lock, no temporary, no run.json


@needs_torch
def test_a_framework_write_on_a_full_disk_says_disk_full(small_mount):
    """torch.save says 'file write failed' (MXNet: a C++ check): the error says what it means."""
    import torch

    from modern_cnns.parity.paths import os_error_line
    from modern_cnns.parity.weights.checkpoint import atomic_write

    _fill(small_mount)
    with pytest.raises(OSError) as err:
        atomic_write(small_mount / "model.pt", lambda tmp: torch.save(torch.zeros(100000), tmp))
    assert err.value.errno == errno.ENOSPC and "disk full" in os_error_line(err.value)
    assert [p.name for p in small_mount.iterdir()] == ["filler"]  # the temporary is gone too


def test_render_on_a_read_only_folder_is_refused_clearly(small_mount):
    (small_mount / "log.json").write_text(json.dumps({"experiment": "bn_lenet_scratch", "history": {"gluon": []},
                                                      "lr": 1.0, "batch_size": 256, "seed": 0}))
    (small_mount / "run.json").write_text(json.dumps({"config": {"experiment": "bn_lenet_scratch"}}))  # a run's
    _read_only(small_mount)
    proc = run_cli("reproduce", "--render", str(small_mount))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert f"error: {small_mount} is not writable: --render writes curves.png and results.md there" in proc.stderr


def test_the_default_out_in_a_read_only_checkout_is_refused_up_front(small_mount):
    """The default runs/NAME is relative to where the command runs: checked like a given --out."""
    _read_only(small_mount)
    proc = run_cli("reproduce", "bn_lenet_scratch", cwd=small_mount, module="modern_cnns")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "error: the default --out runs/bn_lenet_scratch:" in proc.stderr and "is not writable" in proc.stderr


#: (arguments with PATH for a path in tmp_path, what the error says)
BAD_PATHS = [
    (["reproduce", "bn_lenet_scratch", "--out", "PATH/" + "r" * 300], "is 300 bytes long; this filesystem allows"),
    (["check", "lenet", "--json", "PATH/" + "j" * 300 + ".json"], "is 305 bytes long"),
    (["check", "lenet", "--markdown", "PATH/" + "m" * 256], "is 256 bytes long"),
    (["reproduce", "bn_lenet_scratch", "--out", "PATH/dangling"], "dangling is a symbolic link to"),
    (["reproduce", "bn_lenet_scratch", "--out", "PATH/a-file"], "a-file exists and is not a folder"),
]


@pytest.mark.parametrize("args,message", BAD_PATHS, ids=[m for _, m in BAD_PATHS])
def test_bad_output_paths_are_refused_before_any_work(tmp_path, args, message):
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere" / "run")
    (tmp_path / "a-file").write_text("mine")
    proc = run_cli(*[a.replace("PATH", str(tmp_path)) for a in args])
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert message in proc.stderr and "error: argument" in proc.stderr, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "dangling"]


def test_a_destination_whose_temporary_name_would_be_too_long_is_written(tmp_path):
    """A legal 250-byte name: '.NAME.PID.RANDOM.tmp' beside it would exceed NAME_MAX (it failed at the end)."""
    from modern_cnns.parity.weights.checkpoint import atomic_write, clean_stale_temps

    for name in ("x" * 250 + ".json", "é" * 120 + ".md"):  # bytes, not characters, are what the limit counts
        path = tmp_path / name
        atomic_write(path, lambda tmp: open(tmp, "w").write("{}"))
        assert path.read_text() == "{}"
        assert clean_stale_temps(path) == []
    assert len(list(tmp_path.iterdir())) == 2  # no temporary left


@needs_both
def test_reports_on_a_symlink_are_written_through_and_long_names_work(tmp_path):
    """--json/--markdown on a link replaced the link with a file."""
    target = tmp_path / "real" / "report.md"
    target.parent.mkdir()
    target.write_text("# Parity report (an old one, which a check replaces)\n")
    link = tmp_path / "report-link.md"
    link.symlink_to(target)
    long_json = tmp_path / ("r" * 247 + ".json")  # legal (252 bytes); its temporary's name would not be
    # in this process (parity.cli.main): the check itself is the quick loop's; a child would load both frameworks
    code, _, err = run_main("check", "lenet", "--dtype", "float64", "--steps", "1", "--markdown", link, "--json",
                            long_json)
    assert code == 0, err[-2000:]
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text().startswith("# Parity report: MXNet Gluon")
    assert json.loads(long_json.read_text())["passed"] is True


#: (variable, value, what the error says); each aborted MXNet (exit 134) or failed every check
BAD_ENVIRONMENT = [
    ("OMP_NUM_THREADS", "abc", "OMP_NUM_THREADS='abc' must be a positive integer"),
    ("OMP_NUM_THREADS", "4,2", "OMP_NUM_THREADS='4,2' must be a positive integer"),
    ("OMP_NUM_THREADS", "2.5", "OMP_NUM_THREADS='2.5' must be a positive integer"),
    ("MXNET_OMP_MAX_THREADS", "x", "MXNET_OMP_MAX_THREADS='x' must be a positive integer"),
    ("MXNET_ENGINE_TYPE", "garbage", "MXNET_ENGINE_TYPE='garbage' is not an MXNet engine; use one of NaiveEngine"),
]


@pytest.mark.parametrize("var,value,message", BAD_ENVIRONMENT, ids=[f"{v}={x}" for v, x, _ in BAD_ENVIRONMENT])
@pytest.mark.parametrize("command", [["check", "lenet"], ["reproduce", "bn_lenet_scratch", "--out", "OUT"]])
def test_thread_and_engine_variables_are_checked_before_mxnet_loads(tmp_path, var, value, message, command):
    """OMP_NUM_THREADS=abc aborted with exit 134; MXNET_ENGINE_TYPE=garbage was reported as a parity FAIL."""
    env = {**os.environ, var: value}
    proc = run_cli(*[str(tmp_path / "run") if a == "OUT" else a for a in command], env=env, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and message in proc.stderr, proc.stderr[-2000:]
    assert not (tmp_path / "run").exists()


def test_valid_thread_and_engine_settings_pass():
    from modern_cnns.parity.frameworks import environment_problems

    assert environment_problems({"OMP_NUM_THREADS": "2", "MXNET_ENGINE_TYPE": "NaiveEngine"}) == []
    assert environment_problems({"OMP_NUM_THREADS": "", "MXNET_OMP_MAX_THREADS": " 4"}) == []
