"""The measurements behind each hand review of zoo records (prints; asserts nothing).

    .venv/bin/python benchmarks/zoo_reviews.py KEY [--pairs GLOB] [--store reports/zoo]

KEY is a row of ``modern_cnns.parity.zoo.reviews.REVIEWS``; ``docs/ZOO.md`` cites the figures printed here.

- ``relu-near-tie``: the pair's check (float32 and float64, as the zoo runs it) with torch's oneDNN kernels
  on, then off; then, on the check's own first batch and loss with the PyTorch model alone, the ReLU inputs
  near zero that torch's float32 rounds across zero, and what that does to the gradients.
- ``float32-overflow``: each covered pair's prediction output (fresh BatchNorm statistics) in float64 and
  float32, in both frameworks: how much of it is finite, and its largest value.
- ``random-drop-path``, ``drop-path-float32-mask``: each covered Gluon model alone, its float32 training
  output for numpy seeds 0, 0 and 1, then its float64 training and prediction forwards.
- ``fixed-batchnorm-affine``: each covered pair's BatchNorm parameters, Gluon's by grad_req and value, torch's
  layers by whether they are affine.
- ``onednn-sub-memory``: each covered Gluon model's float32 training forward and backward, with MXNet's
  oneDNN on, then off (``MXNET_MKLDNN_ENABLED=0``), each in a process of its own.
- ``sigfpe``: each covered Gluon model's prediction forward, then its training forward, in a process of its
  own, and how that process ended.
"""
import argparse
import copy
import fnmatch
import os
import signal
import subprocess
import sys
import time

SOURCE = "gluoncv2:pytorchcv"


def _pairs(review, store: str, glob: str | None) -> list:
    from modern_cnns.parity.zoo.sources import enumerate_pairs, select

    pairs = select(enumerate_pairs(review.source, store))
    return [p for p in pairs if any(fnmatch.fnmatchcase(p.name, g) for g in review.pairs)
            and (glob is None or fnmatch.fnmatchcase(p.name, glob))]


def _transferred(pair) -> tuple:
    """(Gluon block, torch module) of ``pair``, paired as the zoo pairs them, Gluon's seeded weights in both."""
    from modern_cnns.parity.weights.transfer import gluon_to_torch
    from modern_cnns.parity.zoo.sources import build
    from modern_cnns.parity.zoo.task import _pairing

    block, module = build(pair)
    _, kwargs = _pairing(block, module, pair, 0)
    gluon_to_torch(block, module, zero_frozen=pair.zero_frozen, **kwargs)
    return block, module


def _check(pair, torch_onednn: bool) -> None:
    import torch

    from modern_cnns.parity.verdict.ports import check_pair
    from modern_cnns.parity.zoo.sources import build
    from modern_cnns.parity.zoo.task import ACCEPTED, _pairing

    torch.backends.mkldnn.enabled = torch_onednn
    block, module = build(pair)
    _, kwargs = _pairing(block, module, pair, 0)
    start = time.perf_counter()
    results = check_pair(block, module, pair.input_shape, seed=0, dtypes=("float32", "float64"), name=pair.name,
                         zero_frozen=pair.zero_frozen, accept=ACCEPTED, **kwargs)
    print(f"  {pair.name}, torch's oneDNN {'on' if torch_onednn else 'off'} ({time.perf_counter() - start:.0f} s):")
    for r in results:
        grads = [row for row in r.rows if "gradient" in str(row.check)]
        worst = max(grads, key=lambda row: row.max_rel)
        print(f"    {r.dtype}: {'passed' if r.passed else 'FAILED'}; {sum(not g.passed for g in grads)} of "
              f"{len(grads)} gradient rows fail; worst gradient row {worst.check}: rel {worst.max_rel:.1e} "
              f"({worst.tolerance})")
    torch.backends.mkldnn.enabled = True


def _flips(pair) -> None:
    """The PyTorch model alone, float32 against float64, on the check's own first batch and loss (inputs uniform in
    [0, 1) and labels from ``numpy.random.default_rng(0)``, cross-entropy): the ReLU decisions that flip, and the
    gradients."""
    import numpy as np
    import torch

    _, module = _transferred(pair)
    for m in module.modules():
        if isinstance(m, torch.nn.ReLU):
            m.inplace = False  # the hooks below keep each ReLU's input as it was
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.uniform(size=(2, *pair.input_shape)))
    with torch.no_grad():
        classes = copy.deepcopy(module).double().eval()(x).shape[1]
    labels = torch.tensor(rng.integers(0, classes, size=2))

    def run(dtype, onednn: bool) -> tuple[dict, dict]:
        torch.backends.mkldnn.enabled = onednn
        model, ins = copy.deepcopy(module).to(dtype).train(), {}
        for name, m in model.named_modules():
            if isinstance(m, torch.nn.ReLU):
                m.register_forward_hook(lambda m, i, o, name=name: ins.__setitem__(name, i[0].detach().double()))
        inputs = x.to(dtype).clone().requires_grad_()
        torch.nn.functional.cross_entropy(model(inputs), labels).backward()
        grads = {n: p.grad.double() for n, p in model.named_parameters()}
        torch.backends.mkldnn.enabled = True
        return ins, {**grads, "input": inputs.grad.double()}

    def rel(a, b) -> float:
        return ((a - b).abs().max() / b.abs().max()).item()

    ins64, grads64 = run(torch.float64, True)
    print(f"  {pair.name}, PyTorch model alone, float32 against float64 (the check's first batch and loss):")
    for onednn in (True, False):
        ins32, grads32 = run(torch.float32, onednn)
        flips = [(name, i64[(i64 > 0) != (ins32[name] > 0)], ins32[name][(i64 > 0) != (ins32[name] > 0)])
                 for name, i64 in ins64.items()]
        flips = [(name, a, b) for name, a, b in flips if a.numel()]
        worst = max(grads64, key=lambda n: rel(grads32[n], grads64[n]))
        values = sorted({f"{v:.6e}" for _, a, _ in flips for v in a.tolist()})
        print(f"    torch's oneDNN {'on' if onednn else 'off'}: worst gradient {worst} rel "
              f"{rel(grads32[worst], grads64[worst]):.1e}; ReLU decisions that flip: "
              f"{sum(a.numel() for _, a, _ in flips)}, in {len(flips)} ReLU layer(s), {len(values)} distinct "
              "float64 value(s)")
        for name, a, b in flips[:1]:
            print(f"      the first, at {name}: float64 {a[0].item():.2e}, float32 {b[0].item():.2e}; that layer's "
                  f"inputs reach {ins64[name].abs().max().item():.2g}")


def _overflow(pairs: list, store: str) -> None:
    """Each pair's prediction output (fresh statistics), float64 and float32, in both frameworks."""
    import mxnet as mx
    import numpy as np
    import torch

    def said(y) -> str:
        finite = np.isfinite(y)
        return f"{finite.mean():.0%} finite, largest {np.abs(y[finite]).max():.2e}" if finite.any() else "0% finite"

    for pair in pairs:
        block, module = _transferred(pair)
        x = np.random.RandomState(0).standard_normal((2, *pair.input_shape))
        for dtype in ("float64", "float32"):
            block.cast(dtype)
            gluon = block(mx.nd.array(x, dtype=dtype)).asnumpy()
            with torch.no_grad():
                port = module.to(getattr(torch, dtype)).eval()(torch.tensor(x, dtype=getattr(torch, dtype))).numpy()
            print(f"  {pair.name} {dtype}, prediction output: MXNet {said(gluon)}; PyTorch {said(port)}")


def _drop_path(pairs: list, store: str) -> None:
    """Each Gluon model alone: training outputs for seeds 0, 0 and 1 of numpy's and MXNet's generators (float32),
    then a float64 training forward, then a float64 prediction forward."""
    import mxnet as mx
    import numpy as np

    from modern_cnns.parity.zoo.sources import build

    for pair in pairs:
        block, _ = build(pair)
        block.initialize(mx.init.Xavier())
        x = mx.nd.array(np.random.RandomState(0).standard_normal((2, *pair.input_shape)))

        def train_out(seed: int, data) -> np.ndarray:
            np.random.seed(seed)  # the drop-path masks
            mx.random.seed(seed)  # its Dropout layers
            with mx.autograd.record():
                return block(data).asnumpy()

        a, b, c = train_out(0, x), train_out(0, x), train_out(1, x)
        print(f"  {pair.name} float32 training output: seed 0 twice differ by {np.abs(a - b).max():.1e}; "
              f"seeds 0 and 1 by {np.abs(a - c).max() / np.abs(a).max():.1e} (relative)")
        block.cast("float64")
        try:
            train_out(0, x.astype("float64"))
            print(f"  {pair.name} float64 training forward ran")
        except mx.base.MXNetError as err:
            line = next((ln for ln in str(err).splitlines() if "Incompatible" in ln or "Check failed" in ln), "?")
            print(f"  {pair.name} float64 training forward: {line.strip()[:150]}")
        block(x.astype("float64")).wait_to_read()
        print(f"  {pair.name} float64 prediction forward ran")


def _fixed_affine(pairs: list, store: str) -> None:
    """Each pair's BatchNorm parameters: Gluon's gamma and beta by grad_req and value; torch's layers by affine."""
    import mxnet as mx
    import torch

    from modern_cnns.parity.zoo.sources import build

    for pair in pairs:
        block, module = build(pair)
        block.initialize(mx.init.Xavier())
        block(mx.nd.zeros((1, *pair.input_shape)))
        kinds: dict = {}
        for name, param in block.collect_params().items():
            if name.endswith(("gamma", "beta")):
                values = param.data().asnumpy()
                key = (name.rsplit("_", 1)[-1], param.grad_req, float(values.min()), float(values.max()))
                kinds[key] = kinds.get(key, 0) + 1
        layers = [m.affine for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        print(f"  {pair.name}: Gluon (tensor, grad_req, min, max): count {kinds}; torch BatchNorm2d: "
              f"{layers.count(True)} affine, {layers.count(False)} not")


def _gluon_forward(name: str) -> None:
    """(In a process of its own.) The Gluon model's prediction forward, then its training forward and backward."""
    import mxnet as mx

    from modern_cnns.parity.zoo.sources import build, enumerate_pairs

    pair = next(p for p in enumerate_pairs(SOURCE, os.environ["ZOO_STORE"], name) if p.name == name)
    block, _ = build(pair)
    block.initialize(mx.init.Xavier())
    x = mx.nd.random.normal(shape=(2, *pair.input_shape))
    block(x).wait_to_read()
    print("prediction forward ran;", end=" ", flush=True)
    with mx.autograd.record():
        y = block(x)
    y.backward()
    mx.nd.waitall()
    print("training forward and backward ran", flush=True)


def _in_a_process(name: str, store: str, **env) -> str:
    proc = subprocess.run([sys.executable, __file__, "--gluon-forward", name], capture_output=True, text=True,
                          env={**os.environ, "ZOO_STORE": store, **env})
    said = proc.stdout.strip()
    if proc.returncode < 0:
        return f"{said} killed by {signal.Signals(-proc.returncode).name}"
    if proc.returncode:
        error = [line for line in (proc.stderr or "").splitlines() if "Error" in line]
        return f"{said} exit {proc.returncode}: {(error or ['?'])[-1].strip()[:120]}"
    return said


def main() -> None:
    from modern_cnns.parity.zoo.reviews import REVIEWS

    keys = [r.key for r in REVIEWS]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("key", choices=keys)
    parser.add_argument("--pairs", help="glob: only the covered pairs it matches (default: all; relu-near-tie: "
                                        "the first)")
    parser.add_argument("--store", default="reports/zoo", help="the zoo store (its index lists the pairs)")
    parser.add_argument("--gluon-forward", help=argparse.SUPPRESS)
    if "--gluon-forward" in sys.argv:
        _gluon_forward(sys.argv[sys.argv.index("--gluon-forward") + 1])
        return
    args = parser.parse_args()
    from modern_cnns.parity.frameworks import set_threads

    set_threads(1)  # as a zoo task runs
    review = next(r for r in REVIEWS if r.key == args.key)
    pairs = _pairs(review, args.store, args.pairs)
    if args.pairs is None and review.key == "relu-near-tie":
        pairs = pairs[:1]  # two full checks of a pair take minutes: the others on request (--pairs)
    if not pairs:
        sys.exit(f"no pair of {review.source} is both covered by {review.key} and matches {args.pairs!r}")
    print(f"{review.key}: {review.cause}; {len(pairs)} pair(s)")
    REPRODUCE[review.key](pairs, args.store)


def _relu_near_tie(pairs: list, store: str) -> None:
    for pair in pairs:
        for onednn in (True, False):
            _check(pair, onednn)
        _flips(pair)


def _onednn_sub_memory(pairs: list, store: str) -> None:
    for pair in pairs:
        print(f"  {pair.name}: oneDNN on: {_in_a_process(pair.name, store)} | oneDNN off: "
              f"{_in_a_process(pair.name, store, MXNET_MKLDNN_ENABLED='0')}")


def _process_death(pairs: list, store: str) -> None:
    for pair in pairs:
        print(f"  {pair.name}: {_in_a_process(pair.name, store)}")


#: how each review (``modern_cnns.parity.zoo.reviews.REVIEWS``, by key) is reproduced
REPRODUCE = {"relu-near-tie": _relu_near_tie, "float32-overflow": _overflow, "random-drop-path": _drop_path,
             "drop-path-float32-mask": _drop_path, "fixed-batchnorm-affine": _fixed_affine,
             "onednn-sub-memory": _onednn_sub_memory, "sigfpe": _process_death}

if __name__ == "__main__":
    main()
