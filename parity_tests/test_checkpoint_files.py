"""Checkpoint files: damaged bytes refused, reproducible output, umask honoured, killed writes cleaned."""
import os
import signal
import subprocess
import sys
import time
import zipfile

import pytest

from modern_cnns.parity.catalog import registry
from parity_tests.conftest import REPO, needs_both, needs_torch


def _torch_checkpoint(path, name="lenet"):
    from modern_cnns.parity.weights.checkpoint import save_torch

    save_torch(registry.get(name).build_torch(), path)
    return path


@needs_torch
def test_a_pt_whose_tensor_bytes_are_damaged_is_refused_by_its_crc(tmp_path):
    from modern_cnns.parity.weights.checkpoint import CheckpointError, read_torch

    path = _torch_checkpoint(tmp_path / "a.pt")
    with zipfile.ZipFile(path) as archive:
        member = next(i for i in archive.infolist() if "/data/" in i.filename and i.file_size > 64)
    raw = bytearray(path.read_bytes())
    # the member's bytes start after its local header (30 bytes + name + extra field)
    start = member.header_offset + 30 + len(member.filename.encode()) + len(member.extra)
    raw[start + member.file_size // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match=f"CRC of {member.filename} does not match"):
        read_torch(path)


@needs_both
def test_the_cli_refuses_a_damaged_pt_with_an_error_line(tmp_path):
    path = _torch_checkpoint(tmp_path / "a.pt")
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # somewhere in the tensor data
    path.write_bytes(bytes(raw))
    proc = subprocess.run([sys.executable, "-m", "parity", "convert", "--model", "lenet", str(path),
                           str(tmp_path / "b.params")], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and proc.stderr.startswith("error: ") and "damaged" in proc.stderr, proc.stderr
    assert not (tmp_path / "b.params").exists()


@needs_torch
def test_identical_saves_give_identical_bytes(tmp_path):
    import torch

    torch.manual_seed(0)
    module = registry.get("lenet").build_torch()
    from modern_cnns.parity.weights.checkpoint import save_torch

    save_torch(module, tmp_path / "a.pt")
    save_torch(module, tmp_path / "b.pt")
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_honour_the_umask(tmp_path, umask, mode):
    from modern_cnns.parity.weights.checkpoint import atomic_write

    old = os.umask(umask)
    try:
        atomic_write(tmp_path / "f.json", lambda tmp: open(tmp, "w").write("{}"))
    finally:
        os.umask(old)
    assert (tmp_path / "f.json").stat().st_mode & 0o777 == mode


@needs_both
@pytest.mark.slow
def test_a_convert_killed_mid_write_leaves_the_old_file_and_its_temporary_is_cleaned_next_time(tmp_path):
    from modern_cnns.parity.weights.checkpoint import save_gluon
    from modern_cnns.parity.weights.init import initialize_gluon

    entry = registry.get("vgg11")  # 515 MB: the write takes long enough to be caught in the middle
    save_gluon(initialize_gluon(entry.build_gluon(), entry.batch_shape(1)), tmp_path / "a.params")
    dst = tmp_path / "b.pt"
    dst.write_bytes(b"the previous conversion")
    args = [sys.executable, "-m", "parity", "convert", "--model", "vgg11", str(tmp_path / "a.params"), str(dst)]
    child = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not list(tmp_path.glob(".b.pt.*.tmp")):
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    leftovers = list(tmp_path.glob(".b.pt.*.tmp"))
    assert leftovers, "the kill came too late to leave a temporary file"
    assert dst.read_bytes() == b"the previous conversion"  # untouched
    proc = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert not list(tmp_path.glob(".b.pt.*.tmp"))  # cleaned at the next start
    assert zipfile.ZipFile(dst).testzip() is None


def _params_file(tmp_path, name):
    from modern_cnns.parity.weights.checkpoint import save_gluon
    from modern_cnns.parity.weights.init import initialize_gluon

    entry = registry.get(name)
    path = tmp_path / f"{name}.params"
    save_gluon(initialize_gluon(entry.build_gluon(), entry.batch_shape(1)), path)
    return path


@pytest.mark.parametrize("name", ["lenet", "bn_lenet_scratch", "resnet"])
def test_params_files_written_by_mxnet_pass_the_structure_check(tmp_path, name):
    pytest.importorskip("mxnet", reason="mxnet is not installed in this environment")
    from modern_cnns.parity.weights.checkpoint import _verify_params

    _verify_params(_params_file(tmp_path, name))  # raises if our reading of the format were wrong


#: (damage, what the error says); the first array's first dimension sits at byte 36
PARAMS_DAMAGE = [
    (lambda raw: raw[:-100], "ends at byte"),
    (lambda raw: raw + b"\0\0", "2 unexpected bytes after the last name"),
    (lambda raw: raw[:36] + (10 ** 6).to_bytes(8, "little") + raw[44:], r"array 0 of shape \(1000000, 1, 5, 5\) needs"),
]


@pytest.mark.parametrize("damage,message", PARAMS_DAMAGE, ids=["truncated", "extended", "wrong shape"])
def test_a_damaged_params_file_is_refused_before_mxnet_reads_it(tmp_path, damage, message):
    pytest.importorskip("mxnet", reason="mxnet is not installed in this environment")
    from modern_cnns.parity.weights.checkpoint import CheckpointError, read_gluon

    path = _params_file(tmp_path, "lenet")
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CheckpointError, match=f"damaged Gluon .params file: .*{message}"):
        read_gluon(path)
