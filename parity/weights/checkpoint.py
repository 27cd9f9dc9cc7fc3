"""Checkpoints in each framework's own format, written atomically, read defensively.

* Gluon ``.params``: the ``save_parameters`` format (``nd.save`` of a dict keyed
  by structural names), so ``block.load_parameters`` reads our files.
* torch ``.pt``: a ``state_dict``-style dict of tensors, read with
  ``weights_only=True``: a file that needs arbitrary unpickling is refused.

Both also carry the plain-attribute moving statistics of the course's scratch
BatchNorm (``N.moving_mean``/``N.moving_var``), which neither framework's own
saving keeps; for those networks a stock loader needs ``allow_extra=True`` (Gluon)
or ``strict=False`` (torch).

Every write goes to a temporary file in the destination folder and is renamed
over the final name only once complete, so a crash never leaves a half-written
file under the final name.  Loading checks every name and shape before writing
anything into the model (see :mod:`parity.weights.transfer`).
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import numpy as np

from modern_cnns.parity.weights.state import TORCH_IGNORED_SUFFIXES, Slot, gluon_slots, torch_slots
from modern_cnns.parity.weights.transfer import transfer_slots


class CheckpointError(ValueError):
    """A checkpoint file cannot be read (truncated, foreign, unsafe) or written."""


class ConvertUsageError(CheckpointError):
    """``convert`` asked for something it cannot do (a missing source, an unknown extension); nothing was read."""


#: temporary files are ``.NAME.parity-PID-RANDOM.tmp`` beside their destination (NAME shortened to fit
#: the filesystem's name limit): a name only this tool makes, removable once PID is gone
_TMP = re.compile(r"^\.(?P<stem>.*)\.parity-(?P<pid>\d+)-[a-z0-9_]{8}\.tmp$", re.S)
_TMP_TAIL = ".parity-{pid}-"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _temp_stem(name: str, folder) -> str:
    """``name`` shortened (at a character boundary) so that its temporary's name fits NAME_MAX."""
    from modern_cnns.parity.paths import name_max

    room = name_max(folder) - len(f"..parity-{os.getpid()}-12345678.tmp")
    raw = os.fsencode(name)
    return name if len(raw) <= room else raw[:max(room, 1)].decode("utf-8", "ignore")


def _write_failed(err: Exception, path: Path) -> Exception:
    """The error to raise for a failed write: "disk full" when that is why, whatever the library said.

    MXNet (``MXNetError``) and torch (``RuntimeError: ... file write failed``) do not say ENOSPC.
    """
    import errno

    if isinstance(err, OSError) and err.errno is not None:
        return err
    try:
        full = os.statvfs(path.parent).f_bavail == 0
    except OSError:
        full = False
    if full:
        return OSError(errno.ENOSPC, "No space left on device", str(path))
    return err


def atomic_write(path, write):
    """Call ``write(tmp_path)``, then make it ``path`` durably: fsync, rename, fsync the folder.

    Nothing at ``path`` changes until the new content is complete on disk.  The file gets the
    mode a plain ``open()`` would give (0666 less the umask), not ``mkstemp``'s 0600.  A symbolic
    link at ``path`` is written through (the file it points at is replaced; the link stays).
    """
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    stem = _temp_stem(path.name, path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{stem}{_TMP_TAIL.format(pid=os.getpid())}", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        try:
            write(tmp)
            os.chmod(tmp, 0o666 & ~_umask())
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        except Exception as err:
            failed = _write_failed(err, path)
            if failed is err:
                raise
            raise failed from None
        os.replace(tmp, path)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)  # the rename itself is durable too
        finally:
            os.close(folder)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def temp_writer(name: str) -> int | None:
    """The pid in a temporary file's name made by :func:`atomic_write`; None for any other name."""
    match = _TMP.match(name)
    return int(match["pid"]) if match else None


def clean_dead_temps(folder, stem: str | None = None) -> list[str]:
    """Remove the temporaries in ``folder`` (not below) whose writer is gone (SIGKILL); return their names.

    Only names :func:`atomic_write` makes, only in ``folder``, and only when their pid is dead:
    files of the user, and a live writer's, are never touched.  ``stem``: only those of that file.
    """
    from modern_cnns.parity.frameworks import pid_alive

    removed: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        match = _TMP.match(entry.name)
        if match and (stem is None or match["stem"] == stem) and entry.is_file(follow_symlinks=False) \
                and not pid_alive(int(match["pid"])):
            Path(entry.path).unlink(missing_ok=True)
            removed.append(entry.name)
    return removed


def clean_stale_temps(path) -> list:
    """Remove temporary files of ``path`` left by writers that died (SIGKILL); return their names."""
    path = Path(path)
    return clean_dead_temps(path.parent, stem=_temp_stem(path.name, path.parent))


def _read_only(value) -> None:
    raise TypeError("a checkpoint file's arrays are read: write the model, then save it")


def _array_slots(arrays: dict) -> dict:
    return {name: Slot(name, tuple(a.shape), a.dtype.name, "file", (lambda a=a: a), _read_only)
            for name, a in arrays.items()}


# --------------------------------------------------------------------------- Gluon
def save_gluon(block, path, example_input=None):
    """Write ``block``'s state to a Gluon ``.params`` file, atomically."""
    import mxnet as mx

    arrays = {name: mx.nd.array(slot.read(), dtype=slot.dtype)
              for name, slot in gluon_slots(block, example_input).items()}
    return atomic_write(path, lambda tmp: mx.nd.save(tmp, arrays))


#: MXNet's NDArray list file (src/ndarray/ndarray.cc, NDArray::Save/Load): element sizes of its dtype flags
_MX_DTYPE_SIZES = {0: 4, 1: 8, 2: 2, 3: 1, 4: 4, 5: 1, 6: 8, 7: 1, 8: 2, 9: 2, 10: 4, 11: 8, 12: 2}
_MX_LIST_MAGIC, _MX_ARRAY_MAGICS = 0x112, (0xF993FAC9, 0xF993FACA)  # V2, V3 (numpy shapes)


def _verify_params(path):
    """Walk a .params file's headers: every array's declared shape and dtype must fit the bytes there.

    MXNet reads a damaged file's sizes as given, so a truncated or altered one can fail deep in
    C++, or load wrong.  This reads headers only (seeking over the data) and names what is wrong.
    Sparse arrays are left to MXNet.
    """
    import struct

    size = Path(path).stat().st_size

    def fail(why):
        raise CheckpointError(f"{path}: damaged Gluon .params file: {why}")

    with open(path, "rb") as f:
        def read(fmt):
            raw = f.read(struct.calcsize(fmt))
            if len(raw) != struct.calcsize(fmt):
                fail(f"ends at byte {f.tell()} inside a header")
            return struct.unpack(fmt, raw)

        magic, _reserved, count = read("<QQQ")
        if magic != _MX_LIST_MAGIC:
            return  # not an NDArray list (MXNet's own loader says what it is)
        if count > size // 16:
            fail(f"declares {count} arrays in {size} bytes")
        for index in range(count):
            array_magic, stype = read("<Ii")
            if array_magic not in _MX_ARRAY_MAGICS:
                fail(f"array {index} has header magic {array_magic:#x} at byte {f.tell() - 8}")
            if stype != 0:
                return  # sparse: MXNet checks its own aux data
            ndim, = read("<I")
            if ndim > 32:
                fail(f"array {index} declares {ndim} dimensions")
            dims = read(f"<{ndim}q") if ndim else ()
            if any(d < 0 for d in dims):
                fail(f"array {index} has negative dimensions {dims}")
            if ndim == 0:
                continue
            _dev_type, _dev_id, dtype = read("<iii")
            if dtype not in _MX_DTYPE_SIZES:
                fail(f"array {index} has unknown dtype flag {dtype}")
            nbytes = _MX_DTYPE_SIZES[dtype]
            for d in dims:
                nbytes *= d
            if f.tell() + nbytes > size:
                fail(f"array {index} of shape {dims} needs {nbytes} bytes at byte {f.tell()}; the file ends "
                     f"{size - f.tell()} bytes later")
            f.seek(nbytes, 1)
        names, = read("<Q")
        if names not in (0, count):
            fail(f"{count} arrays but {names} names")
        for index in range(names):
            length, = read("<Q")
            if f.tell() + length > size:
                fail(f"name {index} needs {length} bytes; the file ends {size - f.tell()} bytes later")
            f.seek(length, 1)
        if f.tell() != size:
            fail(f"{size - f.tell()} unexpected bytes after the last name")


def read_gluon(path) -> dict:
    """``{name: array}`` of a ``.params`` file, its structure verified first."""
    import mxnet as mx

    _verify_params(path)
    try:
        loaded = mx.nd.load(str(path))
    except mx.base.MXNetError as err:
        # MXNet's message is a C++ stack; its last line says what failed.
        lines = str(err).strip().splitlines() or [type(err).__name__]
        raise CheckpointError(f"{path}: not a readable Gluon .params file ({lines[-1]})") from None
    if not isinstance(loaded, dict) or not loaded:
        raise CheckpointError(f"{path}: a Gluon .params file holds a dict of named arrays; this holds "
                              f"{type(loaded).__name__} of {len(loaded)} entries")
    return {name: value.asnumpy() for name, value in loaded.items()}


def load_gluon(block, path, example_input=None, strict=True):
    """Load a ``.params`` file into ``block``: every name and shape checked before anything is written."""
    src = _array_slots(read_gluon(path))
    dst = gluon_slots(block, example_input)
    return transfer_slots("file -> gluon", src, dst, [], name_map=None, positional=False, strict=strict)


# --------------------------------------------------------------------------- PyTorch
def save_torch(module, path, example_input=None):
    """Write ``module``'s state to a ``.pt`` file, atomically and reproducibly."""
    import torch

    slots, _ignored = torch_slots(module, example_input)
    tensors = {name: torch.from_numpy(np.ascontiguousarray(slot.read())) for name, slot in slots.items()}

    def write(tmp):
        # through a file object: torch.save names the zip's root folder after a *path*, so the
        # random temporary name would make identical saves differ byte for byte
        with open(tmp, "wb") as f:
            torch.save(tensors, f)
    return atomic_write(path, write)


def _verify_zip(path):
    """A .pt is a zip: check every member's CRC before unpickling anything (legacy formats pass)."""
    import zipfile

    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise CheckpointError(f"{path}: damaged PyTorch checkpoint ({err})") from None
    if bad is not None:
        raise CheckpointError(f"{path}: damaged PyTorch checkpoint: the CRC of {bad} does not match its bytes")


def _torch_array(path, name, tensor, widened: list[str]):
    """One tensor of a ``.pt`` file as a numpy array: float16 as it is, bfloat16 through float32.

    numpy has no bfloat16; widening to float32 is exact (bfloat16 is float32 with the low 16 bits
    of the mantissa cut), and the destination's dtype decides what is stored.  Tensors that hold no
    plain values are refused, naming what to do: quantized (integers plus a scale), meta (a shape
    without data) and sparse ones.
    """
    import torch

    if tensor.is_quantized:
        raise CheckpointError(f"{path}: {name} is a quantized tensor ({str(tensor.dtype).replace('torch.', '')}); "
                              "convert moves float weights: save tensor.dequantize() instead")
    if tensor.is_meta:
        raise CheckpointError(f"{path}: {name} is a meta tensor: a shape without values, nothing to convert")
    if tensor.layout != torch.strided:
        raise CheckpointError(f"{path}: {name} is a sparse tensor ({str(tensor.layout).replace('torch.', '')}); "
                              "save tensor.to_dense() instead")
    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:
        widened.append(name)
        tensor = tensor.float()
    return tensor.numpy()


def read_torch(path, notes: list | None = None) -> dict:
    """``{name: array}`` of a ``.pt`` file, read with ``weights_only=True`` after a CRC check.

    ``notes``, if given, receives a line per tensor that was not read as stored (bfloat16).
    """
    import pickle

    import torch

    _verify_zip(path)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        reason = str(err).strip().splitlines()[0]
        raise CheckpointError(f"{path}: refused, it needs arbitrary unpickling, which weights_only=True "
                              f"forbids (never load untrusted pickles): {reason}") from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint, truncated or foreign ({reason})") from None
    if isinstance(loaded, dict) and "state_dict" in loaded and isinstance(loaded["state_dict"], dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise CheckpointError(f"{path}: expected a state_dict (a dict of tensors), found {type(loaded).__name__}")
    widened: list[str] = []
    arrays = {name: _torch_array(path, name, t, widened) for name, t in loaded.items()
              if not name.endswith(TORCH_IGNORED_SUFFIXES)}
    if widened and notes is not None:
        notes.append(f"{len(widened)} bfloat16 tensor(s) read through float32 (exact), then stored in the "
                     f"destination's dtype: {', '.join(widened[:4])}{', ...' if len(widened) > 4 else ''}")
    return arrays


def load_torch(module, path, example_input=None, strict=True, notes: list | None = None):
    """Load a ``.pt`` file into ``module``: every name and shape checked before anything is written."""
    src = _array_slots(read_torch(path, notes))
    dst, ignored = torch_slots(module, example_input)
    return transfer_slots("file -> torch", src, dst, ignored, name_map=None, positional=False, strict=strict)


# --------------------------------------------------------------------------- conversion
FORMATS = {".params": "gluon", ".pt": "torch", ".pth": "torch"}


#: a run's checkpoint files: names only this tool makes, in the checkpoint folders it owns
EPOCH_FILE = re.compile(r"^(model-epoch(?P<m>\d+)\.(params|pt)|optimizer-epoch(?P<o>\d+)\.states)$")


class EpochCheckpoints:
    """A training run's checkpoint folder: ``DIR/checkpoint.json`` names the files of the last finished epoch.

    Per epoch: the model (``write_model``), the optimiser, the data stream's shuffling state and
    the history so far.  Each file is written atomically, ``checkpoint.json`` last, so it only ever
    names complete files.  The previous epoch's files are listed in it as ``superseded`` and
    deleted after it is written (a kill in between leaves them listed, and the next epoch deletes
    them): only files this tool wrote, never by a pattern over the folder.
    """

    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.meta = self.dir / "checkpoint.json"

    def exists(self):
        """Is there a checkpoint to resume from?  A file where the folder should be is damage, not "no"."""
        if os.path.lexists(self.dir) and not self.dir.is_dir():
            raise CheckpointError(f"{self.dir}: damaged run layout: a file where the checkpoint folder should be; "
                                  "move it away, or start the run again with --overwrite")
        return os.path.lexists(self.meta)

    def _damaged(self, why):
        return CheckpointError(f"{self.meta}: damaged checkpoint: {why}; start the run again with --overwrite, "
                               "or restore the file")

    def load_meta(self):
        """``checkpoint.json``, checked: each field and its type, the files it names, one history record per epoch."""
        from modern_cnns.parity.runs import strictjson

        self.exists()
        try:
            meta = strictjson.loads(self.meta.read_text())
        except OSError as err:
            raise self._damaged(f"unreadable ({err.strerror or err})") from None
        except (ValueError, UnicodeDecodeError) as err:
            raise self._damaged(f"not JSON, truncated or overwritten ({err})") from None
        if not isinstance(meta, dict):
            raise self._damaged(f"a JSON object was expected, found {type(meta).__name__}")
        epoch = meta.get("epoch")
        if type(epoch) is not int or epoch < 1:
            raise self._damaged(f"epoch {epoch!r} is not a positive integer")
        for key, group in (("model", "m"), ("optimizer", "o")):
            name = meta.get(key)
            match = EPOCH_FILE.match(name) if isinstance(name, str) else None
            if not isinstance(name, str) or not match or match[group] is None or int(match[group]) != epoch:
                raise self._damaged(f"{key} {name!r} is not this tool's file of epoch {epoch}")
            if not (self.dir / name).is_file():
                raise self._damaged(f"it names {name}, which is missing")
        history = meta.get("history")
        if not isinstance(history, list) or len(history) != epoch or not all(
                isinstance(r, dict) and r.get("epoch") == i + 1 for i, r in enumerate(history)):
            raise self._damaged(f"its history does not hold one record per epoch 1..{epoch} (edited by hand?)")
        state = meta.get("data_rng")
        if not isinstance(state, dict):
            raise self._damaged(f"data_rng is not a shuffling state ({type(state).__name__}, not a dict)")
        try:
            np.random.default_rng().bit_generator.state = state
        except (TypeError, ValueError, KeyError) as err:
            raise self._damaged(f"data_rng is not a shuffling state ({err})") from None
        return meta

    def written(self) -> list:
        """The files this folder's ``checkpoint.json`` says the tool wrote (those that exist)."""
        from modern_cnns.parity.runs import strictjson

        try:
            meta = strictjson.loads(self.meta.read_text())
        except (OSError, ValueError, UnicodeDecodeError):
            meta = {}
        if not isinstance(meta, dict):
            return []
        superseded = meta.get("superseded")
        names = [meta.get("model"), meta.get("optimizer"), *(superseded if isinstance(superseded, list) else [])]
        return [n for n in names if isinstance(n, str) and EPOCH_FILE.match(n) and (self.dir / n).is_file()]

    def save(self, epoch, write_model, write_optimizer, data_state, history, suffix):
        from modern_cnns.parity.runs import strictjson

        self.dir.mkdir(parents=True, exist_ok=True)
        model, optim = f"model-epoch{epoch + 1}{suffix}", f"optimizer-epoch{epoch + 1}.states"
        superseded = sorted(set(self.written()) - {model, optim}) if self.meta.is_file() else []
        write_model(self.dir / model)
        atomic_write(self.dir / optim, write_optimizer)
        meta = {"epoch": epoch + 1, "model": model, "optimizer": optim, "data_rng": data_state, "history": history,
                "superseded": superseded}
        atomic_write(self.meta, lambda tmp: Path(tmp).write_text(strictjson.dumps(meta)))
        for old in superseded:
            (self.dir / old).unlink(missing_ok=True)


def framework_of(path) -> str:
    """``"gluon"`` for ``.params``, ``"torch"`` for ``.pt``; anything else is refused."""
    suffix = Path(path).suffix
    if suffix not in FORMATS:
        raise ConvertUsageError(f"{path}: unknown checkpoint extension {suffix!r}; use .params (Gluon) or .pt (torch)")
    return FORMATS[suffix]


def convert(model, src, dst, name_map=None):
    """Convert checkpoint ``src`` to ``dst``; the direction comes from the extensions.

    Args:
        model: a registry entry, or ``(build_gluon, build_torch, example input shape)`` for a
            pair of your own (each builder called with no arguments).
        src, dst: ``.params`` (Gluon) and ``.pt`` (torch) paths, either way round.
        name_map: ``{gluon name: torch name}``, or a JSON file of it, where the names differ.

    Returns:
        The :class:`~parity.weights.transfer.TransferReport` of the conversion.
    """
    from modern_cnns.parity.weights.init import initialize_gluon
    from modern_cnns.parity.weights.transfer import gluon_to_torch, torch_to_gluon

    src_fw, dst_fw = framework_of(src), framework_of(dst)
    if src_fw == dst_fw:
        raise ConvertUsageError(f"{src} and {dst} are both {src_fw} checkpoints; convert between .params and .pt")
    if not Path(src).is_file():
        raise ConvertUsageError(f"{src}: no such file" if not Path(src).exists() else f"{src}: not a file")
    if isinstance(name_map, (str, Path)):
        from modern_cnns.parity.weights.transfer import load_name_map

        name_map = load_name_map(name_map)
    clean_stale_temps(dst)  # a conversion killed earlier leaves its half-written temporary beside dst
    build_gluon, build_torch, shape = model if isinstance(model, tuple) else \
        (model.build_gluon, model.build_torch, model.batch_shape(1))
    from modern_cnns.parity.verdict.contract import check_model

    gluon_model, module = build_gluon(), build_torch()
    check_model(gluon_model, "gluon", "the Gluon builder", verb="returned")
    check_model(module, "torch", "the torch builder", verb="returned")
    block = initialize_gluon(gluon_model, shape)
    if src_fw == "gluon":
        load_gluon(block, src)
        report = gluon_to_torch(block, module, name_map=name_map, example_input=shape)
        save_torch(module, dst)
    else:
        notes = []
        load_torch(module, src, example_input=shape, notes=notes)
        inverse = {t: g for g, t in name_map.items()} if isinstance(name_map, dict) else None
        report = torch_to_gluon(module, block, name_map=inverse, example_input=shape)
        report.notes = notes
        save_gluon(block, dst)
    return report
