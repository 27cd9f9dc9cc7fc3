"""tox.ini and its inline plugin (toxfile.py): the full-stack envs share one folder, for real.

tox 4 keys an env folder by the name of the env that set it up and rebuilds it for any other name,
so ``env_dir`` alone made every switch between py311, type, report and isa-* a 7.5-minute reinstall.
"""
import importlib.util
import os
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
    """tox as a maintainer runs it, without the ``TOX_*`` variables of a tox env this suite may run in (tox
    honours ``TOX_WORK_DIR``: the toy project below would have removed that env's own folder)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOX_")}
    return subprocess.run([sys.executable, "-m", "tox", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


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
    # one folder holds one stack: the same locked requirements for every env that shares it
    deps = _tox("config", "-e", ",".join(FULL_STACK), "-k", "deps")
    assert len(set(re.findall(r"^deps = (.+)$", deps.stdout, re.M))) == 1, deps.stdout
    # any other env gets a folder of its own (a py312 on the shared one rebuilt it for another Python)
    other = _tox("config", "-e", "py312", "-k", "runner", "env_dir")
    assert f"runner = virtualenv\nenv_dir = {REPO / '.tox' / 'py312'}" in other.stdout, other.stdout


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
    # two at once, on a fresh folder: the setup is locked, one after the other (without, virtualenv could crash)
    (tmp_path / ".tox").rename(tmp_path / "old-tox")
    both = _tox("-p", "-e", "first,second", cwd=tmp_path)
    assert both.returncode == 0 and "recreate" not in both.stdout, both.stdout + both.stderr
