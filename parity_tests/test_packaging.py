"""One name per module, and a wheel that carries every module: what tools and users import.

The source keeps the top-level folders readers expect (``parity/``, ``gluon_impl/``, ``torch_impl/``,
``data/``); ``modern_cnns/`` links to each of them, so that ``modern_cnns.parity`` is a plain package
that mypy, pyright and editors follow, and ``python -m parity`` from a checkout stands aside for it.
"""
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from parity_tests.conftest import REPO, copy_tracked

FOLDERS = ("parity", "gluon_impl", "torch_impl", "data")

#: runs ``python -m parity reproduce --list`` in this process (as -m does), imports every module of modern_cnns.parity,
#: then prints each loaded module of this checkout as (name, resolved file, id of the module object)
_LOAD_ALL = """
import json, pkgutil, runpy, sys
from importlib import import_module
from pathlib import Path
sys.argv = ["parity", "reproduce", "--list"]  # (`list` would build all 17 networks in both frameworks)
try:
    runpy.run_module("parity", run_name="__main__", alter_sys=True)
except SystemExit as done:
    assert not done.code, done.code
import modern_cnns.parity
for info in pkgutil.walk_packages(modern_cnns.parity.__path__, "modern_cnns.parity."):
    if not info.name.endswith("__main__"):
        import_module(info.name)
repo = Path.cwd().resolve()
ours = [repo / folder for folder in ("modern_cnns", "parity", "gluon_impl", "torch_impl", "data")]
loaded = [(name, str(Path(m.__file__).resolve()), id(m)) for name, m in list(sys.modules.items())
          if getattr(m, "__file__", None) and any(Path(m.__file__).resolve().is_relative_to(o) for o in ours)]
print(json.dumps(loaded))
"""


def test_python_m_parity_loads_every_module_once_under_one_name():
    proc = subprocess.run([sys.executable, "-c", _LOAD_ALL], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    by_file = {}
    for name, path, identity in loaded:
        by_file.setdefault(path, set()).add(identity)
    twice = {path: ids for path, ids in by_file.items() if len(ids) > 1}
    assert not twice, f"loaded as two module objects: {twice}"
    names = {name for name, _, _ in loaded}
    assert {"modern_cnns.parity.cli", "modern_cnns.parity.verdict.check", "modern_cnns.parity.weights.transfer"} \
        <= names
    # every project module has its one name beneath modern_cnns (`parity` is only the alias -m needed)
    aliases = ("parity", "__main__", "__mp_main__")  # -m's alias, and the script -m runs
    assert all(name.startswith("modern_cnns") or name in aliases for name in names), sorted(names)


def test_parity_and_modern_cnns_parity_are_one_module():
    import modern_cnns.parity
    import parity

    assert parity is modern_cnns.parity


def test_modern_cnns_links_each_top_level_folder():
    for folder in FOLDERS:
        link = REPO / "modern_cnns" / folder
        assert link.is_symlink() and link.resolve() == (REPO / folder).resolve(), link


def test_the_wheel_carries_every_module_and_the_reference_data(tmp_path):
    """Built from a copy of the tracked files, as a fresh clone is: a build in this checkout rewrites the
    ``modern_cnns_parity.egg-info`` that ``importlib.metadata`` reads here (a run's record does) while other
    tests run."""
    checkout = copy_tracked(tmp_path / "checkout", "pyproject.toml", "README.md", "modern_cnns", *FOLDERS)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), str(checkout)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    wheel, = tmp_path.glob("modern_cnns_parity-*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())
    tracked = subprocess.run(["git", "ls-files", *FOLDERS], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.split()
    expected = {f"modern_cnns/{path}" for path in tracked if path.endswith(".py") or "/reference/" in path}
    assert expected and expected <= inside, sorted(expected - inside)
    assert {"modern_cnns/__init__.py", "modern_cnns/__main__.py"} <= inside
    assert not [name for name in inside if name.split("/")[0] in FOLDERS]  # only the one name is installed
    entry = next(n for n in inside if n.endswith("entry_points.txt"))
    assert "modern-cnns = modern_cnns.parity.__main__:run" in zipfile.ZipFile(wheel).read(entry).decode()


def test_python_m_modern_cnns_runs_the_same_command_line():
    proc = subprocess.run([sys.executable, "-m", "modern_cnns", "reproduce", "--list"], cwd=Path("/"),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "bn_lenet_scratch" in proc.stdout, proc.stderr[-2000:]
