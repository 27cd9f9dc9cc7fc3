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


_PRELU_KIND = "layer kind: torch prelu, gluon PReLU2"


def _first_prelu(record: dict) -> str | None:
    """The first torch layer the record's PReLU layer-kind line names (gluoncv2's ``PReLU2`` against nn.PReLU)."""
    line = next((ln for ln in record.get("diagnosis") or [] if str(ln).startswith(_PRELU_KIND)), None)
    return line.split(" layers: ", 1)[1].split(" (gluon ", 1)[0] if line and " layers: " in line else None


def _diverges_at_the_first_prelu(record: dict, pair: dict) -> bool:
    """No error, and the checker's first divergence is the first of the port's PReLU layers itself."""
    first = _first_prelu(record)
    return (not record.get("error") and first is not None
            and str(record.get("first_divergence") or "").startswith(f"layer {first} (gluon "))


def _float64_failed_at_the_first_prelu(record: dict, pair: dict) -> bool:
    """A float32 FAIL with no error and no first divergence, beside a float64 FAIL at the first PReLU."""
    float64 = pair.get("float64") or {}
    return (not record.get("error") and not record.get("first_divergence") and _first_prelu(record) is not None
            and float64.get("verdict") == "FAIL" and _diverges_at_the_first_prelu(float64, pair))


def _diverges_at_a_bilinear_resize(record: dict, pair: dict) -> bool:
    """No error, and the first divergence is where these models resize bilinearly: ResAttNet's ``...upsample``
    layer, or inside AirNet's attention block (``air.conv2`` agrees, ``air.conv3`` already receives a different
    input: ``F.interpolate`` sits between them)."""
    first = str(record.get("first_divergence") or "")
    resize_layer = first.startswith("layer ") and first.split(" (gluon ", 1)[0].endswith(".upsample")
    inside_air = ("values part in its forward code" in first and ".air.conv2.activ" in first
                  and ".air.conv3.conv" in first)
    return not record.get("error") and (resize_layer or inside_air)


def _float64_could_not_run(pair: dict) -> bool:
    return "Unsupported data type 1" in str((pair.get("float64") or {}).get("error") or "")


def _unexplained_beside_a_float64_error(record: dict, pair: dict) -> bool:
    """An unexplained float32 FAIL beside a float64 record that MXNet could not run."""
    return _unexplained_fail(record) and _float64_could_not_run(pair)


def _diverges_at_an_scconv_up(record: dict, pair: dict) -> bool:
    """No error, and the checker's first divergence is a self-calibrated convolution's upsampling (``conv2b.up``)."""
    first = str(record.get("first_divergence") or "")
    return not record.get("error") and first.startswith("layer ") and first.split(" (gluon ", 1)[0].endswith(
        ".conv2b.up")


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
        "features.1.24.conv.conv.weight; SE-ResNet-10 (224 px) by 7.0e-3 on features.2.0.body.conv1.conv.weight "
        "(Gluon's names, as the records give them). "
        "Against float64, the port's float32 gradients are as far off, MXNet's within 2e-5. With torch's oneDNN "
        "kernels off (`torch.backends.mkldnn.enabled = False`) the same checks pass in float32 (worst gradient "
        "rel 8.8e-6 for DenseNet, 1.6e-5 for SE-ResNet). The mechanism, shown on the check's own first batch "
        "and loss with the PyTorch model alone (PyTorch's names): in SE-ResNet-10 one value entering "
        "features.stage2.unit1.body.conv1.activ is +1.15e-6 in float64 and -8.4e-8 under torch's oneDNN float32 "
        "(that layer's inputs reach 5.2; float32 keeps ~7 digits), so that ReLU closes, and the worst gradient "
        "is that very layer's conv weight (rel 7.0e-3); in DenseNet-100 one channel value, 7.2e-8 in float64, "
        "comes out -3.4e-7 and flips 8 ReLU decisions, because every later DenseNet unit normalises that channel "
        "again (worst gradient features.stage1.unit25.conv.conv.weight, the same tensor as the check's). With "
        "torch's oneDNN off no decision flips. The checker allows for such ties only where reruns of the "
        "original on nudged inputs move it as much, or where float32 cannot resolve the check at all; here "
        "neither held, so it cannot yet tell this tie from a float32-only fault of a port."),
    Review(
        "mxnet-prelu-float32", "gluoncv2:pytorchcv", ("dicenet_wd5", "espnetv2_wd2"), ("float64",), "FAIL", _EXAMINED,
        _diverges_at_the_first_prelu,
        "in float64, MXNet's PReLU computes its negative side in float32 (a framework difference, not a porting bug)",
        "gluoncv2's PReLU2 is MXNet's `LeakyReLU(act_type='prelu')` with a per-channel gamma; pytorchcv's port uses "
        "`nn.PReLU(num_parameters=C)`. In float64 MXNet computes the negative side as float32(x) * float32(gamma) "
        "(x = -10/3, gamma 0.25: -0.8333333134651184, exact -0.8333333333333334), as the known difference "
        "`mxnet-leakyrelu-float32` records for act_type='leaky'; its backward is exact float64. The checker's "
        "first divergence is the network's first PReLU (rel 1.06e-8), after which gradients and weights after "
        "2 steps part by up to rel 6e-7 (dicenet_wd5) and 3e-6 (espnetv2_wd2), beyond float64's bound. With a "
        "forward hook on each of the port's PReLU layers (71 in dicenet_wd5, 58 in espnetv2_wd2) that rounds the "
        "negative side as MXNet does, the float64 check of both pairs gives KNOWN DIFFERENCE (no first "
        "divergence; worst row other than the BatchNorm statistics rel 7e-13 and 1.2e-12), and the record's "
        "other lines (outputs parting at inputs x10 and x30) go too: they were this rounding. The checker has no "
        "known difference for PReLU yet (its structure names the Gluon side `PReLU2`, not a PReLU)."),
    Review(
        "prelu-float64-decides", "gluoncv2:pytorchcv", ("dicenet_wd5",), ("float32",), "FAIL", _EXAMINED,
        _float64_failed_at_the_first_prelu,
        "two float32 rows too noisy to judge in float32 are left to the float64 check, which fails on MXNet's "
        "float32 PReLU (not a porting bug)",
        "The float32 record's worst rows (after 2 steps: ...dice.base_block.norm_activ.bn.beta, rel 0.175; a "
        "gradient, rel 9.5e-3) fail because the checker finds float32 cannot resolve them (MXNet's own float32 "
        "1-ulp sensitivity there is 3.0e-2 after the steps, its float32 error 1.6e-3 on the gradient; the port is "
        "more than 4 times as far from float64) and lets the float64 check decide, which failed "
        "(`mxnet-prelu-float32`). With the port's PReLU layers rounding as MXNet's in float64 (the float32 runs "
        "are unchanged), the same float32 check passes (KNOWN DIFFERENCE). With torch's oneDNN off and no "
        "emulation it passes too: the port's float32 error then stays within 4 times the original's, and float64 "
        "is not asked. The float32 verdict inherits the float64 PReLU difference."),
    Review(
        "mxnet-bilinear-float32", "gluoncv2:pytorchcv", ("airnet50_1x64d_r16", "airnext50_32x4d_r2", "resattnet56"),
        ("float64",), "FAIL",
        _EXAMINED, _diverges_at_a_bilinear_resize,
        "in float64, MXNet's bilinear resize computes its sampling positions in float32 (a framework difference, "
        "not a porting bug)",
        "Both zoos upsample bilinearly with aligned corners: gluoncv2 with `contrib.BilinearResize2D` (AirNet's "
        "and AirNeXt's `AirBlock`, between `air.conv2` and `air.conv3`; ResAttNet's `InterpolationBlock`), "
        "pytorchcv with `F.interpolate(..., mode='bilinear', align_corners=True)`. MXNet 1.9.1's CPU kernel "
        "computes the scale (in-1)/(out-1) and each source coordinate in float32 even for float64 data. On "
        "random float64 tensors torch's resize is rel 1.7e-7 to 2.9e-6 from MXNet's (28 -> 56: 2.0e-6) and "
        "within 3.4e-16 of the exact float64 resize; the same resize with float32 coordinates reproduces "
        "MXNet's exactly. Whole float64 training forward: the port as is is rel 7.7e-6 (airnet50_1x64d_r16) and "
        "3.5e-7 (resattnet56) from MXNet at the output, 1.9e-2 and 1.1e-2 at the input gradient; with the port's "
        "`F.interpolate` rounding as MXNet's, 6.5e-14 and 1.7e-14 (input gradient 2.3e-13, 5.4e-14). The "
        "float64 check with that emulation gives KNOWN DIFFERENCE for all three pairs (no first divergence; "
        "worst row other than the BatchNorm statistics rel 7.9e-10, 1.3e-9 and 9.4e-12, each within its bound), "
        "and the record's 'clips or saturates at larger inputs' line goes: it was this rounding. MXNet rounds; "
        "the port computes the same operation exactly."),
    Review(
        "scnet-bilinear-up", "gluoncv2:pytorchcv", ("scnet50",), ("float32", "float64"), "FAIL", _EXAMINED,
        _diverges_at_an_scconv_up,
        "gluoncv2's SCNet upsamples bilinearly where it asks for nearest; pytorchcv upsamples nearest (a fault of the "
        "Gluon original)",
        "Each self-calibrated convolution (`ScConv`) pools its input by 4, convolves, and upsamples back through "
        "`InterpolationBlock(scale_factor=4, bilinear=False)`. gluoncv2's `InterpolationBlock.hybrid_forward` "
        "takes its bilinear branch whenever a size is passed (`if self.bilinear or (size is not None)`), and "
        "`ScConv` always passes one, so the Gluon model computes `contrib.BilinearResize2D` (aligned corners) "
        "despite `bilinear=False`; pytorchcv's block calls `F.interpolate(..., mode='nearest')`, as SCNet's "
        "reference code does. On a (1, 2, 14, 14) random tensor upsampled to 56x56 the two `up` layers differ by "
        "rel 1.09 in both dtypes (the record: rel 0.88 at the same layer); the port's equals torch's nearest "
        "and MXNet's `UpSampling(sample_type='nearest')` exactly, Gluon's equals MXNet's bilinear kernel emulated "
        "(float32 coordinates: `mxnet-bilinear-float32`) exactly. With the port's 16 `up` layers computing that "
        "emulation, the check gives KNOWN DIFFERENCE in both dtypes (every failing row a BatchNorm statistic; "
        "float64's worst gradient rel 8.6e-12). The two zoos compute different networks; the Gluon original "
        "departs from its own `bilinear=False`."),
    Review(
        "instance-norm-no-float64", "gluoncv2:pytorchcv",
        ("ibn_resnet50", "ibn_resnext50_32x4d", "ibnb_resnet50", "ibn_densenet121"), ("float64",), "error", _EXAMINED,
        _error_says("Unsupported data type 1"),
        "MXNet 1.9.1's InstanceNorm has no float64 kernel: the Gluon model cannot run in float64 (not a porting bug)",
        "The IBN networks normalise part of their channels with Gluon's `nn.InstanceNorm`, whose operator accepts "
        "float32 only: a bare `mx.nd.InstanceNorm` on float64 arrays fails with `Check failed: ... Unsupported "
        "data type 1` (type 1 is float64), and so does each Gluon model alone in a float64 forward. The port "
        "(torch `InstanceNorm2d`) runs in float64. With Gluon's InstanceNorm given a float64 path (the same "
        "formula: biased variance over each sample's channel, eps 1e-5 inside the root, then gamma and beta), "
        "the float64 checks of ibn_resnet50, ibn_resnext50_32x4d and ibn_densenet121 come out KNOWN DIFFERENCE "
        "(only the accepted BatchNorm statistics differ); ibnb_resnet50's fails on one row besides them, `after "
        "2 steps: features.2.1.body.conv1.bn.beta`, rel 4.7e-10 against a bound of 4.4e-10 (4 x the original's "
        "own change under a 1-ulp nudge), three runs alike: a narrow miss, neither shown to be a difference nor "
        "cleared. The float64 errors themselves are MXNet's: its kernels lack float64, the port is not at fault."),
    Review(
        "float32-without-float64", "gluoncv2:pytorchcv", ("ibn_resnet50", "ibn_resnext50_32x4d", "ibnb_resnet50"),
        ("float32",), "FAIL", _EXAMINED, _unexplained_beside_a_float64_error,
        "float32 judged with no float64 reference, MXNet's InstanceNorm having no float64 kernel (not a porting bug)",
        "The checker judges float32 against the original's float64 run; here that run fails "
        "(`instance-norm-no-float64`), so every float32 row has only its plain tolerance, and rows the original "
        "itself cannot compute to float32 accuracy fail: the worst are BatchNorm and InstanceNorm betas after 2 "
        "SGD steps (rel 1.71 for ibn_resnet50 and ibn_resnext50_32x4d, 1.52 for ibnb_resnet50). With Gluon's "
        "InstanceNorm given a float64 path (float32 still runs MXNet's own kernel and gives the same rel 1.71), "
        "each float32 check is KNOWN DIFFERENCE, its worst rows passing on the float64 reference: ibn_resnet50's "
        "`features.2.2.body.conv1.ibn.inst_norm.beta`, the port 1.29 from float64 against the original's own "
        "float32 1-ulp sensitivity 1.68; ibn_resnext50_32x4d's 1.54 against 1.82; ibnb_resnet50's "
        "`features.3.0.body.conv3.bn.beta`, 1.15 against 1.59. These after-step rows are ill-conditioned for the "
        "original itself. MXNet's float32 InstanceNorm is a little less accurate than torch's alone (output "
        "4.7e-6 from float64 against 5.5e-7), far below what the network amplifies."),
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
