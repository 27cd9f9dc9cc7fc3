"""A training run's output folder, owned: one run at a time, never clobbered, resumed only as itself.

* **Lock.** ``DIR/.lock`` holds the owner's pid, host and start time, created with
  ``O_EXCL``.  A lock whose process is gone (same host) is stale and taken over; a
  live one refuses the second run with who holds it.
* **Refuse to clobber.** A folder that holds another run (``run.json``, a
  checkpoint or a report) is only used with ``resume`` (continue it) or
  ``overwrite`` (replace it).  ``overwrite`` first *moves* the old run aside, into
  ``DIR/.replaced-<time>/``, and deletes it only once the new run's first
  checkpoint is durable (:meth:`RunFolder.first_checkpoint_written`): a new run
  that dies early loses nothing.
* **Resume as itself.** ``run.json`` stores the configuration that determines the
  numbers (experiment, frameworks, lr, batch size, seed, limit-batches, dtype,
  code version); ``resume`` refuses a different one and names each differing field.
* **Leftovers.** Temporary files of an interrupted write (``.NAME.*.tmp``, see
  :func:`parity.weights.checkpoint.atomic_write`) are removed when the lock is taken: no
  one else can be writing them then.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

from modern_cnns.parity.frameworks import pid_alive

MANIFEST = "run.json"
LOCK = ".lock"
#: what makes a folder "hold a run"
RUN_MARKERS = (MANIFEST, "log.json", "results.md", "gluon/checkpoint.json", "torch/checkpoint.json")


class RunFolderError(RuntimeError):
    """The folder cannot be used as asked; the message says why and what to do."""


def code_version() -> str:
    """The package version, and the git commit when run from a checkout."""
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    try:
        package = version("modern-cnns-parity")
    except PackageNotFoundError:
        package = "unknown"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{package}+{commit}" if commit else package


def drop_replaced(replaced: Path | None) -> None:
    """Delete a run set aside by ``overwrite`` (:meth:`RunFolder.first_checkpoint_written`).

    Training processes call this with the path after each checkpoint: both frameworks of a
    side-by-side run may get here, and either is enough.
    """
    if replaced is not None:
        shutil.rmtree(replaced, ignore_errors=True)


class RunFolder:
    """Own ``path`` for one run with ``config`` (a dict of the values that determine its numbers)."""

    def __init__(self, path, config: dict):
        self.path, self.config = Path(path), dict(config)
        self.replaced: Path | None = None
        self._locked = False

    # ------------------------------------------------------------------ lock
    def _lock(self):
        lock = self.path / LOCK
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        for _ in range(2):
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    holder = json.loads(lock.read_text())
                except (OSError, ValueError):
                    holder = {}
                pid, host = holder.get("pid"), holder.get("host")
                if host == owner["host"] and isinstance(pid, int) and not pid_alive(pid):
                    lock.unlink(missing_ok=True)  # stale: its process is gone
                    continue
                raise RunFolderError(f"{self.path} is in use by another run (pid {pid} on {host}, since "
                                     f"{holder.get('since', '?')}); wait for it, or choose another --out. If that "
                                     f"process is gone on another host, delete {lock}") from None
            with os.fdopen(fd, "w") as f:
                json.dump(owner, f)
            self._locked = True
            return
        raise RunFolderError(f"could not take the lock {lock}")

    def release(self):
        if self._locked:
            (self.path / LOCK).unlink(missing_ok=True)
            self._locked = False

    # ------------------------------------------------------------------ state
    def holds_a_run(self) -> bool:
        return any((self.path / marker).exists() for marker in RUN_MARKERS)

    def stored_config(self) -> dict | None:
        try:
            return json.loads((self.path / MANIFEST).read_text())["config"]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError) as err:
            raise RunFolderError(f"{self.path / MANIFEST} is unreadable ({err}); use --overwrite to replace "
                                 "the run, or another --out") from None

    def _clean_leftovers(self):
        for tmp in self.path.rglob(".*.tmp"):
            if ".replaced-" not in str(tmp.relative_to(self.path)):
                tmp.unlink(missing_ok=True)

    def _write_manifest(self):
        from modern_cnns.parity.weights.checkpoint import atomic_write

        text = json.dumps({"config": self.config, "started": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=1)
        atomic_write(self.path / MANIFEST, lambda tmp: Path(tmp).write_text(text))

    # ------------------------------------------------------------------ the three ways in
    def open(self, resume=False, overwrite=False) -> "RunFolder":
        """Lock the folder and check it may be used this way; see the module docstring."""
        if resume and overwrite:
            raise RunFolderError("--resume continues a run and --overwrite replaces it: choose one")
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            self._clean_leftovers()
            stored = self.stored_config()
            if resume:
                if stored is None and self.holds_a_run():
                    raise RunFolderError(f"{self.path} holds a run without {MANIFEST} (made by an older version): "
                                         "it cannot be checked, so it cannot be resumed; use --overwrite")
                if stored is not None:
                    differing = [f"{key} {stored.get(key)!r} (stored) vs {self.config.get(key)!r} (now)"
                                 for key in sorted(set(stored) | set(self.config))
                                 if stored.get(key) != self.config.get(key)]
                    if differing:
                        raise RunFolderError(f"cannot resume the run in {self.path} with other settings: "
                                             + "; ".join(differing)
                                             + ". Resume with the stored values, or use --overwrite")
            elif self.holds_a_run():
                if not overwrite:
                    what = f" ({stored.get('experiment')})" if stored else ""
                    raise RunFolderError(f"{self.path} already holds a run{what}: --resume continues it, "
                                         "--overwrite replaces it (kept until the new run's first checkpoint), "
                                         "or choose another --out")
                self._set_aside()
            self._write_manifest()
        except BaseException:
            self.release()
            raise
        return self

    def _set_aside(self):
        """Move the old run into ``.replaced-<time>/`` (a rename: nothing is deleted yet)."""
        self.replaced = self.path / f".replaced-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        self.replaced.mkdir()
        for item in list(self.path.iterdir()):
            if item.name != LOCK and not item.name.startswith(".replaced-"):
                os.replace(item, self.replaced / item.name)

    def first_checkpoint_written(self):
        """The new run is durable: the run it replaced may go now."""
        drop_replaced(self.replaced)
        self.replaced = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.replaced is not None and self.replaced.exists():
            print(f"note: the run this one replaces is kept in {self.replaced} (the new run wrote no "
                  "checkpoint); delete it by hand once you are sure")
        self.release()
