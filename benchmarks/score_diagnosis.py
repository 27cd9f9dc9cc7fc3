"""Score the checker's localisation and diagnosis on the porting-bug corpus (prints; asserts nothing).

    .venv/bin/python benchmarks/score_diagnosis.py [--bug SUBSTRING] [--verbose] [--json FILE]

For every bug of ``parity_tests/bug_corpus.py`` the buggy port is checked (float64 unless the pair
says otherwise, 2 steps, batch 2) and scored, per category and overall:

* **caught**: the check fails (or refuses the pair);
* **layer right**: the first layer the output names (the first divergence, else the first finding)
  is the module where the bug lives;
* **cause first**: the first finding (else the refusal) names the true cause (the pattern of
  ``bug_corpus.CAUSES``);
* **false statements**: a fix advised that the port already has (``use_gluon_batchnorm`` on a port
  without a stock torch BatchNorm), an n that no BatchNorm layer of the port has, a divergence or a
  finding on a pair that passes.  The correct ports are checked too: any finding there is false.

Goals (issue 22): caught 100%, layer right >= 95%, cause first >= 90%, 0 false statements.
"""
from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from parity_tests import bug_corpus  # noqa: E402

_SLOT_SUFFIXES = ("weight", "bias", "running_mean", "running_var", "gamma", "beta", "moving_mean", "moving_var")
_LEADS = ("layer ", "layers: ", "layer: ", " at ", "after ", " in ", "torch ", ": ")


def named_layer(text: str, module_names: set) -> str | None:
    """The first torch module ``text`` names (a slot name names its module)."""
    text = re.sub(r"after \d+ steps?:?|\d+ SGD steps?", "", text)
    for match in re.finditer(r"[A-Za-z_0-9][\w.]*[\w]|[\w]", text):
        token = match.group(0)
        owner, _, last = token.rpartition(".")
        name = token if token in module_names else owner if owner in module_names and last in _SLOT_SUFFIXES \
            else None
        if name is None:
            continue
        if text[match.end():].startswith((" layer", " more", " step")):
            continue  # a count
        lead = text[max(0, match.start() - 8):match.start()]
        # a dotted name is a layer wherever it stands; a bare word only where a layer is named ("in layer
        # conv1"), not in a sentence: pytorchcv's classifier is called "output" ("Calculated output size")
        if "." in name or any(lead.endswith(w) for w in _LEADS) or match.start() == 0:
            return name
    return None


def _statements(result, error):
    """What the check says, in the order it prints it: the refusal or error, the first divergence, the findings."""
    if error is not None:
        return [error]
    return [s for s in [result.error, result.first_divergence, *result.diagnosis] if s]


def _batchnorm_counts(module, input_shape, batch_size=2):
    """Every n = batch x spatial positions a BatchNorm layer of the port normalises over."""
    import torch

    counts, handles = set(), []
    for mod in module.modules():
        if hasattr(mod, "running_var") and isinstance(getattr(mod, "running_var"), torch.Tensor):
            handles.append(mod.register_forward_hook(
                lambda m, inp, out: counts.add(inp[0].numel() // inp[0].shape[1])))
    try:
        with torch.no_grad():
            dtype = next(module.parameters()).dtype
            module.eval()(torch.zeros((batch_size, *input_shape), dtype=dtype))
    except Exception:
        pass
    finally:
        for h in handles:
            h.remove()
    return counts


def _has_stock_batchnorm(module):
    from torch import nn

    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def false_statements(passed, divergence, statements, module, counts) -> list:
    out = []
    for text in statements:
        if ("use_gluon_batchnorm" in text or "--gluon-batchnorm" in text) and not _has_stock_batchnorm(module):
            out.append(f"fix already applied: {text[:120]}")
        for n in re.findall(r"\bn=(\d+)", text):
            if counts and int(n) not in counts:
                out.append(f"n={n}, which no BatchNorm layer has ({sorted(counts)}): {text[:100]}")
    if passed and divergence:
        out.append(f"a divergence on a passing check: {divergence[:120]}")
    return out


def run_check(pair, block, module):
    """(result, error text): the float64 check of one pair; a refusal is an error text."""
    from modern_cnns.parity import check_pair

    kwargs = dict(pair.options)
    if pair.accept and "accept" in inspect.signature(check_pair).parameters:
        kwargs["accept"] = pair.accept
    try:
        result, = check_pair(block, module, pair.input_shape, dtypes=(pair.dtype,), **kwargs)
    except Exception as err:  # a refusal (transfer shapes, a forward that raises)
        return None, f"{type(err).__name__}: {err}"
    return result, None


def score_bug(bug):
    pair = bug_corpus.PAIRS[bug.pair]
    block, module = bug_corpus.build_pair(pair, bug)
    names = {name for name, _ in module.named_modules() if name}
    counts = _batchnorm_counts(module, pair.input_shape)
    start = time.perf_counter()
    result, error = run_check(pair, block, module)
    seconds = time.perf_counter() - start
    statements = _statements(result, error)
    caught = error is not None or not result.passed
    said = {"error": error if result is None else result.error,
            "divergence": None if result is None else result.first_divergence,
            "diagnosis": [] if result is None else list(result.diagnosis)}
    return {"bug": bug.name, "pair": bug.pair, "category": bug.category, "cause": bug.cause, "module": bug.module,
            "caught": bool(caught), **judge(bug, caught, said, names, module, counts), "statements": statements,
            "said": said, "seconds": seconds}


def judge(bug, caught, said, names, module, counts) -> dict:
    """Layer right, cause first and false statements of what the check ``said`` about ``bug``.

    What ``check`` prints has three parts: the error the check ended in (if any), the first divergence,
    the diagnosis.  The layer named is the first one the divergence names (the localisation the tool
    states), else the diagnosis, else the error: an error's text is evidence, not a localisation (a
    refused transfer lists every mismatched tensor, the first of them often far from the bug).  The
    cause stated first is the diagnosis's first line where there is one: an error such as "Output
    size is too small" says what broke, the diagnosis why.  Every statement counts for false ones.
    """
    statements = [s for s in [said["error"], said["divergence"], *said["diagnosis"]] if s]
    first_cause = next(iter(said["diagnosis"]), "") or said["error"] or said["divergence"] or ""
    naming = [s for s in [said["divergence"], *said["diagnosis"], said["error"]] if s]
    layer = next((n for n in (named_layer(s, names) for s in naming) if n), None)
    return {"layer": layer, "layer_right": layer == bug.module,
            "cause_first": bool(re.search(bug_corpus.CAUSES[bug.cause], first_cause, re.I)),
            "false": false_statements(not caught, said["divergence"], statements, module, counts)}


def score_baseline(pair):
    block, module = bug_corpus.build_pair(pair)
    counts = _batchnorm_counts(module, pair.input_shape)
    result, error = run_check(pair, block, module)
    statements = _statements(result, error)
    false = false_statements(result is not None and result.passed, result and result.first_divergence, statements,
                             module, counts)
    if result is not None and not result.passed:
        false.append("the correct port fails: " + "; ".join(statements)[:200])
    if error is not None:
        false.append("the correct port is refused: " + error[:200])
    return {"pair": pair.name, "passed": result is not None and result.passed, "false": false,
            "statements": statements}


def rescore(path) -> int:
    saved = json.loads(Path(path).read_text())
    bugs = {b.name: b for b in bug_corpus.BUGS}
    scores = []
    for s in saved["bugs"]:
        bug = bugs.get(s["bug"])
        if bug is None:
            continue
        pair = bug_corpus.PAIRS[bug.pair]
        _, module = bug_corpus.build_pair(pair, bug)
        names = {name for name, _ in module.named_modules() if name}
        said = s.get("said") or _said_from(s["statements"], s["caught"])
        scores.append({**s, "module": bug.module, "cause": bug.cause,
                       **judge(bug, s["caught"], said, names, module, _batchnorm_counts(module, pair.input_shape))})
    _table(scores, saved["baselines"])
    return 0


def _said_from(statements, caught):
    """A run saved before the three parts were kept apart: the divergence comes first and starts with "layer"."""
    if statements and re.match(r"\w+Error: ", statements[0]) and len(statements) == 1:
        return {"error": statements[0], "divergence": None, "diagnosis": []}
    divergence = statements[0] if statements and statements[0].startswith(("layer ", "torch forward", "(could")) \
        else None
    return {"error": None, "divergence": divergence, "diagnosis": statements[1 if divergence else 0:]}


def _pct(k, n):
    return f"{k}/{n} ({100.0 * k / n:.0f}%)" if n else "-"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bug", help="only bugs whose name contains this")
    parser.add_argument("--verbose", action="store_true", help="print what the check said for each bug")
    parser.add_argument("--json", help="write every bug's score here")
    parser.add_argument("--rescore", metavar="FILE.json", help="score again what a run saved with --json said "
                        "(after a change of the patterns or the scoring; nothing is checked again)")
    args = parser.parse_args(argv)
    if args.rescore:
        return rescore(args.rescore)
    from modern_cnns.parity.frameworks import ensure_threads

    ensure_threads()
    start = time.perf_counter()
    bugs = [b for b in bug_corpus.BUGS if not args.bug or args.bug in b.name]
    baselines = [score_baseline(p) for p in bug_corpus.PAIRS.values()] if not args.bug else []
    for base in baselines:
        print(f"correct port {base['pair']:22s} {'PASS' if base['passed'] else 'FAIL'}"
              + (f"  FALSE: {base['false']}" if base["false"] else ""), flush=True)
    scores = []
    for bug in bugs:
        s = score_bug(bug)
        scores.append(s)
        marks = " ".join(f"{k}={'y' if s[k] else 'n'}" for k in ("caught", "layer_right", "cause_first"))
        print(f"{bug.name:38s} {bug.pair:20s} {marks} layer={s['layer']!s:24.24s} false={len(s['false'])} "
              f"{s['seconds']:.1f}s", flush=True)
        if args.verbose:
            for text in s["statements"][:4]:
                print(f"      | {text[:200]}")
            for text in s["false"]:
                print(f"      ! {text[:200]}")
    print(f"wall {time.perf_counter() - start:.0f} s")
    _table(scores, baselines)
    if args.json:
        Path(args.json).write_text(json.dumps({"bugs": scores, "baselines": baselines}, indent=1, default=str))
    return 0


def _table(scores, baselines):
    print()
    print(f"{'category':16s} {'bugs':>4s}  {'caught':>12s}  {'layer right':>12s}  {'cause first':>12s}  false")
    categories = sorted({s["category"] for s in scores})
    for cat in [*categories, "overall"]:
        rows = [s for s in scores if cat in ("overall", s["category"])]
        n = len(rows)
        false = sum(len(s["false"]) for s in rows) + (sum(len(b["false"]) for b in baselines) if cat == "overall"
                                                       else 0)
        print(f"{cat:16s} {n:4d}  {_pct(sum(s['caught'] for s in rows), n):>12s}  "
              f"{_pct(sum(s['layer_right'] for s in rows), n):>12s}  "
              f"{_pct(sum(s['cause_first'] for s in rows), n):>12s}  {false}")
    print(f"\n{len(scores)} bugs over {len({s['pair'] for s in scores})} pairs; "
          f"false statements on correct ports: {sum(len(b['false']) for b in baselines)}")


if __name__ == "__main__":
    sys.exit(main())
