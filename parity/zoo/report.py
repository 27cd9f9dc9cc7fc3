"""``docs/ZOO.md`` from the stores: per source, the counts, the findings by cause, one row per pair."""
from __future__ import annotations

from collections import Counter

from modern_cnns.parity.zoo.families import preference
from modern_cnns.parity.zoo.reviews import REVIEWS, review_of
from modern_cnns.parity.zoo.sources import SOURCES
from modern_cnns.parity.zoo.store import VERDICTS, Store, declared_gb

#: a FAIL's cause, read from its first diagnosis line: (words that say it, what the report calls it)
CAUSES = (
    ("unbiased", "keeps torch's unbiased running variance (stock BatchNorm)"),
    ("momentum", "BatchNorm momentum (convention or value)"),
    ("eps", "BatchNorm eps"),
    ("known framework difference", "a known framework difference"),
    ("dropout", "dropout structure"),
    ("input size", "a layer that depends on the input size in one framework only"),
)


def one_line(text: object, limit: int = 160) -> str:
    """``text`` as one table cell: its telling line (an MXNet traceback's last, the message), no pipes."""
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[-1] if "Traceback (most recent call last)" in lines[0] else lines[0]
    return line.replace("|", "/")[:limit]


#: words of the diagnosis lines that speak of stock BatchNorm's convention, the one a zoo check accepts
#: (``zoo.task.ACCEPTED``): they explain BatchNorm statistics, nothing else
_CONVENTION_WORDS = ("unbiased batch variance", "keeps its momentum as a float32")


def _diagnosis(record: dict) -> list:
    """A record's diagnosis lines (a list; one line, if a hand-made record gives a string)."""
    lines = record.get("diagnosis") or []
    return [lines] if isinstance(lines, str) else list(lines)


def _is_convention(line: str) -> bool:
    return any(words in line for words in _CONVENTION_WORDS)


def names_only_the_convention(record: dict) -> bool:
    """Whether a record's diagnosis has lines, each of them the accepted BatchNorm convention's."""
    lines = _diagnosis(record)
    return bool(lines) and all(map(_is_convention, lines))


def _failing_kind(record: dict) -> str | None:
    """For a FAIL whose diagnosis speaks only of the accepted BatchNorm convention while its worst failing row
    is no BatchNorm statistic: that row's kind (``gradient``, ``input gradient``, ...), else None.

    Such a FAIL is not the convention's doing (accepted, it fails nothing), and its diagnosis does not say
    why it fails: densenet100_k12_cifar100 in float32 fails on gradients (7.8e-2) beside a float64 pass."""
    worst = record.get("worst") or []
    if record["verdict"] != "FAIL" or not worst or not names_only_the_convention(record):
        return None
    check = worst[0][0]
    if check.endswith(("running_var", "running_mean")):
        return None
    return check.split(" of ")[0].split(":")[0]


def _unexplained(record: dict) -> str:
    check, rel = record["worst"][0]
    size = f"rel {rel:.1e}" if isinstance(rel, (int, float)) else "not finite"
    return (f"fails on {_failing_kind(record)} rows that no diagnosis line explains (worst: {check}, {size}); "
            "the diagnosis names only the accepted BatchNorm convention")


def _telling_line(record: dict) -> str:
    """A record's first diagnosis line, past the accepted convention's lines for a FAIL (accepted, that
    convention fails nothing: the next line says why the pair fails)."""
    lines = _diagnosis(record)
    if record["verdict"] == "FAIL":
        lines = [line for line in lines if not _is_convention(line)] or lines
    return lines[0] if lines else ""


def _reviewed_cause(record: dict, pair: dict | None) -> str | None:
    """The cause a hand review found for ``record`` (``pair``: its pair's records by dtype), in the report's words."""
    review = review_of(record, pair)
    return f"reviewed by hand: {review.cause}" if review else None


def cause_of(record: dict, pair: dict | None = None) -> str:
    """The cause a record's verdict is put down to, in the report's words: a review's, where one covers it
    (:mod:`parity.zoo.reviews`; ``pair``: the pair's records by dtype), else the checker's."""
    reviewed = _reviewed_cause(record, pair)
    if reviewed:
        return reviewed
    if record["verdict"] in ("crashed", "skipped", "untransferable", "error"):
        return f"{record['verdict']}: {one_line(record.get('error'))}".strip()
    kind = _failing_kind(record)
    if kind:
        return f"unexplained: fails on {kind} rows (the diagnosis names only the accepted BatchNorm convention)"
    first = (record.get("known_difference") if record["verdict"] == "KNOWN DIFFERENCE"
             else _telling_line(record)) or ""
    first = first.lower()
    for words, cause in CAUSES:
        if words in first:
            return cause
    if record["verdict"] == "FAIL":
        said = _telling_line(record) or f"first divergence {record.get('first_divergence')}"
        return "other: " + one_line(said, 120)
    return record["verdict"]


def _pairs(records) -> dict:
    """``{pair: {dtype: record}}`` of the newest record per (pair, dtype)."""
    out: dict = {}
    for r in records:
        out.setdefault(r["pair"], {})[r["dtype"]] = r
    return out


def _figure(value, spec: str) -> str:
    """A measured figure, or "-" where nothing was measured (a crashed task records no time and no peak)."""
    return format(value, spec) if value else "-"


def _overall(by_dtype: dict) -> str:
    """A pair's outcome: its worst verdict over the dtypes."""
    return min((r["verdict"] for r in by_dtype.values()), key=VERDICTS.index)


def _judged(by_dtype: dict) -> bool:
    """Whether the checker reached a verdict on the pair in some dtype (not only an error, a refusal, a crash)."""
    return any(r["verdict"] in ("PASS", "KNOWN DIFFERENCE", "FAIL") for r in by_dtype.values())


def _cost_of_the_rest(offered: list, pairs: dict, cores: int) -> list[str]:
    """Hours the unchecked pairs would take, from the measured time per judged pair of the same input size; a
    size none was measured at, from the nearest measured size above 64 px, scaled by pixels."""
    measured: dict = {}
    for d in filter(_judged, pairs.values()):
        r = next(iter(d.values()))
        if r.get("seconds"):
            measured.setdefault(r.get("input_size"), []).append(r["seconds"])
    means = {size: sum(times) / len(times) for size, times in measured.items()}
    rest = Counter(p.input_size for p in offered if p.name not in pairs)
    skipped = [d for d in pairs.values() if all(r["verdict"] == "skipped" for r in d.values())]
    gbs = [gb for gb in (declared_gb(next(iter(d.values()))) for d in skipped) if gb]
    sizes = (f", declaring {min(gbs):.1f}" + (f" to {max(gbs):.1f}" if len(set(gbs)) > 1 else "") + " GB"
             if gbs else "")
    larger = ([] if not skipped else [
        "", f"Skipped as larger than any node here: {len(skipped)} pair{'s' * (len(skipped) > 1)}{sizes}; a cluster "
            "with such a node (`--address`) takes them."])
    if not rest:
        return larger
    lines = ["", f"Not checked here: {sum(rest.values())} pairs. Their cost on paper (measured mean time per judged "
             f"pair of the same input size x count / {cores} cores):", "",
             "| input | pairs left | measured s/pair (pairs measured) | estimate |", "|---|---|---|---|"]
    large = [m for m in means if m > 64]
    total = 0.0
    for size, count in sorted(rest.items()):
        if not size:
            lines.append(f"| unbuildable here | {count} | - | - |")
            continue
        if size in means:
            mean, how = means[size], f"{means[size]:.0f} ({len(measured[size])})"
        elif size > 64 and large:
            near = min(large, key=lambda m: abs(m - size))
            mean = means[near] * (size / near) ** 2
            how = f"~{mean:.0f} ({near} px's {means[near]:.0f} x pixels)"
        else:
            lines.append(f"| {size} | {count} | not measured | - |")
            continue
        hours = mean * count / cores / 3600
        total += hours
        lines.append(f"| {size} | {count} | {how} | {hours:.1f} h |")
    if total:
        lines += ["", f"In all, about {total:.1f} h on {cores} cores for the pairs an estimate covers."]
    return lines + larger


def _families_at_imagenet_size(offered: list, pairs: dict, families: dict) -> list[str]:
    """Of each family (``families``: ``{pair: family}``), whether a pair above 64 px was checked; of those left, the
    pair ``zoo --min-input 65 --per-family 1`` would check (:func:`~parity.zoo.families.preference`)."""
    large = [p for p in offered if p.input_size > 64 and p.name in families]
    if not large:
        return []
    checked = {families[p.name] for p in large if p.name in pairs and _judged(pairs[p.name])}
    left: dict = {}
    for p in sorted(large, key=preference):
        if families[p.name] not in checked:
            left.setdefault(families[p.name], p)
    total = len(checked) + len(left)
    lines = ["", f"Families with a pair above 64 px (ImageNet size and larger): {total}; with a verdict here (PASS, "
             f"KNOWN DIFFERENCE or FAIL) on at least one: {len(checked)}"
             + (f" ({', '.join(sorted(checked))})." if checked else ".")]
    if left:
        lines[-1] += (f" Not yet: {len(left)}, each with the pair `--per-family 1` takes (and its outcome, where "
                      "it ran here): " + ", ".join(f"{f} (`{p.name}`, {p.input_size} px"
                                            + (f": {_overall(pairs[p.name])})" if p.name in pairs else ")")
                                            for f, p in sorted(left.items())) + ".")
    return lines


def _closest_pairing(record: dict) -> str | None:
    """An untransferable pair's most telling line: the pairing that came closest (fewest problems), e.g.
    ``automatic map: 38 problem(s), e.g. unexpected (in gluon, no torch counterpart): ...gamma``."""
    tries = [line.strip() for line in (record.get("detail") or "").splitlines()[1:] if "problem(s)" in line]
    counts = [(int(t.split(": ", 1)[1].split(" ", 1)[0]), t) for t in tries
              if t.split(": ", 1)[-1].split(" ", 1)[0].isdigit()]
    return min(counts)[1] if counts else None


def _current(pairs: dict, version: str | None) -> tuple[dict, dict]:
    """``pairs`` split into those whose every record ``version`` made, and the rest (stale: an older checker's)."""
    if version is None:
        return pairs, {}
    current = {n: d for n, d in pairs.items() if all(r.get("version") == version for r in d.values())}
    return current, {n: d for n, d in pairs.items() if n not in current}


def _own_finding(record: dict) -> str:
    """The error (for a refused transfer, the pairing that came closest), else the telling diagnosis line."""
    if record.get("error"):
        return _closest_pairing(record) or record["error"]
    if _failing_kind(record):
        return _unexplained(record)
    return _telling_line(record) if record.get("diagnosis") else ""


def _first_finding(by_dtype: dict) -> str:
    """A pair's most telling line, worst record first (a float32 error before a float64 KNOWN DIFFERENCE's
    diagnosis): what fails that no review explains (a float64 FAIL beside a reviewed float32 error must not hide
    behind that review), else the cause a review found, else the record's own finding."""
    ordered = sorted(by_dtype.values(), key=lambda r: VERDICTS.index(r["verdict"]))
    reviewed = [_reviewed_cause(record, by_dtype) for record in ordered]
    for record, cause in zip(ordered, reviewed):
        if not cause and record["verdict"] not in ("KNOWN DIFFERENCE", "PASS"):
            return _own_finding(record)
    return next(filter(None, reviewed), "") or next(filter(None, map(_own_finding, ordered)), "")


def _source_section(source: str, offered: list | None, pairs: dict, cores: int, version: str | None,
                    families: dict | None = None) -> list[str]:
    found = len(offered) if offered is not None else None
    pairs, stale = _current(pairs, version)
    overall = Counter(_overall(d) for d in pairs.values())
    causes = Counter(cause_of(r, d) for d in pairs.values() for r in d.values() if r["verdict"] != "PASS")
    versions = Counter(r.get("version") for d in pairs.values() for r in d.values())
    lines = [f"## {source}", "",
             f"{found if found is not None else '?'} pairs found on both sides; {len(pairs)} checked here "
             f"(both dtypes: float32 judged against float64). Records by checker version (a hash of the code "
             f"that decides a verdict): {', '.join(f'{v} ({n})' for v, n in versions.most_common()) or 'none'}."]
    if stale:
        old = Counter(r.get("version") for d in stale.values() for r in d.values() if r.get("version") != version)
        lines[-1] += (f" Not shown: {len(stale)} pair(s) whose records an older checker made, in one dtype or both "
                      f"({', '.join(f'{v}: {n} records' for v, n in old.most_common())}); the same command "
                      "re-checks them, and until then they count as not checked.")
    lines += ["", "| outcome | pairs |", "|---|---|"]
    lines += [f"| {v} | {overall[v]} |" for v in ("PASS", "KNOWN DIFFERENCE", "FAIL", "untransferable", "error",
                                                 "crashed", "skipped") if overall[v]]
    lines += ["", "Findings by cause (records, one per pair and dtype):", "", "| cause | records |", "|---|---|"]
    lines += [f"| {c} | {n} |" for c, n in causes.most_common()] or ["| none | 0 |"]
    lines += ["", "| pair | input | params | pairing | float32 | float64 | first finding | time (s) "
                  "| peak / declared GB |", "|---|---|---|---|---|---|---|---|---|"]
    for name in sorted(pairs):
        d = pairs[name]
        any_r = next(iter(d.values()))
        first = _first_finding(d)
        lines.append(f"| {name} | {any_r.get('input_size', '?')} | {_figure(any_r.get('params'), ',')} | "
                     f"{any_r.get('pairing', '')} | "
                     f"{d.get('float32', {}).get('verdict', '')} | {d.get('float64', {}).get('verdict', '')} | "
                     f"{one_line(first)} | {_figure(any_r.get('seconds'), '.0f')} | "
                     f"{_figure(any_r.get('peak_gb'), '.1f')} / {_figure(declared_gb(any_r), '.1f')} |")
    return (lines + _over_declared(pairs) + _reviewed(pairs)
            + (_cost_of_the_rest(offered, pairs, cores) if offered is not None else [])
            + (_families_at_imagenet_size(offered, pairs, families) if offered is not None and families else [])
            + [""])


def _over_declared(pairs: dict) -> list[str]:
    """How many pairs peaked above the memory their task declared (Ray may place such a task beside others)."""
    over = [r for r in (next(iter(d.values())) for d in pairs.values())
            if r.get("peak_gb") and declared_gb(r) and r["peak_gb"] > declared_gb(r)]
    if not over:
        return []
    return ["", f"{len(over)} pair(s) peaked above the memory their task declared: a task declares what was known "
            "when it ran (1.25x a measured peak of the pair or its architecture; else a formula of its parameters, "
            "and since 2026-11-30 10:00 of its layers' outputs, which lies above every small pair's peak: "
            "docs/FINDINGS.md, \"The zoo on Ray\")."]


def _reviewed(pairs: dict) -> list[str]:
    """What each review that covers some of ``pairs``' records found, and which records it covers."""
    lines = []
    for review in REVIEWS:
        dtypes = {name: sorted(r["dtype"] for r in d.values() if review.covers(r, d)) for name, d in pairs.items()}
        covered = [f"{name} {' and '.join(dtypes[name])}" for name in sorted(dtypes) if dtypes[name]]
        if covered:
            lines += ["", f"**Reviewed by hand: {review.cause}** ({review.verdict}: {', '.join(covered)}). "
                          f"{review.finding} Reproduce: `.venv/bin/python benchmarks/zoo_reviews.py {review.key} "
                          "[--pairs GLOB]`."]
    return ["", "### Reviewed by hand", "", "The checker's verdicts stand; these notes say what a person "
            "found behind them. Layer and tensor names are the records': Gluon's for rows (`features.1.0...`), "
            "PyTorch's (`features.stage1.unit1...`) where a note says so. A reproduction prints the figures its "
            "note cites; at 224 px a pair's check takes minutes and up to 8 GB, and some keys check the first "
            "covered pair unless `--pairs` names others."] + lines if lines else []


def render(store_dir, offered: dict | None = None, cores: int = 2, version: str | None = None,
           families: dict | None = None) -> str:
    """The Markdown report of every source's store in ``store_dir``.

    ``offered``: ``{source: [ZooPair]}``, every pair each source offers (for the counts and the cost
    of the pairs not checked); ``cores``: what that cost is divided by; ``version``: the checker whose
    records are results (:func:`~parity.zoo.store.code_version`); an older checker's are counted, not
    shown (None: every record); ``families``: ``{source: {pair: family}}`` (:func:`~parity.zoo.families.family_of`),
    for which families have a pair checked at ImageNet size.
    """
    lines = ["# Model zoos, verified", "",
             f"Generated from the results store `{store_dir}` (one JSON line per pair, dtype and seed) by "
             f"`python -m parity zoo SOURCE --store {store_dir} --markdown docs/ZOO.md`, which also resumes the "
             "run where it stopped. Each pair: the Gluon zoo's model and the PyTorch zoo's, random weights "
             "(Gluon initialised with seeded Xavier and moved to torch), stock models, checked by `check_pair` "
             "under its own policy in float32 and float64. A FAIL's cause is the first line of its diagnosis that "
             "is not the accepted convention. "
             "Where a person examined records the checker could not explain, their rows say what was found "
             "(\"reviewed by hand\", each reproduced by `benchmarks/zoo_reviews.py`); the verdict stays the "
             "checker's.", ""]
    for source in SOURCES:  # a zoo's store only: other line files may share the folder (score_zoo_bugs.py's)
        store = Store(store_dir, source)
        if not store.path.exists():
            continue
        pairs = _pairs(store.latest().values())
        lines += _source_section(source, (offered or {}).get(source), pairs, cores, version,
                                 (families or {}).get(source))
    return "\n".join(lines) + "\n"
