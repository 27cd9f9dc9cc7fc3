"""An append-only results store: one JSON line per (pair, dtype, seed), resumable.

Why a line file: the driver is its only writer, a line is appended, flushed and fsynced when a
pair finishes, so a run stopped at any moment (Ctrl-C, power) leaves every finished record
intact; at worst the last line is cut short, and reading skips it (that pair runs again).
A re-run skips every key already recorded *by this code version* and re-checks records an older
version wrote; the newest record of a key wins.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from importlib import metadata
from pathlib import Path

#: every verdict a record may hold, the most telling first (a report's row speaks of its worst: what kept a
#: dtype from a verdict, then a FAIL, then the rest)
VERDICTS = ("crashed", "skipped", "untransferable", "error", "FAIL", "KNOWN DIFFERENCE", "PASS")

#: the code that decides a zoo verdict: a change to any of these re-runs every pair
_VERSIONED = ("parity/verdict", "parity/weights", "parity/zoo/task.py", "parity/zoo/sources.py",
              "parity/frameworks.py", "torch_impl/gluon_layers.py", "torch_impl/batchnorm.py")
_PACKAGES = ("mxnet", "torch", "gluoncv", "gluoncv2", "pytorchcv", "torchvision", "numpy")


def code_version() -> str:
    """A short hash of the checker's source and the zoo packages' versions."""
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for rel in _VERSIONED:
        path = root / rel
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    for package in _PACKAGES:
        try:
            digest.update(f"{package}=={metadata.version(package)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{package} absent".encode())
    return digest.hexdigest()[:12]


def _finite(value):
    """Strict JSON: NaN and infinities become None (the record says which in ``nonfinite``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def declared_gb(record: dict) -> float | None:
    """The memory ``record``'s task declared, in GB of 10^9 bytes, the unit of its measured ``peak_gb``.  Records
    written before 2026-11-30 10:00 hold ``declared_gb`` in GiB (2^30 bytes, 7.4 % more), later ones the exact
    ``declared_bytes``."""
    if record.get("declared_bytes"):
        return record["declared_bytes"] / 1e9
    return record["declared_gb"] * 2 ** 30 / 1e9 if record.get("declared_gb") else None


def _is_row(row) -> bool:
    """A worst row as written: ``[check, relative difference]``, the difference a number or null (not finite)."""
    return (isinstance(row, list) and len(row) == 2 and isinstance(row[0], str)
            and (row[1] is None or type(row[1]) in (int, float)))


def _well_formed(record) -> bool:
    """A record this tool could have written: its key typed as written (a name, a dtype, an integer seed), a
    verdict it gives, any measured figure a number, its texts strings, its diagnosis a list of lines and its worst
    rows ``[check, difference]`` pairs."""
    return (isinstance(record, dict) and isinstance(record.get("pair"), str) and isinstance(record.get("dtype"), str)
            and type(record.get("seed")) is int and record.get("verdict") in VERDICTS
            and all(record.get(k) is None or (type(record[k]) in (int, float) and 0 <= record[k] < math.inf)
                    for k in ("seconds", "peak_gb", "declared_gb", "declared_bytes", "params", "input_size"))
            and all(record.get(k) is None or isinstance(record[k], str)
                    for k in ("error", "detail", "first_divergence", "known_difference", "pairing", "source"))
            and (record.get("diagnosis") is None or (isinstance(record["diagnosis"], list)
                                                     and all(isinstance(line, str) for line in record["diagnosis"])))
            and (record.get("worst") is None or (isinstance(record["worst"], list)
                                                 and all(map(_is_row, record["worst"])))))


def key_of(record: dict) -> tuple:
    return record["pair"], record["dtype"], record["seed"]


class Store:
    """The records of one source, in ``folder/<source>.jsonl``."""

    def __init__(self, folder, source: str):
        self.path = Path(folder) / (source.replace(":", "-") + ".jsonl")
        self.source = source

    def records(self) -> list[dict]:
        """Every complete record, oldest first.  A line cut short by a crash is skipped, as is a line this tool
        did not write (not UTF-8 JSON, a key of the wrong type, a verdict it never gives, a figure that is not a
        number): such a pair is not done, and a run re-checks it."""
        if not self.path.exists():
            return []
        out = []
        with open(self.path, "rb") as f:
            for line in f:
                try:
                    record = json.loads(line.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError):
                    continue
                if _well_formed(record):
                    out.append(record)
        return out

    def latest(self) -> dict:
        """``{(pair, dtype, seed): newest record}``."""
        return {key_of(r): r for r in self.records()}

    def done(self, version: str) -> set:
        """Keys recorded by ``version`` (a crash counts as done: it is a result, re-run with ``--retry-crashed``;
        a pair skipped as larger than the largest node is not: the next run, or another cluster, may have room)."""
        return {k for k, r in self.latest().items() if r.get("version") == version and r.get("verdict") != "skipped"}

    def append(self, records: list[dict]) -> None:
        """Append ``records`` durably (flushed and fsynced before returning)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = "".join(json.dumps(_finite(r), allow_nan=False, sort_keys=True) + "\n" for r in records)
        if self.path.exists() and self.path.stat().st_size:
            with open(self.path, "rb") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":  # a line cut short by a crash: end it, so it cannot swallow this one
                    text = "\n" + text
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
