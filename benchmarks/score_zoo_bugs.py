"""Score the checker on porting bugs injected automatically into zoo pairs, on Ray (prints; asserts nothing).

    .venv/bin/python benchmarks/score_zoo_bugs.py [--bugs 200] [--max-input 64] [--seed 0]
        [--results FILE.jsonl] [--cpus N] [--address HOST:PORT] [--verbose]

The hand-made corpus (``parity_tests/bug_corpus.py``, scored by ``score_diagnosis.py``) holds 46
bugs on 9 pairs, each placed by hand.  Here the bugs are placed by a program, into ports nobody
here chose: one zoo pair per architecture family (gluoncv2 0.0.64 <-> pytorchcv 0.0.74, the
smallest of each family at the given input size), one bug a run.

1. **The correct ports.**  Each pair is checked in float64 with ``use_gluon_batchnorm`` applied
   (the one difference every pytorchcv port has, see docs/ZOO.md), tensors paired as the zoo
   pairs them.  A pair must PASS here to take part: a bug in a port that already fails scores
   nothing.  A finding on a passing pair is a false statement.
2. **The bugs.**  Every place in a passing port where a bug category of the corpus applies is
   a *site* (each BatchNorm, conv, pooling, activation, dropout, SE block, residual unit with a
   stride); the sites are drawn, seeded, round-robin over the categories, so every category is
   spread over every family.  Each bug is labelled, as the corpus's are, with the torch module
   where it lives and its true cause (a key of ``bug_corpus.CAUSES``).
3. **The score**, per category and overall, with the corpus's own judge
   (``score_diagnosis.judge``): caught, first-named layer right, true cause first, false statements.

Every check is a Ray task (one CPU each; a worker runs up to ``CHECKS_PER_WORKER`` of them).  Results are appended to
``--results`` as they arrive (default ``reports/zoo/bugs.jsonl``): a re-run skips what is there.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import random
import re
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def _importable():
    """The corpus and its judge, importable here and in every Ray worker (which starts elsewhere)."""
    for folder in (REPO, REPO / "benchmarks"):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))


_importable()

import score_diagnosis  # noqa: E402

from parity_tests import bug_corpus  # noqa: E402

#: families left out, and why: their training-mode forward is random on purpose (stochastic
#: depth, shake-shake), so no two runs agree and no bug could be told from the model itself
RANDOM_FAMILIES = {"resdropresnet": "stochastic depth", "shakedropresnet": "ShakeDrop (and SIGFPE in MXNet)",
                   "shakeshakeresnet": "shake-shake"}


# --------------------------------------------------------------------------- the bug operators
@dataclass(frozen=True)
class Site:
    """One bug, as data (it travels to a Ray worker): apply ``operator`` at ``path`` of the port."""
    pair: str
    operator: str
    path: str

    @property
    def name(self) -> str:
        return f"{self.pair}: {self.operator} at {self.path}"


def _kind(mod) -> str:
    return type(mod).__name__


def _conv_sites(mod) -> bool:
    return _kind(mod) == "Conv2d" and mod.kernel_size[0] > 1


def _replace(root, path, new):
    parent, _, child = path.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, child, new)


def _nn(name, *args, **kwargs):
    from torch import nn

    return getattr(nn, name)(*args, **kwargs)


def _stride_unit(mod) -> tuple | None:
    """(conv holding the stride, conv to move it to) in a residual unit's body, else None."""
    body = getattr(mod, "body", None)
    if body is None or not hasattr(body, "conv1") or not hasattr(body, "conv2"):
        return None
    first, second = (getattr(getattr(body, n), "conv", getattr(body, n)) for n in ("conv1", "conv2"))
    if _kind(first) != "Conv2d" or _kind(second) != "Conv2d":
        return None
    if first.stride == (2, 2) and second.stride == (1, 1):
        return "body.conv1", "body.conv2"
    if first.stride == (1, 1) and second.stride == (2, 2):
        return "body.conv2", "body.conv1"
    return None


def _conv_of(root, path):
    mod = root.get_submodule(path)
    return (path + ".conv", mod.conv) if hasattr(mod, "conv") else (path, mod)


def _move_stride(root, path):
    held, to = _stride_unit(root.get_submodule(path))
    (_, a), (_, b) = _conv_of(root, f"{path}.{held}"), _conv_of(root, f"{path}.{to}")
    a.stride, b.stride = (1, 1), (2, 2)


def _stride_label(root, path):
    """The first of the two convs in execution order: where the shapes first differ."""
    held, to = _stride_unit(root.get_submodule(path))
    return _conv_of(root, f"{path}.{min(held, to)}")[0]


def _with_bias(old, bias):
    from torch import nn

    return nn.Conv2d(old.in_channels, old.out_channels, old.kernel_size, old.stride, old.padding, old.dilation,
                     old.groups, bias=bias)


def _gluon_batchnorm(old, **kwargs):
    from modern_cnns.torch_impl import gluon_layers as gl

    return gl.BatchNorm(in_channels=old.num_features, epsilon=old.epsilon, **kwargs)


def _is_gluon_batchnorm(mod) -> bool:
    from modern_cnns.torch_impl import gluon_layers as gl

    return isinstance(mod, gl.BatchNorm)


def _avg_like(old):
    return _nn("AvgPool2d", old.kernel_size, old.stride, old.padding, ceil_mode=old.ceil_mode)


def _max_like(old):
    return _nn("MaxPool2d", old.kernel_size, old.stride, old.padding, ceil_mode=old.ceil_mode)


def _bump(value):
    return tuple(v + 1 for v in value) if isinstance(value, tuple) else value + 1


def _set(**attrs):
    def mutate(root, path):
        for attr, value in attrs.items():
            setattr(root.get_submodule(path), attr, value(root.get_submodule(path)) if callable(value) else value)
    return mutate


def _swap(make):
    def mutate(root, path):
        _replace(root, path, make(root.get_submodule(path)))
    return mutate


@dataclass(frozen=True)
class Operator:
    """A bug category: where it applies, what it does, its true cause, and how its site is labelled."""
    category: str
    cause: str
    applies: object      #: (module, root, path) -> bool
    mutate: object       #: (root, path) -> None, in place
    label: object = None  #: (root, path) -> the torch module where the bug lives (default: path)


def _pool(kind):
    return lambda m, root, path: _kind(m) == kind


OPERATORS = {
    "bn eps": Operator("batchnorm", "batchnorm eps", lambda m, r, p: _is_gluon_batchnorm(m), _set(epsilon=1e-3)),
    "bn momentum value": Operator("batchnorm", "momentum value", lambda m, r, p: _is_gluon_batchnorm(m),
                                  _set(momentum=float(np.float32(0.99)))),
    "bn momentum convention": Operator("batchnorm", "momentum convention",
                                       lambda m, r, p: _is_gluon_batchnorm(m), _set(momentum=0.1)),
    "stock BatchNorm2d": Operator("batchnorm", "variance convention", lambda m, r, p: _is_gluon_batchnorm(m),
                                  _swap(lambda old: _nn("BatchNorm2d", old.num_features, eps=old.epsilon))),
    "bn affine off": Operator("batchnorm", "affine off", lambda m, r, p: _is_gluon_batchnorm(m),
                              _swap(lambda old: _gluon_batchnorm(old, scale=False, center=False))),
    "conv stride 2": Operator("conv", "conv stride", lambda m, r, p: _conv_sites(m) and m.stride == (1, 1),
                              _set(stride=(2, 2))),
    "conv padding 0": Operator("conv", "conv padding", lambda m, r, p: _conv_sites(m) and m.padding != (0, 0),
                               _set(padding=(0, 0))),
    "conv dilation 2": Operator("conv", "conv dilation", lambda m, r, p: _conv_sites(m) and m.dilation == (1, 1),
                                _set(dilation=(2, 2), padding=lambda c: tuple(2 * v for v in c.padding))),
    "conv bias flipped": Operator("conv", "conv bias", lambda m, r, p: _kind(m) == "Conv2d",
                                  _swap(lambda old: _with_bias(old, old.bias is None))),
    "avg for max pooling": Operator("pooling", "pooling type", _pool("MaxPool2d"), _swap(_avg_like)),
    "max for avg pooling": Operator("pooling", "pooling type", _pool("AvgPool2d"), _swap(_max_like)),
    "pool kernel +1": Operator("pooling", "pooling kernel",
                               lambda m, r, p: _kind(m) in ("MaxPool2d", "AvgPool2d"),
                               _set(kernel_size=lambda pool: _bump(pool.kernel_size))),
    "pool ceil_mode flipped": Operator("pooling", "ceil_mode",
                                       lambda m, r, p: _kind(m) in ("MaxPool2d", "AvgPool2d")
                                       and m.stride not in (1, (1, 1)),
                                       _set(ceil_mode=lambda pool: not pool.ceil_mode)),
    "ReLU6 for ReLU": Operator("activation", "relu6", lambda m, r, p: _kind(m) == "ReLU",
                               _swap(lambda old: _nn("ReLU6"))),
    "tanh for ReLU": Operator("activation", "activation type", lambda m, r, p: _kind(m) == "ReLU",
                              _swap(lambda old: _nn("Tanh"))),
    "hard sigmoid for sigmoid": Operator("activation", "hard sigmoid", lambda m, r, p: _kind(m) == "Sigmoid",
                                         _swap(lambda old: _nn("Hardsigmoid"))),
    "ReLU missing": Operator("layer", "missing layer", lambda m, r, p: _kind(m) == "ReLU",
                             _swap(lambda old: _nn("Identity"))),
    "SE block missing": Operator("layer", "missing layer", lambda m, r, p: _kind(m) == "SEBlock",
                                 _swap(lambda old: _nn("Identity"))),
    "dropout rate": Operator("dropout", "dropout rate", lambda m, r, p: _kind(m) == "Dropout" and m.p > 0,
                             _set(p=lambda d: round(min(0.9, d.p + 0.2), 2))),
    "stride moved within a unit": Operator("stride position", "stride position",
                                           lambda m, r, p: _stride_unit(m) is not None, _move_stride,
                                           _stride_label),
}


def sites(pair: str, module) -> dict:
    """operator name -> every site of it in ``module`` (the correct port)."""
    out = defaultdict(list)
    for path, mod in module.named_modules():
        if not path:
            continue
        for name, op in OPERATORS.items():
            if op.applies(mod, module, path):
                out[name].append(Site(pair, name, path))
    return out


def draw(sites_by_pair: dict, count: int, seed: int) -> list[Site]:
    """``count`` sites, spread over pairs and, within a pair, round-robin over its operators."""
    rng = random.Random(seed)
    queues = {}
    for pair, by_op in sorted(sites_by_pair.items()):
        ops = sorted(by_op)
        rng.shuffle(ops)
        queues[pair] = [(op, rng.sample(by_op[op], len(by_op[op]))) for op in ops]
    chosen = []
    while len(chosen) < count and any(q for q in queues.values()):
        for pair in sorted(queues):
            ops = queues[pair]
            if not ops or len(chosen) >= count:
                continue
            op, spots = ops.pop(0)
            chosen.append(spots.pop())
            if spots:
                ops.append((op, spots))
    return chosen


# --------------------------------------------------------------------------- one check (a Ray task)
def _build(zoo_pair, seed):
    """Both models, the port with Gluon's BatchNorm, and how their tensors pair."""
    _importable()
    from modern_cnns.parity import use_gluon_batchnorm
    from modern_cnns.parity.zoo.sources import build
    from modern_cnns.parity.zoo.task import _pairing

    block, module = build(zoo_pair)
    module = use_gluon_batchnorm(module)
    label, kwargs = _pairing(block, module, zoo_pair, seed)
    return block, module, label, kwargs


def check_one(zoo_pair, site: Site | None, seed: int) -> dict:
    """The float64 check of ``zoo_pair``'s correct port (``site`` None) or of one bug; scored."""
    from modern_cnns.parity import check_pair
    from modern_cnns.parity.frameworks import set_threads

    set_threads(1)
    start = time.perf_counter()
    block, module, label, kwargs = _build(zoo_pair, seed)
    truth = None
    if site is not None:
        op = OPERATORS[site.operator]
        truth = op.label(module, site.path) if op.label else site.path
        op.mutate(module, site.path)
    names = {name for name, _ in module.named_modules() if name}
    counts = score_diagnosis._batchnorm_counts(module, zoo_pair.input_shape)
    try:
        result, = check_pair(block, module, zoo_pair.input_shape, dtypes=("float64",), seed=seed, name=zoo_pair.name,
                             zero_frozen=zoo_pair.zero_frozen, **kwargs)
        said = {"error": result.error, "divergence": result.first_divergence, "diagnosis": list(result.diagnosis)}
        caught = not result.passed
    except Exception as err:  # a refusal (a transfer that no longer pairs, a forward that raises)
        said, caught = {"error": f"{type(err).__name__}: {err}"[:2000], "divergence": None, "diagnosis": []}, True
    record = {"pair": zoo_pair.name, "family": zoo_pair.family, "pairing": label, "said": said,
              "caught": caught, "seconds": time.perf_counter() - start}
    if site is None:
        false = score_diagnosis.false_statements(not caught, said["divergence"], _statements(said), module, counts)
        return {**record, "kind": "baseline", "passed": not caught, "false": false}
    op = OPERATORS[site.operator]
    bug = bug_corpus.Bug(site.name, zoo_pair.name, op.category, truth, op.cause, None)
    return {**record, "kind": "bug", "bug": site.name, "operator": site.operator, "category": op.category,
            "cause": op.cause, "module": truth, **score_diagnosis.judge(bug, caught, said, names, module, counts)}


def _statements(said):
    return [said["error"]] if said["error"] else [s for s in [said["divergence"], *said["diagnosis"]] if s]


def list_sites(zoo_pair, seed):
    """Every site of the pair's correct port (built once, in a worker)."""
    _, module, _, _ = _build(zoo_pair, seed)
    return dict(sites(zoo_pair.name, module))


# --------------------------------------------------------------------------- the driver
def choose_pairs(max_input: int, store_dir, families: str = "*") -> list:
    """The smallest pair (by parameters) of each family at ``max_input`` or below."""
    from modern_cnns.parity.zoo.sources import enumerate_pairs, select

    by_family = {}
    for pair in select(enumerate_pairs("gluoncv2:pytorchcv", cache_dir=store_dir), max_input=max_input):
        if pair.family in RANDOM_FAMILIES or not fnmatch.fnmatch(pair.family, families):
            continue
        if pair.family not in by_family or pair.params < by_family[pair.family].params:
            by_family[pair.family] = pair
    return sorted(by_family.values(), key=lambda p: p.name)


#: checks one worker runs before Ray replaces it: a fresh worker per check would spend most of a small
#: pair's time importing MXNet, torch and both zoos; every check seeds and builds its own models, so
#: a reused worker carries nothing from one check to the next but what it imported
CHECKS_PER_WORKER = 20


def _ray_map(fn, calls, on_result):
    """Run ``fn(*args)`` for each of ``calls`` as Ray tasks, calling ``on_result``."""
    import ray

    remote = ray.remote(num_cpus=1, max_calls=CHECKS_PER_WORKER, max_retries=1)(fn)
    pending = {remote.remote(*args): args for args in calls}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            args = pending.pop(ref)
            try:
                on_result(args, ray.get(ref))
            except Exception as err:  # a task that raised or a worker that died: said, not lost
                on_result(args, {"crashed": f"{type(err).__name__}: {str(err).splitlines()[0][:300]}"})


def _load(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a stop: that check runs again
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bugs", type=int, default=200)
    parser.add_argument("--max-input", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--families", default="*", help="only families matching this glob, e.g. 'resnet'")
    parser.add_argument("--results", default="reports/zoo/bugs.jsonl")
    parser.add_argument("--cpus", type=int, default=None)
    parser.add_argument("--address", default=None)
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--recheck-misses", action="store_true",
                        help="check again, with the code as it is now, every stored bug that was not caught, "
                             "localised and explained (after a fix; the record of each recheck replaces the old)")
    parser.add_argument("--rescore", action="store_true",
                        help="judge again what the stored checks said (after a change to the judge; no check is rerun)")
    args = parser.parse_args(argv)
    if args.rescore:
        return rescore(Path(args.results))

    import ray

    from modern_cnns.parity.zoo.engine import _connect
    from modern_cnns.parity.zoo.store import code_version

    version = code_version()
    results = Path(args.results)
    results.parent.mkdir(parents=True, exist_ok=True)
    done = {(r["kind"], r.get("bug", r["pair"])): r for r in _load(results)}
    pairs = {p.name: p for p in choose_pairs(args.max_input, results.parent, args.families)}
    start = time.perf_counter()
    _connect(args.address, args.cpus)

    def keep(row):
        row["version"] = version  # which checker said it (a recheck after a fix appends a newer record)
        with results.open("a") as out:
            out.write(json.dumps(row, default=str) + "\n")
        done[(row["kind"], row.get("bug", row["pair"]))] = row

    # 1. the correct ports, and the sites of those that pass
    todo = [(pairs[name], None, args.seed) for name in pairs if ("baseline", name) not in done]
    print(f"{len(pairs)} pairs (one per family, input <= {args.max_input}); {len(todo)} baselines to check",
          flush=True)
    _ray_map(check_one, todo, lambda a, r: keep(r if "crashed" not in r else
                                                {"kind": "baseline", "pair": a[0].name, "passed": False,
                                                 "false": [], "said": {"error": r["crashed"]}}))
    passing = [name for name in pairs if done[("baseline", name)]["passed"]]
    for name in pairs:
        base = done[("baseline", name)]
        first = base["said"].get("error") or base["said"].get("divergence") or next(
            iter(base["said"].get("diagnosis") or []), "")
        print(f"correct port {name:34s} {'PASS' if base['passed'] else 'FAIL'}"
              + ("" if base["passed"] else f"  (left out: {first[:110]})"), flush=True)
    found = {}
    _ray_map(list_sites, [(pairs[name], args.seed) for name in passing],
             lambda a, r: found.__setitem__(a[0].name, r if "crashed" not in r else {}))
    chosen = draw(found, args.bugs, args.seed)

    # 2. the bugs, one a run
    todo = [(pairs[s.pair], s, args.seed) for s in chosen if ("bug", s.name) not in done
            or args.recheck_misses and not _hit(done[("bug", s.name)])]
    print(f"{sum(len(v) for by in found.values() for v in by.values())} sites in {len(passing)} passing ports; "
          f"{len(chosen)} bugs drawn, {len(todo)} to check", flush=True)

    def scored(a, r):
        if "crashed" in r:
            site = a[1]
            r = {"kind": "bug", "bug": site.name, "pair": site.pair, "operator": site.operator,
                 "category": OPERATORS[site.operator].category, "cause": OPERATORS[site.operator].cause,
                 "module": site.path, "caught": False, "layer": None, "layer_right": False, "cause_first": False,
                 "false": [], "said": {"error": r["crashed"]}, "crashed": r["crashed"]}
        keep(r)
        marks = " ".join(f"{k}={'y' if r[k] else 'n'}" for k in ("caught", "layer_right", "cause_first"))
        print(f"{r['bug'][:90]:90s} {marks} false={len(r['false'])}", flush=True)
        if args.verbose and not (r["layer_right"] and r["cause_first"]):
            print(f"      named {r['layer']}; said: {_statements(r['said'])[:1]}"[:400])

    _ray_map(check_one, todo, scored)
    ray.shutdown()
    rows = [done[("bug", s.name)] for s in chosen]
    bases = [done[("baseline", n)] for n in pairs]
    print(f"\nwall {time.perf_counter() - start:.0f} s")
    score_diagnosis._table(rows, bases)
    _by_operator(rows)
    return 0


def _hit(row) -> bool:
    """Caught, the right layer named, the true cause first, nothing false: a bug the checker fully explained."""
    return row["caught"] and row["layer_right"] and row["cause_first"] and not row["false"]


def rescore(results: Path) -> int:
    """Judge every stored bug again, as the judge now reads what its check said: only the port is rebuilt
    (the bug applied), for its layer names and BatchNorm counts; nothing is checked again."""
    from modern_cnns.parity.zoo.sources import enumerate_pairs

    rows = _load(results)
    pairs = {p.name: p for p in enumerate_pairs("gluoncv2:pytorchcv", cache_dir=results.parent)}
    bases = {r["pair"]: r for r in rows if r["kind"] == "baseline"}
    bugs = {r["bug"]: r for r in rows if r["kind"] == "bug" and "crashed" not in r}
    for name, r in bugs.items():
        zoo_pair, op = pairs[r["pair"]], OPERATORS[r["operator"]]
        _, module, _, _ = _build(zoo_pair, 0)
        path = name.rsplit(" at ", 1)[1]
        op.mutate(module, path)
        names = {n for n, _ in module.named_modules() if n}
        bug = bug_corpus.Bug(name, r["pair"], op.category, r["module"], op.cause, None)
        counts = score_diagnosis._batchnorm_counts(module, zoo_pair.input_shape)
        r.update(score_diagnosis.judge(bug, r["caught"], r["said"], names, module, counts))
        if not (r["layer_right"] and r["cause_first"]):
            print(f"{name}\n    named {r['layer']}; said: {' | '.join(_statements(r['said']))[:400]}")
    score_diagnosis._table(list(bugs.values()), list(bases.values()))
    _by_operator(list(bugs.values()))
    return 0


def _by_operator(rows):
    print(f"\n{'operator':28s} {'bugs':>4s} {'caught':>7s} {'layer':>6s} {'cause':>6s}")
    ops = defaultdict(list)
    for r in rows:
        ops[r["operator"]].append(r)
    for op, rs in sorted(ops.items()):
        n = len(rs)
        print(f"{op:28s} {n:4d} {sum(r['caught'] for r in rs):7d} {sum(r['layer_right'] for r in rs):6d} "
              f"{sum(r['cause_first'] for r in rs):6d}")
    families = {r["pair"] for r in rows}
    print(f"{len(rows)} bugs, {len(ops)} operators, {len(families)} families: "
          + ", ".join(sorted(re.match(r"[a-z]*", f).group(0) for f in families)))


if __name__ == "__main__":
    sys.exit(main())
