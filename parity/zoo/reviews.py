"""Zoo records a person examined by hand: what the checker could not say, found and reproduced.

The checker's verdict stands: a reviewed FAIL is still a FAIL in the store and in the report's counts.
A review only adds, beside the records it covers, the cause that was found and how it was checked, so a
reader of ``docs/ZOO.md`` does not take a float32 rounding accident for a porting bug (or the reverse).

A review covers a record only while the record is one of those examined: the same source, a pair its
globs match, one of its dtypes, the seed, a checker version it lists, the verdict, and the record's own
signature of the cause (which rows fail; the error's words).  A record of another checker version is
not covered until someone reruns the review's benchmark on it and adds the version: a new checker may
fail the pair for another reason.  Each row is reproduced by ``benchmarks/zoo_reviews.py KEY``, which
prints the measurements its finding cites.
"""
from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable
from dataclasses import dataclass

from modern_cnns.parity.zoo.engine import WORKER_DIED


def _unexplained_fail(record: dict) -> bool:
    """No error, and a diagnosis that names nothing but the accepted BatchNorm convention: the checker did not
    say why the record fails."""
    from modern_cnns.parity.zoo.report import names_only_the_convention  # here: report imports this module

    return not record.get("error") and names_only_the_convention(record)


def _float64_passed(pair: dict) -> bool:
    return (pair.get("float64") or {}).get("verdict") in ("PASS", "KNOWN DIFFERENCE")


def _nothing_float64_disproves(record: dict) -> bool:
    """No error, and a diagnosis whose every line is the accepted BatchNorm convention's or a layer that one tree
    runs as a module and the other as a function (``extra layer``/``missing layer``, e.g. SE-ResNet's pooling):
    beside a float64 pass, such a line is shown harmless, since float64 checks the same two trees more tightly."""
    from modern_cnns.parity.zoo.report import names_only_the_convention  # here: report imports this module

    lines = record.get("diagnosis") or []
    return not record.get("error") and bool(lines) and all(
        names_only_the_convention({"diagnosis": [line]}) or str(line).startswith(("extra layer (", "missing layer ("))
        for line in lines)


def _fails_on_gradients_only(record: dict, pair: dict) -> bool:
    """A FAIL whose diagnosis names nothing a float64 pass disproves, beside that pass, and whose every worst row is
    a gradient with a finite difference.  (A record keeps its 3 worst rows: a failing output below three gradients
    would not show.)"""
    worst = record.get("worst") or []
    return (_nothing_float64_disproves(record) and bool(worst) and _float64_passed(pair)
            and all(isinstance(row, (list, tuple)) and len(row) == 2
                    and str(row[0]).startswith(("gradient of ", "input gradient"))
                    and isinstance(row[1], (int, float)) and math.isfinite(row[1]) for row in worst))


def _prediction_not_finite(record: dict, pair: dict) -> bool:
    """An unexplained FAIL whose worst row is the prediction output, its difference not finite, beside a float64
    pass."""
    worst = record.get("worst") or []
    return (_unexplained_fail(record) and bool(worst) and _float64_passed(pair)
            and isinstance(worst[0], (list, tuple)) and list(worst[0]) == ["predict output", None])


def _parts_inside_a_layer(record: dict, pair: dict) -> bool:
    """An unexplained FAIL the checker localised inside one layer's own forward code."""
    return _unexplained_fail(record) and "values part in its forward code" in str(record.get("first_divergence")
                                                                                  or "")


def _refusal_names(*words: str) -> Callable[[dict, dict], bool]:
    """A refused transfer whose problems (the record's ``detail``) say every one of ``words``."""
    return lambda record, pair: all(w in str(record.get("detail") or "") for w in words)


def _error_says(words: str) -> Callable[[dict, dict], bool]:
    return lambda record, pair: words in str(record.get("error") or "")


@dataclass(frozen=True)
class Review:
    key: str            #: the name ``benchmarks/zoo_reviews.py`` reproduces it under
    source: str
    pairs: tuple        #: globs over the source's pair names
    dtypes: tuple       #: the dtypes whose records it explains
    verdict: str        #: the verdict it explains
    versions: tuple     #: the checker versions whose records were examined
    signature: Callable[[dict, dict], bool]  #: (record, its pair's records by dtype): the sign of the cause
    cause: str          #: the cause, in a few words (the report's cause table and pair rows)
    finding: str        #: what was found, and how it was checked
    seed: int = 0

    def covers(self, record: dict, pair: dict | None = None) -> bool:
        """Whether ``record`` is one this review examined; ``pair``: the pair's records by dtype (without them,
        a review that reads the other dtype's verdict covers nothing)."""
        return (record.get("source") == self.source and record.get("dtype") in self.dtypes
                and record.get("verdict") == self.verdict and record.get("version") in self.versions
                and record.get("seed", 0) == self.seed
                and any(fnmatch.fnmatchcase(str(record.get("pair", "")), glob) for glob in self.pairs)
                and self.signature(record, pair or {}))


#: the checker whose zoo run (docs/ZOO.md) the reviews below examined
_EXAMINED = ("a863fd78318c",)

REVIEWS = (
    Review(
        "relu-near-tie", "gluoncv2:pytorchcv",
        ("densenet100_k12_cifar10", "densenet100_k12_cifar100", "densenet100_k12_svhn", "seresnet10"), ("float32",),
        "FAIL", _EXAMINED, _fails_on_gradients_only,
        "a float32 ReLU near-tie that torch's oneDNN kernels round across zero (not a porting bug)",
        "float32 gradients fail while float64 passes (KNOWN DIFFERENCE: only the accepted BatchNorm statistics "
        "differ): DenseNet-100 (32 px) by up to rel 5.4e-2 for cifar10 and svhn, 7.8e-2 for cifar100, on "
        "features.1.24.conv.conv.weight; SE-ResNet-10 (224 px) by 7.0e-3 on features.2.0.body.conv1.conv.weight. "
        "Against float64, the port's float32 gradients are as far off, MXNet's within 2e-5. With torch's oneDNN "
        "kernels off (`torch.backends.mkldnn.enabled = False`) the same checks pass in float32 (worst gradient "
        "rel 8.8e-6 for DenseNet, 1.6e-5 for SE-ResNet). The mechanism, shown on the check's own first batch "
        "and loss with the PyTorch model alone: in SE-ResNet-10 one value entering "
        "features.stage2.unit1.body.conv1.activ is +1.15e-6 in float64 and -8.4e-8 under torch's oneDNN float32 "
        "(that layer's inputs reach 5.2; float32 keeps ~7 digits), so that ReLU closes, and the worst gradient "
        "is that very layer's conv weight (rel 7.0e-3); in DenseNet-100 one channel value, 7.2e-8 in float64, "
        "comes out -3.4e-7 and flips 8 ReLU decisions, because every later DenseNet unit normalises that channel "
        "again (worst gradient features.stage1.unit25.conv.conv.weight, the same tensor as the check's). With "
        "torch's oneDNN off no decision flips. The checker allows for such ties only where reruns of the "
        "original on nudged inputs move it as much, or where float32 cannot resolve the check at all; here "
        "neither held, so it cannot yet tell this tie from a float32-only fault of a port."),
    Review(
        "float32-overflow", "gluoncv2:pytorchcv", ("resnet1202_cifar10", "resnet1202_cifar100", "resnet1202_svhn"),
        ("float32",), "FAIL", _EXAMINED, _prediction_not_finite,
        "the prediction output overflows float32 in both frameworks (not a porting bug)",
        "In prediction mode, freshly initialised BatchNorm layers do not normalise (running mean 0, variance 1), "
        "and through 1202 residual layers the output grows to 3.0e38-3.3e38 in float64 (on a random input), in "
        "both frameworks alike; float32's largest value is 3.4e38. In float32 every value of the output is "
        "inf or NaN, in MXNet and in the port alike, so its difference is not a number and the row fails. "
        "Float64 passes (KNOWN DIFFERENCE: only the accepted BatchNorm statistics differ). The checker skips a "
        "probe whose original overflows, but not the prediction output itself."),
    Review(
        "random-drop-path", "gluoncv2:pytorchcv", ("fractalnet_cifar10", "fractalnet_cifar100"), ("float32",),
        "FAIL", _EXAMINED, _parts_inside_a_layer,
        "FractalNet drops random paths in training mode: the two frameworks draw different masks",
        "gluoncv2's FractalNet joins its columns through a local drop-path mask drawn from numpy's global random "
        "generator in every training-mode forward (`FractalBlock.calc_drop_mask`), beside Dropout layers (rates "
        "0.1-0.4) drawn from MXNet's; pytorchcv draws its own. The checker finds the training forward parting "
        "inside the first join, between a layer that agrees and the next that receives a different input. The "
        "Gluon model alone gives training outputs rel 0.83-0.86 apart for seeds 0 and 1 of both generators, and "
        "the same output for seed 0 twice. A stochastic layer like this cannot be compared value by value (the "
        "checker compares Dropout by its structure instead), so this pair has no verdict in training mode; "
        "nothing points to a porting bug."),
    Review(
        "drop-path-float32-mask", "gluoncv2:pytorchcv", ("fractalnet_cifar10", "fractalnet_cifar100"), ("float64",),
        "error", _EXAMINED, _error_says("expected float64, got float32"),
        "gluoncv2's FractalNet builds its drop-path mask in float32, so it cannot train in float64",
        "`FractalBlock.join_outs` makes its mask with `mx.nd.array(...)`, float32 whatever the network's dtype, "
        "and MXNet refuses to multiply float64 features by it (`Incompatible attr ... expected float64, got "
        "float32`). The Gluon model alone fails its float64 training forward this way; its prediction forward "
        "(no mask) runs. A fault of the Gluon original in float64, not of the port."),
    Review(
        "fixed-batchnorm-affine", "gluoncv2:pytorchcv", ("wrn20_10_1bit_*", "wrn20_10_32bit_*"),
        ("float32", "float64"), "untransferable", _EXAMINED,
        _refusal_names("no torch counterpart", ".bn.gamma"),
        "Gluon's non-affine BatchNorm keeps a fixed gamma and beta that torch's has not (not a porting bug)",
        "Both zoos build 19 of these networks' 20 BatchNorm layers without learned affine parameters. Gluon's "
        "(`center=False, scale=False`) still holds gamma and beta, fixed at 1 and 0 and never trained "
        "(`grad_req` null); pytorchcv's (`affine=False`) holds neither. The transfer refuses a tensor with no "
        "counterpart, so no pairing of the two trees passes, though these tensors compute nothing. Accepting "
        "fixed identity parameters without a counterpart would be a change to the transfer (`parity/weights`)."),
    Review(
        "onednn-sub-memory", "gluoncv2:pytorchcv",
        ("densenet40_k*_bc_*", "xdensenet40_2_k*_bc_*", "ghostnet", "hardnet39ds", "ibn_densenet121", "mixnet_s",
         "msdnet22", "nasnet_4a1056", "selecsls42"), ("float32",),
        "error", _EXAMINED, _error_says("could not construct a sub-memory"),
        "MXNet 1.9.1's oneDNN cannot run these models' float32 training forward (not a porting bug)",
        "MXNet's error `could not construct a sub-memory` (a oneDNN view into a tensor) comes from the Gluon "
        "model alone, in its float32 forward under `autograd.record()`; with MXNet's oneDNN off "
        "(`MXNET_MKLDNN_ENABLED=0`) the same forward and backward run. The checker judges float32 with oneDNN "
        "on only (with it off, MXNet's kernels are far more accurate than torch's CPU kernels, and a float32 "
        "verdict would judge torch's kernels), so these pairs have a float64 verdict only."),
    Review(
        "sigfpe", "gluoncv2:pytorchcv", ("shakedropresnet*", "shakeshakeresnet*"), ("float32", "float64"),
        "crashed", _EXAMINED, _error_says(WORKER_DIED),
        "the Gluon model's training forward dies of SIGFPE in MXNet, run alone (not a porting bug)",
        "The Gluon model alone runs its prediction forward, then is killed by SIGFPE in its first forward "
        "under `autograd.record()`, every run, for every covered pair. A crashed record does not say which "
        "signal ended its worker (Ray does not report it): the review covers these pairs' crashes on the "
        "checker it examined, whose task died, was retried once (the engine's rule) and died again, as the "
        "model does alone. No verdict is possible for these pairs on MXNet 1.9.1's CPU build."),
)


def review_of(record: dict, pair: dict | None = None) -> Review | None:
    """The review that covers ``record`` (``pair``: its pair's records by dtype), or None."""
    return next((review for review in REVIEWS if review.covers(record, pair)), None)
