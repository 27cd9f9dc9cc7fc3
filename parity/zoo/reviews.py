"""Zoo records a person examined by hand: what the checker could not say, found and reproduced.

The checker's verdict stands: a reviewed FAIL is still a FAIL in the store and in the report's counts.
A review only adds, beside the records it covers, the cause that was found and how it was checked, so a
reader of ``docs/ZOO.md`` does not take a float32 rounding accident for a porting bug (or the reverse).

A review covers a record only while the record still says what was reviewed: the same source, a pair
its globs match, one of its dtypes and the same verdict.  A later checker that passes the pair, or fails it
otherwise, is not covered.  Each row is reproduced by ``benchmarks/zoo_reviews.py KEY``, which prints
the measurements the row cites.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass


@dataclass(frozen=True)
class Review:
    key: str        #: the name ``benchmarks/zoo_reviews.py`` reproduces it under
    source: str
    pairs: tuple    #: globs over the source's pair names
    dtypes: tuple   #: the dtypes whose records it explains
    verdict: str    #: the verdict it explains
    cause: str      #: the cause, in a few words (the report's cause table and pair rows)
    finding: str    #: what was found, and how it was checked

    def covers(self, record: dict) -> bool:
        return (record.get("source") == self.source and record.get("dtype") in self.dtypes
                and record.get("verdict") == self.verdict
                and any(fnmatch.fnmatchcase(record.get("pair", ""), glob) for glob in self.pairs))


REVIEWS = (
    Review(
        "relu-near-tie", "gluoncv2:pytorchcv",
        ("densenet100_k12_cifar10", "densenet100_k12_cifar100", "densenet100_k12_svhn"), ("float32",), "FAIL",
        "a float32 ReLU near-tie that torch's oneDNN kernels round across zero (not a porting bug)",
        "float32 gradients fail (worst 5.4e-2 to 7.8e-2, on features.1.24.conv.conv.weight) while every float64 "
        "row passes. The port's float32 gradients are 5.4e-2 from float64, MXNet's 8.9e-6. With torch's "
        "oneDNN kernels off (`torch.backends.mkldnn.enabled = False`) the same check passes in float32, "
        "gradients within rounding (worst 8.8e-6). The mechanism, shown on a random input of the pytorchcv model "
        "alone: a channel value that is -1.7e-7 after BatchNorm in float64 comes out +1.4e-8 under torch's "
        "oneDNN float32 (a rounding error of ~2e-7 on values of order 1), its ReLU opens, and as every later "
        "DenseNet unit normalises that channel again, 63 ReLU decisions flip (2 distinct values; none with "
        "torch's oneDNN off) and the gradients upstream move by up to 15 %. MXNet's float32 stays within "
        "8.9e-6 of float64 and its one-ulp input nudges move nothing across zero, so the checker's tie grounds "
        "(nudges; float64 decides) do not apply: its policy does not yet tell a tie flip from a float32-only "
        "fault."),
    Review(
        "onednn-sub-memory", "gluoncv2:pytorchcv", ("densenet40_k*_bc_*", "xdensenet40_2_k*_bc_*"), ("float32",),
        "error",
        "MXNet 1.9.1's oneDNN cannot run the float32 training forward (not a porting bug)",
        "`MXNetError: could not construct a sub-memory` comes from the Gluon model alone, in its float32 "
        "forward under `autograd.record()`; with MXNet's oneDNN off (`MXNET_MKLDNN_ENABLED=0`) the same "
        "forward and backward run. The checker judges float32 with oneDNN on only (with it off, MXNet's "
        "kernels are far more accurate than torch's CPU kernels, and a float32 verdict would judge torch's "
        "kernels), so these pairs have a float64 verdict only."),
    Review(
        "sigfpe", "gluoncv2:pytorchcv", ("shakedropresnet*", "shakeshakeresnet*"), ("float32", "float64"),
        "crashed",
        "MXNet kills the process with SIGFPE in the Gluon model's training forward (not a porting bug)",
        "The Gluon model alone runs its prediction forward, then dies with SIGFPE (exit 136) in its first "
        "forward under `autograd.record()`, every run: the Ray worker dies, is retried once, and the pair is "
        "recorded crashed in both dtypes. No verdict is possible for these pairs on MXNet 1.9.1's CPU build."),
)


def review_of(record: dict) -> Review | None:
    """The review that covers ``record``, or None."""
    return next((review for review in REVIEWS if review.covers(record)), None)
