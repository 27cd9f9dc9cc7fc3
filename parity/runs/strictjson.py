"""Strict JSON for the files a run writes: no ``NaN`` or ``Infinity`` tokens, and nothing lost.

A run that diverges has NaN losses; Python's ``json`` writes them as ``NaN``, which is not JSON
(other readers, ``jq`` among them, refuse the file).  :func:`dumps` writes ``null`` instead and,
beside the key, a ``"<key> note"`` saying what it was (``"not a number"``, ``"inf"``,
``"-inf"``; for a list, ``{index path: what}``); :func:`loads` puts the numbers back, so a
resumed run or a redrawn table sees the values the run had.
"""
from __future__ import annotations

import json
import math
from typing import TypeGuard

NOTE = " note"
_WORDS = {"not a number": math.nan, "inf": math.inf, "-inf": -math.inf}


def _word(x: float) -> str:
    return "not a number" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def _non_finite(x: object) -> TypeGuard[float]:
    return isinstance(x, float) and not math.isfinite(x)


def _encode(value, path, notes):
    """``value`` with non-finite floats as None; records ``path -> word`` for those outside dicts."""
    if isinstance(value, dict):
        return encode(value)
    if isinstance(value, (list, tuple)):
        return [_encode(item, f"{path}/{i}" if path else str(i), notes) for i, item in enumerate(value)]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        value = value.item()
    if _non_finite(value):
        notes[path] = _word(value)
        return None
    return value


def encode(data: dict) -> dict:
    """``data`` as strict JSON data, each non-finite number replaced by None with a note beside its key."""
    out = {}
    for key, item in data.items():
        notes: dict[str, str] = {}
        out[key] = _encode(item, "", notes)
        if notes:
            out[f"{key}{NOTE}"] = notes.pop("") if "" in notes else notes
    return out


def _put_back(value, notes: dict):
    for path, word in notes.items():
        *head, last = path.split("/")
        target = value
        for index in head:
            target = target[int(index)]
        target[int(last)] = _WORDS[word]


def decode(data):
    """The inverse of :func:`encode`: notes turned back into the numbers they stand for."""
    if isinstance(data, list):
        return [decode(item) for item in data]
    if not isinstance(data, dict):
        return data
    out = {key: decode(item) for key, item in data.items() if not (key.endswith(NOTE) and key[:-len(NOTE)] in data)}
    for key in list(out):
        note = data.get(f"{key}{NOTE}")
        if isinstance(note, str) and note in _WORDS and out[key] is None:
            out[key] = _WORDS[note]
        elif isinstance(note, dict) and isinstance(out[key], list):
            try:
                _put_back(out[key], {p: w for p, w in note.items() if w in _WORDS})
            except (ValueError, IndexError, TypeError):
                pass  # a hand-edited note that no longer fits: the nulls stay nulls
    return out


def dumps(data: dict, **kwargs) -> str:
    """``json.dumps`` of :func:`encode` (``allow_nan=False``: a NaN that slipped through is an error)."""
    return json.dumps(encode(data), allow_nan=False, **kwargs)


def loads(text: str):
    """``json.loads``, then :func:`decode` (the ``NaN`` tokens of files written by older versions still read)."""
    return decode(json.loads(text))
