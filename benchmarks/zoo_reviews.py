"""The measurements behind each hand review of zoo records (prints; asserts nothing).

    .venv/bin/python benchmarks/zoo_reviews.py KEY [--pairs GLOB] [--store docs/zoo]

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
- ``mxnet-prelu-float32``: MXNet's float64 PReLU on three values, then each pair's float64 check, the port as
  is, then with its PReLU layers rounding as MXNet's (``mxnet_rounding.prelu_as_mxnet``).
- ``prelu-float64-decides``: the pair's float32 check as is, with that emulation, and with torch's oneDNN off.
- ``mxnet-bilinear-float32``: MXNet's float64 BilinearResize2D against torch's and against float32 coordinates;
  each pair's float64 training forward with and without the emulation; the first pair's float64 check with it.
- ``scnet-bilinear-up``: one ScConv ``up`` layer of each zoo beside torch's modes, then the check with the port's
  ``up`` layers bilinear as Gluon's.
- ``instance-norm-no-float64``, ``float32-without-float64``: MXNet's InstanceNorm in float64 and its float32
  accuracy, each Gluon model alone in float64, then the first pair's check with Gluon's InstanceNorm given a
  float64 path.

At 224 px a pair's check takes minutes and up to 8 GB: the keys in ``FIRST_ONLY`` check the first covered pair
unless ``--pairs`` names others.
"""
import argparse
import copy
import fnmatch
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SOURCE = "gluoncv2:pytorchcv"


#: the committed zoo store, whose records the reviews examined (its index describes every pair offered)
STORE = Path(__file__).resolve().parent.parent / "docs" / "zoo"


def _pairs(review, store: str, glob: str | None) -> list:
    """The pairs ``review`` covers that ``glob`` matches, sorted by name (only these are described, where the
    store's index lacks them)."""
    from modern_cnns.parity.zoo.sources import enumerate_pairs, select

    found = {p.name: p for g in review.pairs for p in enumerate_pairs(review.source, store, g)}
    return [p for p in select(sorted(found.values(), key=lambda p: p.name))
            if glob is None or fnmatch.fnmatchcase(p.name, glob)]


def _transferred(pair) -> tuple:
    """(Gluon block, torch module) of ``pair``, paired as the zoo pairs them, Gluon's seeded weights in both."""
    from modern_cnns.parity.weights.transfer import gluon_to_torch
    from modern_cnns.parity.zoo.sources import build
    from modern_cnns.parity.zoo.task import _pairing

    block, module = build(pair)
    _, kwargs = _pairing(block, module, pair, 0)
    gluon_to_torch(block, module, zero_frozen=pair.zero_frozen, **kwargs)
    return block, module


def _check(pair, torch_onednn: bool = True, *, dtypes=("float32", "float64"), change: str = "", patch=None) -> None:
    """The pair's check as the zoo runs it (``patch(block, module)``, if given, first changes what one side computes,
    and returns what undoes it, or None), printed: each dtype's verdict, first divergence, failing rows (those
    other than the accepted BatchNorm statistics named), and the worst row of each kind with its tolerance."""
    import torch

    from modern_cnns.parity.verdict.ports import check_pair
    from modern_cnns.parity.verdict.report import _verdict
    from modern_cnns.parity.zoo.sources import build
    from modern_cnns.parity.zoo.task import ACCEPTED, _pairing

    def statistic(row) -> bool:  # the accepted BatchNorm convention's rows
        return str(row.check).endswith(("running_var", "running_mean"))

    block, module = build(pair)
    _, kwargs = _pairing(block, module, pair, 0)
    undo = patch(block, module) if patch else None
    torch.backends.mkldnn.enabled = torch_onednn
    start = time.perf_counter()
    try:
        results = check_pair(block, module, pair.input_shape, seed=0, dtypes=dtypes, name=pair.name,
                             zero_frozen=pair.zero_frozen, accept=ACCEPTED, **kwargs)
    finally:
        torch.backends.mkldnn.enabled = True
        if undo:
            undo()
    print(f"  {pair.name}{', ' + change if change else ''}, torch's oneDNN {'on' if torch_onednn else 'off'} "
          f"({time.perf_counter() - start:.0f} s):")
    for r in results:
        failed = [row for row in r.rows if not row.passed]
        other = sorted((row for row in failed if not statistic(row)), key=lambda row: -row.max_rel)
        verdict = f"error {r.error}" if r.error else _verdict(r.passed, r.known_difference)
        print(f"    {r.dtype}: {verdict}; first divergence: "
              f"{r.first_divergence}; {len(failed)} of {len(r.rows)} rows fail, {len(other)} of them other than "
              "BatchNorm statistics "
              f"{[(str(row.check), f'{row.max_rel:.1e}') for row in other[:3]]}")
        for kind in ("output", "gradient", "after"):
            rows = [row for row in r.rows if kind in str(row.check) and not statistic(row)]
            if rows:
                worst = max(rows, key=lambda row: row.max_rel)
                print(f"      worst {kind} row: {worst.check}: rel {worst.max_rel:.1e} "
                      f"({'passes' if worst.passed else 'FAILS'}: {worst.tolerance})")


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

    ins64, grads64 = run(torch.float64, True)
    print(f"  {pair.name}, PyTorch model alone, float32 against float64 (the check's first batch and loss):")
    for onednn in (True, False):
        ins32, grads32 = run(torch.float32, onednn)
        flips = [(name, i64[(i64 > 0) != (ins32[name] > 0)], ins32[name][(i64 > 0) != (ins32[name] > 0)])
                 for name, i64 in ins64.items()]
        flips = [(name, a, b) for name, a, b in flips if a.numel()]
        worst = max(grads64, key=lambda n: _rel(grads32[n], grads64[n]))
        values = sorted({f"{v:.6e}" for _, a, _ in flips for v in a.tolist()})
        print(f"    torch's oneDNN {'on' if onednn else 'off'}: worst gradient {worst} rel "
              f"{_rel(grads32[worst], grads64[worst]):.1e}; ReLU decisions that flip: "
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

    pair = next(p for p in enumerate_pairs(SOURCE, os.environ.get("ZOO_STORE", STORE), name) if p.name == name)
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
    parser.add_argument("--pairs", help="glob: only the covered pairs it matches (default: all; for "
                                        f"{', '.join(FIRST_ONLY)}: the first)")
    parser.add_argument("--store", default=str(STORE), help="the zoo store whose index lists the pairs (default: "
                                                            "the committed one, which the reviews examined)")
    if sys.argv[1:2] == ["--gluon-forward"]:  # (internal: one Gluon model's forward, in a process of its own)
        if len(sys.argv) != 3:
            parser.error("--gluon-forward takes one pair name")
        _gluon_forward(sys.argv[2])
        return
    args = parser.parse_args()
    if not Path(args.store).is_dir():
        parser.error(f"--store {args.store}: not a zoo store (a folder the zoo command writes)")
    from modern_cnns.parity.frameworks import set_threads

    set_threads(1)  # as a zoo task runs
    review = next(r for r in REVIEWS if r.key == args.key)
    pairs = _pairs(review, args.store, args.pairs)
    if args.pairs is None and review.key in FIRST_ONLY:
        pairs = pairs[:1]  # a pair's full checks take minutes: the others on request (--pairs)
    if not pairs:
        parser.error(f"no pair of {review.source} is both covered by {review.key} ({', '.join(review.pairs)}) and "
                     f"matches --pairs {args.pairs!r}")
    print(f"{review.key}: {review.cause}; {len(pairs)} pair(s)")
    REPRODUCE[review.key](pairs, args.store)


#: reviews whose reproduction checks a pair in full (minutes, and up to 8 GB at 224 px): the first pair by default
FIRST_ONLY = ("relu-near-tie", "instance-norm-no-float64", "float32-without-float64")


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


def _prelu_layers_as_mxnet(block, module) -> None:
    import torch
    from mxnet_rounding import prelu_as_mxnet

    layers = [m for m in module.modules() if isinstance(m, torch.nn.PReLU)]
    for m in layers:
        m.register_forward_hook(prelu_as_mxnet)
    print(f"    ({len(layers)} PReLU layers of the port round their float64 negative side as MXNet's)")


def _mxnet_prelu_operator() -> None:
    import mxnet as mx

    x = mx.nd.array([-10 / 3, 2.0, -1e-3], dtype="float64").reshape((1, 3, 1, 1))
    gamma = mx.nd.array([0.25, 0.25, 0.1], dtype="float64")
    x.attach_grad()
    gamma.attach_grad()
    with mx.autograd.record():
        y = mx.nd.LeakyReLU(x, gamma=gamma, act_type="prelu")
    y.backward(mx.nd.ones_like(y))
    print(f"  MXNet float64 LeakyReLU(act_type='prelu'), x (-10/3, 2, -1e-3), gamma (0.25, 0.25, 0.1): "
          f"{y.asnumpy().ravel().tolist()} (exact {[-10 / 3 * 0.25, 2.0, -1e-3 * 0.1]}); gradient to x "
          f"{x.grad.asnumpy().ravel().tolist()}, to gamma {gamma.grad.asnumpy().tolist()}")


def _mxnet_prelu_float32(pairs: list, store: str) -> None:
    _mxnet_prelu_operator()
    for pair in pairs:
        _check(pair, dtypes=("float64",), change="the port as is")
        _check(pair, dtypes=("float64",), change="the port's PReLU rounding as MXNet's", patch=_prelu_layers_as_mxnet)


def _prelu_float64_decides(pairs: list, store: str) -> None:
    for pair in pairs:
        _check(pair, dtypes=("float32",), change="the port as is")
        _check(pair, dtypes=("float32",), change="the port's PReLU rounding as MXNet's (in float64 only)",
               patch=_prelu_layers_as_mxnet)
        _check(pair, False, dtypes=("float32",), change="the port as is")


def _interpolating_as_mxnet(block, module):
    import torch
    from mxnet_rounding import interpolate_as_mxnet

    original = torch.nn.functional.interpolate
    torch.nn.functional.interpolate = interpolate_as_mxnet(original)
    return lambda: setattr(torch.nn.functional, "interpolate", original)


def _rel(a, b) -> float:
    """The largest difference relative to ``b``'s largest value (numpy arrays or torch tensors)."""
    return float(abs(a - b).max() / abs(b).max())


def _mxnet_resize_operator() -> None:
    """MXNet's float64 BilinearResize2D against torch's, and against float32 coordinates, forward and backward."""
    import mxnet as mx
    import numpy as np
    import torch
    from mxnet_rounding import bilinear_as_mxnet

    rng = np.random.RandomState(0)
    for n_in, n_out in ((28, 56), (14, 28), (7, 14), (56, 112)):
        x, g = rng.standard_normal((1, 2, n_in, n_in)), rng.standard_normal((1, 2, n_out, n_out))
        xm = mx.nd.array(x, dtype="float64")
        xm.attach_grad()
        with mx.autograd.record():
            ym = mx.nd.contrib.BilinearResize2D(xm, height=n_out, width=n_out)
        ym.backward(mx.nd.array(g, dtype="float64"))
        said = []
        for name, resize in (("torch", lambda t: torch.nn.functional.interpolate(
                t, size=(n_out, n_out), mode="bilinear", align_corners=True)),
                             ("float32 coordinates", lambda t: bilinear_as_mxnet(t, (n_out, n_out)))):
            xt = torch.tensor(x, requires_grad=True)
            yt = resize(xt)
            yt.backward(torch.tensor(g))
            said.append(f"{name} forward rel {_rel(yt.detach().numpy(), ym.asnumpy()):.1e}, backward rel "
                        f"{_rel(xt.grad.numpy(), xm.grad.asnumpy()):.1e}")
        with torch.no_grad():
            exact = _rel(torch.nn.functional.interpolate(torch.tensor(x), size=(n_out, n_out), mode="bilinear",
                                                         align_corners=True).numpy(),
                         bilinear_as_mxnet(torch.tensor(x), (n_out, n_out), "float64").numpy())
        print(f"  float64 {n_in} -> {n_out}, against MXNet's BilinearResize2D: {'; '.join(said)} (torch against "
              f"float64 coordinates: forward rel {exact:.1e})")


def _resized_whole_model(pair) -> None:
    """Both models' float64 training forward and input gradient on one random batch, the port as is, then with its
    ``F.interpolate`` rounding as MXNet's."""
    import mxnet as mx
    import numpy as np
    import torch

    block, module = _transferred(pair)
    block.cast("float64")
    module = module.double().train()
    x = np.random.RandomState(0).standard_normal((2, *pair.input_shape))
    xm = mx.nd.array(x, dtype="float64")
    xm.attach_grad()
    with mx.autograd.record():
        ym = block(xm)
    g = np.random.RandomState(1).standard_normal(ym.shape)
    ym.backward(mx.nd.array(g, dtype="float64"))
    for emulate in (False, True):
        undo = _interpolating_as_mxnet(block, module) if emulate else None
        try:
            xt = torch.tensor(x, requires_grad=True)
            yt = module(xt)
            yt.backward(torch.tensor(g))
        finally:
            if undo:
                undo()
        print(f"  {pair.name} float64 training forward, the port {'resizing as MXNet' if emulate else 'as is'}: "
              f"output rel {_rel(yt.detach().numpy(), ym.asnumpy()):.1e}, input gradient rel "
              f"{_rel(xt.grad.numpy(), xm.grad.asnumpy()):.1e}")


def _mxnet_bilinear_float32(pairs: list, store: str) -> None:
    _mxnet_resize_operator()
    for pair in pairs:
        _resized_whole_model(pair)
    _check(pairs[0], dtypes=("float64",), change="the port's bilinear resizes rounding as MXNet's",
           patch=_interpolating_as_mxnet)  # ~2 min and 7.5 GB each: the others on request (--pairs)


def _mxnet_error(err) -> str:
    return next((line.strip() for line in str(err).splitlines() if "Check failed" in line), str(err)[:120])


def _instance_norm_operator() -> None:
    """MXNet's InstanceNorm in float64 and float32; its float32 accuracy beside torch's, against torch's float64."""
    import mxnet as mx
    import numpy as np
    import torch

    for dtype in ("float64", "float32"):
        try:
            mx.nd.InstanceNorm(*(mx.nd.ones(s, dtype=dtype) for s in ((2, 3, 4, 4), (3,), (3,)))).wait_to_read()
            print(f"  bare mx.nd.InstanceNorm {dtype}: ran")
        except mx.base.MXNetError as err:
            print(f"  bare mx.nd.InstanceNorm {dtype}: {_mxnet_error(err)}")
    rs = np.random.RandomState(0)
    shape = (2, 128, 28, 28)
    x = rs.standard_normal(shape) + 10 * rs.standard_normal((1, shape[1], 1, 1))
    g, b, w = 1 + 0.1 * rs.standard_normal(shape[1]), 0.1 * rs.standard_normal(shape[1]), rs.standard_normal(shape)

    def torch_instance_norm(dtype) -> list:
        xt, gt, bt = (torch.tensor(a, dtype=dtype, requires_grad=True) for a in (x, g, b))
        y = torch.nn.functional.instance_norm(xt, weight=gt, bias=bt, eps=1e-5)
        (y * torch.tensor(w, dtype=dtype)).sum().backward()
        return [t.detach().double().numpy() for t in (y, xt.grad, gt.grad, bt.grad)]

    xm, gm, bm = (mx.nd.array(a, dtype="float32") for a in (x, g, b))
    for a in (xm, gm, bm):
        a.attach_grad()
    with mx.autograd.record():
        y = mx.nd.InstanceNorm(xm, gm, bm, eps=1e-5)
    y.backward(mx.nd.array(w, dtype="float32"))
    truth, port32 = torch_instance_norm(torch.float64), torch_instance_norm(torch.float32)
    mxnet32 = [a.asnumpy().astype("float64") for a in (y, xm.grad, gm.grad, bm.grad)]
    print(f"  InstanceNorm alone, float32 against torch's float64, {shape}, channel means ~N(0, 10): " + "; ".join(
        f"{name} MXNet {_rel(m, t):.1e} torch {_rel(p, t):.1e}"
        for name, m, p, t in zip(("output", "input gradient", "gamma gradient", "beta gradient"), mxnet32, port32,
                                 truth)))


def _instance_norm(pairs: list, store: str) -> None:
    """MXNet's InstanceNorm, then each Gluon model alone in float64; then the pairs' checks with Gluon's InstanceNorm
    given a float64 path (process-wide, so last)."""
    import mxnet as mx
    from mxnet_rounding import give_gluon_instance_norm_a_float64_path

    from modern_cnns.parity.zoo.sources import build

    _instance_norm_operator()
    for pair in pairs:
        block, _ = build(pair)
        block.initialize(mx.init.Xavier())
        block.cast("float64")
        try:
            block(mx.nd.zeros((1, *pair.input_shape), dtype="float64")).wait_to_read()
            print(f"  {pair.name}: the Gluon model alone ran its float64 forward")
        except mx.base.MXNetError as err:
            print(f"  {pair.name}: the Gluon model alone, float64 forward: {_mxnet_error(err)}")
    give_gluon_instance_norm_a_float64_path()
    for pair in pairs:
        _check(pair, change="Gluon's InstanceNorm given a float64 path (float32: MXNet's own kernel)")


def _ups_as_gluons(block, module) -> None:
    from mxnet_rounding import bilinear_up_as_mxnet

    ups = [name for name, _ in module.named_modules() if name.endswith("conv2b.up")]
    for name in ups:
        parent, _, child = name.rpartition(".")
        setattr(module.get_submodule(parent), child, bilinear_up_as_mxnet())
    print(f"    (the port's {len(ups)} conv2b.up layers compute MXNet's bilinear resize, as Gluon's do)")


def _scnet_bilinear_up(pairs: list, store: str) -> None:
    """One ScConv ``up`` layer of each zoo on a small tensor, beside torch's modes and MXNet's nearest upsampling;
    then the pair's check with the port's ``up`` layers computing what Gluon's compute."""
    import mxnet as mx
    import numpy as np
    import torch
    import torch.nn.functional as F  # noqa: N812
    from mxnet_rounding import bilinear_up_as_mxnet

    from modern_cnns.parity.zoo.sources import build

    for pair in pairs:
        block, module = build(pair)
        gluon_up, port_up = block.features[1][0].body.conv2b.up, module.features.stage1.unit1.body.conv2b.up
        size = block.features[1][0].body.conv2b.in_size
        print(f"  {pair.name}: Gluon {gluon_up!r}, called with size {size}; PyTorch {port_up!r}")
        x = np.random.RandomState(0).standard_normal((1, 2, size[0] // 4, size[1] // 4))
        for dtype in ("float32", "float64"):
            gluon = gluon_up(mx.nd.array(x, dtype=dtype), size).asnumpy()
            xt = torch.tensor(x.astype(dtype))
            port = port_up(xt, size=size).numpy()
            nearest = mx.nd.UpSampling(mx.nd.array(x, dtype=dtype), scale=4, sample_type="nearest").asnumpy()
            figures = {
                "Gluon's up against the port's": _rel(gluon, port),
                "Gluon's against torch bilinear align_corners=True": _rel(
                    gluon, F.interpolate(xt, size, mode="bilinear", align_corners=True).numpy()),
                "Gluon's against MXNet's kernel emulated": _rel(gluon, bilinear_up_as_mxnet()(xt, size).numpy()),
                "the port's against torch nearest": _rel(port, F.interpolate(xt, size, mode="nearest").numpy()),
                "the port's against MXNet UpSampling nearest": _rel(port, nearest)}
            print(f"    {dtype} {x.shape} -> {size}: " + "; ".join(f"{k} rel {v:.2e}" for k, v in figures.items()))
        _check(pair, change="the port's up layers bilinear as Gluon's", patch=_ups_as_gluons)


#: how each review (``modern_cnns.parity.zoo.reviews.REVIEWS``, by key) is reproduced
REPRODUCE = {"relu-near-tie": _relu_near_tie, "float32-overflow": _overflow, "random-drop-path": _drop_path,
             "drop-path-float32-mask": _drop_path, "fixed-batchnorm-affine": _fixed_affine,
             "onednn-sub-memory": _onednn_sub_memory, "sigfpe": _process_death,
             "mxnet-prelu-float32": _mxnet_prelu_float32, "prelu-float64-decides": _prelu_float64_decides,
             "mxnet-bilinear-float32": _mxnet_bilinear_float32, "instance-norm-no-float64": _instance_norm,
             "float32-without-float64": _instance_norm, "scnet-bilinear-up": _scnet_bilinear_up}

if __name__ == "__main__":
    main()
