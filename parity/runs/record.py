"""What a finished run records about itself in ``run.json``: code, packages, machine, wall time.

A recorded run is only evidence if a reader can tell what produced it: the code version
(package and git commit), the versions of the packages that compute (MXNet, PyTorch, numpy,
...), the machine (CPU model, cores, memory) and how long it took.  :func:`finish` adds these
to the run folder's ``run.json`` (beside the configuration the folder already keeps there)
when a run ends.
"""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

#: the distributions whose versions determine a run's numbers or its speed
PACKAGES = ("modern-cnns-parity", "mxnet", "torch", "numpy", "opencv-python-headless", "opencv-python",
            "matplotlib", "tqdm")


def package_versions() -> dict:
    """``{distribution: version}`` of :data:`PACKAGES` installed here (absent ones left out)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError):
        pass
    return None


def machine() -> dict:
    """The machine a run ran on: CPU model, cores, memory, OS and Python."""
    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "memory_gib": _memory_gib(),
            "os": platform.platform(), "python": platform.python_version()}


def environment() -> dict:
    """Code version, package versions and machine, as :func:`finish` records them."""
    from modern_cnns.parity.runs.runfolder import code_version

    return {"code": code_version(), "packages": package_versions(), "machine": machine()}


def finish(out, wall_s: float, **extra) -> dict:
    """Add the finished run's record (environment, ``wall_s``, end time, ``extra``) to ``out/run.json``."""
    from modern_cnns.parity.weights.checkpoint import atomic_write

    path = Path(out) / "run.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        manifest = {}
    env = environment()
    # the code the run loaded when it started (the checkout may have moved on since)
    env["code"] = manifest.get("config", {}).get("code", env["code"])
    manifest["record"] = {**env, "wall_s": round(wall_s, 1), "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
                          **extra}
    text = json.dumps(manifest, indent=1)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    return manifest
