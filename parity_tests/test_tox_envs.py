"""tox.ini and its inline plugin (toxfile.py): the full-stack envs share one folder, for real.

tox 4 keys an env folder by the name of the env that set it up and rebuilds it for any other name,
so ``env_dir`` alone made every switch between py311, type, report and isa-* a 7.5-minute reinstall.
"""
import importlib.util
import re
import subprocess
import sys

import pytest

from parity_tests.conftest import REPO

needs_tox = pytest.mark.skipif(importlib.util.find_spec("tox") is None,
                               reason="tox is not installed in this environment (.ci/run installs it first)")
FULL_STACK = ("py311", "type", "report", "isa-sse41", "isa-avx2", "isa-avx512")
OWN_STACK = ("gluon", "torch", "lint")


def _tox(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "tox", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@needs_tox
def test_the_full_stack_envs_name_one_folder_and_one_runner_and_the_others_their_own():
    proc = _tox("config", "-e", ",".join(FULL_STACK + OWN_STACK), "-k", "runner", "env_dir")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    config = {env: (runner, path) for env, runner, path in
              re.findall(r"^\[testenv:([\w-]+)\]\nrunner = (\S+)\nenv_dir = (\S+)$", proc.stdout, re.M)}
    assert set(config) == set(FULL_STACK + OWN_STACK), proc.stdout
    assert {config[env] for env in FULL_STACK} == {("full-stack", str(REPO / ".tox" / "full"))}, config
    for env in OWN_STACK:
        assert config[env] == ("virtualenv", str(REPO / ".tox" / env)), config


@needs_tox
def test_switching_between_env_names_reuses_the_shared_folder(tmp_path):
    """The plugin on a project of two envs that share a folder, as the full-stack ones do: nothing to install,
    so each run takes a second; without the plugin the second name recreates the folder."""
    (tmp_path / "toxfile.py").write_text((REPO / "toxfile.py").read_text())
    (tmp_path / "tox.ini").write_text(
        "[tox]\nrequires = tox==4.67.15\n\n[testenv]\nrunner = full-stack\nskip_install = true\n"
        "env_dir = {toxworkdir}{/}full\ncommands = python -c \"import sys; print('prefix', sys.prefix)\"\n\n"
        "[testenv:first]\n\n[testenv:second]\n")
    outputs = []
    for env in ("first", "second", "first"):
        proc = _tox("-e", env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        outputs.append(proc.stdout)
    assert all(f"prefix {tmp_path / '.tox' / 'full'}" in out for out in outputs), outputs
    assert not any("recreate" in out for out in outputs), outputs
