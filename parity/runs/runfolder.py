"""A training run's output folder, owned: one run at a time, never clobbered, resumed only as itself.

* **Ownership by construction.** ``run.json`` (the manifest) lists the files the run writes
  at the top (``log.json``, ``curves.png``, ``results.md``, itself), and each framework's
  ``checkpoint.json`` the checkpoint files of its folder (see
  :class:`~parity.weights.checkpoint.EpochCheckpoints`).  Those, and nothing else, are the
  tool's: the user's notes, sub-folders, a stray ``results.md`` of their own stay byte for byte.
  A file of the user's where the run would write is refused, with or without ``--overwrite``.
* **Lock.** ``DIR/.lock`` holds the owner's pid, host and start time.  It is written to a
  temporary file and hard-linked into place, so it is never seen half-written: an empty or
  cut-short lock was left by a run that died while taking it (a full disk, an older version)
  and is stale, as is one whose process is gone (same host).  A live one refuses the second run
  with who holds it; a ``.lock`` that is not this tool's (another program's) is refused, and kept.
* **One run per folder.** A folder with another run below it (its ``run.json`` or its lock, at
  any depth) is refused: ``--overwrite`` on the parent of a training run would otherwise move
  that run's files away.  The search does not follow links and stops at :data:`SEARCH_LIMIT`
  entries (a folder that large is refused: give the run a folder of its own).
* **Refuse to clobber.** A folder that holds a run is only used with ``resume`` (continue it)
  or ``overwrite`` (replace it).  ``overwrite`` first *moves* the old run's files aside, into
  ``DIR/.replaced-<time>-<pid>/``, and deletes them only once the new run's first checkpoint is
  durable (:func:`drop_replaced`).  A new run that ends without a checkpoint (an error, Ctrl-C)
  removes its ``run.json`` and puts the old run back; one that was killed (SIGKILL) leaves both,
  and the next run on the folder restores the old one, or deletes it once the new one has a
  checkpoint, and says which.  Killed attempts do not pile up set-aside folders.
* **Resume as itself.** ``run.json`` stores the configuration that determines the numbers
  (experiment, frameworks, lr, batch size, seed, limit-batches, dtype, device, and a hash of
  the code that shapes training); ``resume`` refuses a different one and names each field.
* **Leftovers.** Temporary files of an interrupted write (``.NAME.parity-PID-RANDOM.tmp``, see
  :func:`parity.weights.checkpoint.atomic_write`) whose writer is dead are removed from the
  folders the run writes (``DIR``, ``DIR/gluon``, ``DIR/torch``; not below), once the run is
  accepted: a refused run changes nothing.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import sys
import tempfile
import time
from pathlib import Path

from modern_cnns.parity.frameworks import FRAMEWORKS, pid_alive

MANIFEST = "run.json"
LOCK = ".lock"
#: what a run writes at the top of its folder, besides the manifest
OUTPUTS = ("log.json", "curves.png", "results.md")
SET_ASIDE = ".replaced-"
#: a set-aside folder's whole name (``.replaced-<date>-<time>-<pid>``): a user's ``.replaced-x`` is not one
SET_ASIDE_NAME = re.compile(r"^\.replaced-\d{8}-\d{6}-\d+$")
#: the most entries searched below a run folder for another run
SEARCH_LIMIT = 20000
#: the code that shapes a run's numbers: the networks, the loops, the data, the experiments
TRAINING_CODE = ("modern_cnns.gluon_impl", "modern_cnns.torch_impl", "modern_cnns.data",
                 "modern_cnns.parity.catalog", "modern_cnns.parity.runs.reproduce", "modern_cnns.parity.runs.spec",
                 "modern_cnns.parity.weights.init")


class RunFolderError(RuntimeError):
    """The folder cannot be used as asked; the message says why and what to do."""


class RunFileError(ValueError):
    """A file of a run (``log.json``) is damaged; the message names it and what is wrong (exit 1)."""


def note(text: str) -> None:
    print(f"note: {text}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the code's fingerprint
def code_files() -> list:
    """``[(key, path)]``: the source files of :data:`TRAINING_CODE`, keyed by module (location-independent)."""
    import importlib.util

    files = []
    for name in TRAINING_CODE:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            for folder in spec.submodule_search_locations:
                files += [(f"{name}/{p.name}", p) for p in sorted(Path(folder).glob("*.py"))]
        elif spec is not None and spec.origin is not None:
            files.append((name, Path(spec.origin)))
        else:
            raise ImportError(f"{name} has no source files here: reinstall the project (README, Environments)")
    return files


def code_fingerprint(files) -> str:
    """A hash of the files' contents: a commit that changes none of them changes nothing, an edit does."""
    digest = hashlib.sha256()
    for key, path in sorted(files, key=lambda kv: kv[0]):
        content = Path(path).read_bytes()
        digest.update(f"{key}\0{len(content)}\0".encode() + content)
    return "sha256:" + digest.hexdigest()[:16]


def code_version() -> str:
    """The fingerprint of the code that shapes training (networks, loops, data), not the git commit."""
    return code_fingerprint(code_files())


# --------------------------------------------------------------------------- what the tool wrote
def read_manifest(path) -> dict | None:
    """``run.json`` of run folder ``path``, or None; a damaged one is refused (it cannot say what is ours)."""
    from modern_cnns.parity.runs import strictjson

    file = Path(path) / MANIFEST
    if not os.path.lexists(file):
        return None
    try:
        data = strictjson.loads(file.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as err:
        data, why = None, str(err)
    else:
        why = "not a run manifest of this tool"
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
        raise RunFolderError(f"{file}: damaged run manifest ({why}): it no longer says which files this tool "
                             "wrote there, so none is touched; move the folder's files away by hand, or choose "
                             "another --out")
    return data


def _frameworks_of(manifest: dict) -> list:
    listed = manifest["config"].get("frameworks")
    return [fw for fw in FRAMEWORKS if not isinstance(listed, list) or fw in listed]


def _plain_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def owned_files(path) -> list:
    """The files in run folder ``path`` this tool wrote, relative to it, as its manifests list them."""
    from modern_cnns.parity.weights.checkpoint import EPOCH_FILE, EpochCheckpoints

    path = Path(path)
    manifest = read_manifest(path)
    if manifest is None:
        return []
    listed = manifest.get("files", OUTPUTS)
    names = [MANIFEST] + [n for n in OUTPUTS if isinstance(listed, list) and n in listed]
    owned = [Path(n) for n in names if _plain_file(path / n)]  # a folder or a link by that name is the user's
    for fw in _frameworks_of(manifest):
        folder = path / fw
        if folder.is_symlink() or not folder.is_dir():
            continue
        ckpt = EpochCheckpoints(folder)
        inside = set(ckpt.written()) | {n for n in os.listdir(folder) if EPOCH_FILE.match(n)}
        if ckpt.meta.is_file():
            inside.add(ckpt.meta.name)
        owned += [Path(fw) / n for n in sorted(inside) if _plain_file(folder / n)]
    return owned


def _has_checkpoint(path) -> bool:
    manifest = read_manifest(path)
    return manifest is not None and any((Path(path) / fw / "checkpoint.json").is_file()
                                        for fw in _frameworks_of(manifest))


def _remove_empty_folders(top: Path) -> None:
    for folder, _subs, _files in sorted(os.walk(top), key=lambda w: -len(w[0])):
        try:
            os.rmdir(folder)
        except OSError:
            pass  # not empty: something no manifest lists stays


def drop_replaced(replaced: Path | None) -> Path | None:
    """Delete a run set aside by ``overwrite``: the files its manifests list; return the folder if it stays.

    Training processes call this after each checkpoint (both frameworks of a side-by-side run
    may get here; either is enough).  Anything else in the set-aside folder (an older version
    moved the user's files there too) is kept, and so is the folder.
    """
    if replaced is None or not replaced.is_dir():
        return None
    try:
        for rel in owned_files(replaced):
            (replaced / rel).unlink(missing_ok=True)
    except RunFolderError:
        return replaced
    _remove_empty_folders(replaced)
    return replaced if replaced.exists() else None


def _restore(aside: Path, into: Path) -> list:
    """Move a set-aside run back into ``into``; return what could not go back (a file is there now)."""
    blocked = []
    for folder, _subs, files in os.walk(aside):
        for name in files:
            source = Path(folder) / name
            target = into / source.relative_to(aside)
            if os.path.lexists(target):
                blocked.append(str(source.relative_to(aside)))
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
    _remove_empty_folders(aside)
    return blocked


# --------------------------------------------------------------------------- other runs below
def _is_run_file(entry) -> bool:
    """A run manifest or a run lock of this tool (another tool's ``.lock`` is not one)."""
    try:
        with open(entry.path, encoding="utf-8") as f:
            data = json.loads(f.read(1 << 20))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    if not isinstance(data, dict):
        return False
    return isinstance(data.get("config"), dict) if entry.name == MANIFEST else {"pid", "host"} <= set(data)


def run_above(path) -> Path | None:
    """The nearest folder above ``path`` that holds a run of this tool (its ``run.json``), or None."""
    for folder in Path(path).resolve().parents:
        manifest = folder / MANIFEST
        if manifest.is_file() and not manifest.is_symlink():
            try:
                data = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError, UnicodeDecodeError):
                continue
            if isinstance(data, dict) and isinstance(data.get("config"), dict):
                return folder
    return None


def other_runs(path) -> list:
    """Folders below ``path`` that hold another run (its manifest or its lock), links not followed."""
    path, found, seen, stack = Path(path), [], 0, [Path(path)]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if seen > SEARCH_LIMIT:
                raise RunFolderError(f"{path} holds more than {SEARCH_LIMIT} files and folders: too many to make "
                                     "sure that no other run is inside it; give the run a folder of its own")
            if entry.is_dir(follow_symlinks=False):
                if not (folder == path and SET_ASIDE_NAME.match(entry.name)):
                    stack.append(Path(entry.path))
            elif folder != path and entry.name in (MANIFEST, LOCK) and _is_run_file(entry):
                found.append(Path(folder))
    return sorted(set(found))


# --------------------------------------------------------------------------- the lock
def _read_lock(lock: Path) -> tuple[dict, None] | tuple[None, str]:
    """(holder dict, None) when it is a lock of this tool; (None, why it is stale) when one died while taking
    it; a RunFolderError when ``.lock`` is something else (a user's file, a folder): never removed."""
    if lock.is_symlink() or (os.path.lexists(lock) and not lock.is_file()):
        raise RunFolderError(f"{lock} is not a lock of this tool (a folder or a link); move it away, or choose "
                             "another --out")
    try:
        text = lock.read_text()
    except FileNotFoundError:
        return {}, None
    except (OSError, UnicodeDecodeError):
        text = None
    if text is not None and not text.strip():
        return None, "empty"
    try:
        holder = json.loads(text) if text is not None else None
    except ValueError:
        holder = None
    if isinstance(holder, dict) and {"pid", "host"} <= set(holder):
        return holder, None
    if text is not None and text.startswith('{"pid": '):  # cut short: an older version's write on a full disk
        return None, "cut short"
    raise RunFolderError(f"{lock} is not a lock of this tool (its content is not one); move it away, or choose "
                         "another --out")


def _create_lock(lock: Path, text: str) -> None:
    """Write ``text`` to a temporary file, then hard-link it to ``lock``: it appears complete, or not at all."""
    fd, tmp = tempfile.mkstemp(prefix=f".{LOCK}.parity-{os.getpid()}-", suffix=".tmp", dir=lock.parent)
    try:
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
        except OSError as err:
            raise OSError(err.errno, err.strerror, str(lock)) from None
        try:
            os.link(tmp, lock)
        except FileExistsError:
            raise
        except OSError:  # a filesystem without hard links: exclusive create (a reader may see it empty)
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            with os.fdopen(fd, "w") as f:
                f.write(text)
    finally:
        os.unlink(tmp)


class RunFolder:
    """Own ``path`` for one run with ``config`` (a dict of the values that determine its numbers)."""

    def __init__(self, path, config: dict):
        self.path, self.config = Path(path), dict(config)
        self.replaced: Path | None = None
        self.fresh = True  # a new run (not a resumed one): it leaves nothing behind if it writes no checkpoint
        self._locked = False

    # ------------------------------------------------------------------ lock
    def _lock(self):
        lock = self.path / LOCK
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        for _ in range(3):
            try:
                _create_lock(lock, json.dumps(owner))
            except FileExistsError:
                pass
            else:
                self._locked = True
                return
            holder, problem = _read_lock(lock)
            if holder is None:  # then problem says how it died
                note(f"{lock} was {problem}: left by a run that died while taking it (a full disk, say); taking "
                     "it over")
                lock.unlink(missing_ok=True)
                continue
            pid, host = holder.get("pid"), holder.get("host")
            if not holder or (host == owner["host"] and isinstance(pid, int) and not pid_alive(pid)):
                lock.unlink(missing_ok=True)  # stale: its process is gone (or it was just released)
                continue
            raise RunFolderError(f"{self.path} is in use by another run (pid {pid} on {host}, since "
                                 f"{holder.get('since', '?')}); wait for it, or choose another --out. If that "
                                 f"process is gone on another host, delete {lock}")
        raise RunFolderError(f"could not take the lock {lock}: other runs keep taking it")

    def release(self):
        if self._locked:
            (self.path / LOCK).unlink(missing_ok=True)
            self._locked = False

    # ------------------------------------------------------------------ state
    def holds_a_run(self) -> bool:
        """A manifest and something it lists besides itself (a checkpoint, the outputs)."""
        return len(owned_files(self.path)) > 1

    def stored_config(self) -> dict | None:
        manifest = read_manifest(self.path)
        return None if manifest is None else manifest["config"]

    def _frameworks(self) -> list:
        return [fw for fw in FRAMEWORKS if fw in self.config.get("frameworks", FRAMEWORKS)]

    def _foreign(self) -> list:
        """Paths this run would write that hold something no manifest here lists: the user's."""
        from modern_cnns.parity.weights.checkpoint import EPOCH_FILE

        owned = set(owned_files(self.path))
        names = [Path(MANIFEST)] + [Path(n) for n in OUTPUTS]
        for fw in self._frameworks():
            folder = self.path / fw
            if folder.is_symlink() or (os.path.lexists(folder) and not folder.is_dir()):
                names.append(Path(fw))
            elif folder.is_dir():
                names += [Path(fw) / n for n in sorted(os.listdir(folder))
                          if n == "checkpoint.json" or EPOCH_FILE.match(n)]
        return [str(n) for n in names if os.path.lexists(self.path / n) and n not in owned]

    def _recover(self):
        """Set-aside runs left by killed ``--overwrite`` attempts: restored, or deleted once superseded."""
        for aside in sorted(self.path.glob(f"{SET_ASIDE}*")):
            if not SET_ASIDE_NAME.match(aside.name) or aside.is_symlink() or not aside.is_dir():
                continue
            if _has_checkpoint(self.path):
                kept = drop_replaced(aside)
                note(f"deleted the run an interrupted --overwrite had set aside in {aside.name} (the run that "
                     "replaced it has a checkpoint)" if kept is None else
                     f"kept {aside}: it holds files no run manifest lists (set aside by an older version); "
                     "delete it by hand once you are sure")
                continue
            for rel in owned_files(self.path):  # the killed attempt's own run.json
                (self.path / rel).unlink(missing_ok=True)
            blocked = _restore(aside, self.path)
            note(f"restored the run an interrupted --overwrite had set aside in {aside.name} (the attempt wrote no "
                 "checkpoint)" + (f"; kept {aside}, whose {', '.join(blocked[:5])} would replace files now there"
                                  if blocked else ""))

    def _write_manifest(self):
        from modern_cnns.parity.runs import strictjson
        from modern_cnns.parity.weights.checkpoint import atomic_write

        text = strictjson.dumps({"config": self.config, "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                                 "files": [MANIFEST, *OUTPUTS]}, indent=1)
        atomic_write(self.path / MANIFEST, lambda tmp: Path(tmp).write_text(text))

    def _clean_leftovers(self):
        from modern_cnns.parity.weights.checkpoint import clean_dead_temps

        for folder in (self.path, *(self.path / fw for fw in self._frameworks())):
            if folder.is_dir() and not folder.is_symlink():
                clean_dead_temps(folder)

    # ------------------------------------------------------------------ the three ways in
    def open(self, resume=False, overwrite=False) -> "RunFolder":
        """Lock the folder and check it may be used this way; see the module docstring."""
        from modern_cnns.parity.paths import OutputPathError, check_output_dir
        from modern_cnns.parity.weights.checkpoint import EpochCheckpoints

        if resume and overwrite:
            raise RunFolderError("--resume continues a run and --overwrite replaces it: choose one")
        try:
            check_output_dir(self.path)
        except OutputPathError as err:
            raise RunFolderError(str(err)) from None
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            self._recover()
            above = run_above(self.path)
            if above is not None:
                raise RunFolderError(f"{self.path} is inside the run folder {above}: a run folder holds one run, and a "
                                     "run below it would block that run's --resume and --overwrite; choose an --out "
                                     "outside it")
            others = other_runs(self.path)
            if others:
                raise RunFolderError(f"{self.path} holds another run, in {others[0]}: a run folder holds one run; "
                                     f"choose another --out (or --out {others[0]} for that run)")
            holds, stored = self.holds_a_run(), self.stored_config() or {}  # no manifest: no run, nothing stored
            if holds and resume:
                differing = [f"{key} {stored.get(key)!r} (stored) vs {self.config.get(key)!r} (now)"
                             for key in sorted(set(stored) | set(self.config))
                             if stored.get(key) != self.config.get(key)]
                if differing:
                    raise RunFolderError(f"cannot resume the run in {self.path} with other settings: "
                                         + "; ".join(differing) + ". Resume with the stored values, or use --overwrite")
            elif holds and not overwrite:
                raise RunFolderError(f"{self.path} already holds a run ({stored.get('experiment')}): --resume "
                                     "continues it, --overwrite replaces it (its files only, kept until the new "
                                     "run's first checkpoint), or choose another --out")
            elif holds:
                self._set_aside()
            for fw in self._frameworks():
                EpochCheckpoints(self.path / fw).exists()  # a file where its folder should be: damaged layout
            foreign = self._foreign()
            if foreign:
                raise RunFolderError(f"{self.path} holds {', '.join(foreign[:5])}, which no run manifest there lists: "
                                     "this tool did not write them (or an older version did) and never replaces a "
                                     "file it did not write; move them away, or choose another --out")
            self.fresh = not (holds and resume)
            self._clean_leftovers()
            if self.fresh:  # a resumed run keeps its manifest as it was
                self._write_manifest()
            if self.replaced is not None:
                note(f"the run in {self.path} (the files its manifests list; nothing else) is set aside in "
                     f"{self.replaced.name} until the new run's first checkpoint is written")
        except BaseException:
            if self.replaced is not None:
                _restore(self.replaced, self.path)
                self.replaced = None
            self.release()
            raise
        return self

    def _set_aside(self):
        """Move the old run's files into ``.replaced-<time>-<pid>/`` (renames: nothing is deleted yet)."""
        self.replaced = self.path / f"{SET_ASIDE}{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        owned = owned_files(self.path)
        self.replaced.mkdir()
        for rel in owned:
            (self.replaced / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.path / rel, self.replaced / rel)


    def first_checkpoint_written(self):
        """The new run is durable: the run it replaced may go now."""
        kept = drop_replaced(self.replaced)
        if kept is not None:
            note(f"kept {kept}: it holds files no run manifest lists; delete it by hand once you are sure")
        self.replaced = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            if self.fresh and not _has_checkpoint(self.path):
                # nothing durable: leave the folder as it was (the retry is not refused by our run.json)
                for rel in owned_files(self.path):
                    (self.path / rel).unlink(missing_ok=True)
                if self.replaced is not None:
                    blocked = _restore(self.replaced, self.path)
                    note(f"the run this one was to replace is back in {self.path} (the new run wrote no checkpoint)"
                         + (f"; kept {self.replaced}: {', '.join(blocked[:5])} are in the way" if blocked else ""))
            elif self.replaced is not None:
                self.first_checkpoint_written()
        finally:
            self.replaced = None
            self.release()
