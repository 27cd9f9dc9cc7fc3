"""The zoo on Ray: the store, the selection, and real runs on a local cluster and a two-node one.

The fast tests need neither framework nor Ray.  The Ray tests (slow) run real zoo pairs from
gluoncv2 0.0.64 and pytorchcv 0.0.74 at 32x32: ``nin_cifar10`` (a port that passes),
``resnet20_cifar10`` (stock BatchNorm: fails float64 on the running variance) and
``shakedropresnet20_cifar10``, whose Gluon side kills its own process: gluoncv2's ShakeDrop
block raises SIGFPE inside MXNet's forward, every time, on any CPU (an integer division by zero).
"""
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from parity_tests.conftest import REPO, needs_both, needs_torch

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="ray is not installed in this environment (pip install -r requirements.txt)")


def _pair(name="p", size=32, params=1000, **kw):
    from modern_cnns.parity.zoo.sources import ZooPair

    return ZooPair("gluoncv2:pytorchcv", name, name, size, params, **kw)


# --------------------------------------------------------------------------- store and selection
def _rec(pair, dtype="float32", seed=0, version="v1", verdict="PASS", **kw):
    return {"pair": pair, "dtype": dtype, "seed": seed, "version": version, "verdict": verdict, **kw}


def test_the_store_keeps_every_finished_record_and_skips_a_line_cut_short(tmp_path):
    from modern_cnns.parity.zoo.store import Store

    store = Store(tmp_path, "gluoncv2:pytorchcv")
    store.append([_rec("a"), _rec("a", "float64")])
    store.append([_rec("b")])
    with open(store.path, "a") as f:
        f.write('{"pair": "c", "dtype": "float32", "se')  # the process died mid-line
    assert [r["pair"] for r in store.records()] == ["a", "a", "b"]
    store.append([_rec("c")])  # the next run appends after the torn line and is read back
    assert sorted(k[0] for k in store.latest()) == ["a", "a", "b", "c"]


def test_resume_skips_only_what_this_code_version_recorded(tmp_path):
    from modern_cnns.parity.zoo.store import Store

    store = Store(tmp_path, "gluoncv2:pytorchcv")
    store.append([_rec("a", version="old"), _rec("b", version="new")])
    assert store.done("new") == {("b", "float32", 0)}
    store.append([_rec("a", version="new", verdict="FAIL")])  # the re-run's record wins
    assert store.latest()[("a", "float32", 0)]["verdict"] == "FAIL"
    assert store.done("new") == {("a", "float32", 0), ("b", "float32", 0)}


def test_a_pair_skipped_as_too_large_for_the_node_is_tried_again_by_the_next_run(tmp_path):
    from modern_cnns.parity.zoo.store import Store

    store = Store(tmp_path, "gluoncv2:pytorchcv")
    store.append([_rec("vgg19", version="v", verdict="skipped", error="needs ~19.4 GB, the largest node offers 8.6 GB"),
                  _rec("shakedrop", version="v", verdict="crashed")])
    assert store.done("v") == {("shakedrop", "float32", 0)}


def test_the_store_writes_strict_json(tmp_path):
    from modern_cnns.parity.zoo.store import Store

    store = Store(tmp_path, "gluoncv2:pytorchcv")
    store.append([_rec("a", worst=[("predict output", float("nan"))], seconds=float("inf"))])
    line = store.path.read_text().strip()
    record = json.loads(line, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert record["worst"] == [["predict output", None]] and record["seconds"] is None


def test_a_line_this_tool_did_not_write_is_no_result_and_odd_fields_still_render(tmp_path):
    """Hand-made lines (the tryout's): a verdict the tool never gives, or none, raised inside the report; they
    are no result, so a run re-checks the pair. Fields a record may lack render as unknown."""
    from modern_cnns.parity.zoo.report import render
    from modern_cnns.parity.zoo.store import Store

    store = Store(tmp_path, "gluoncv2:pytorchcv")
    store.append([_rec("a", verdict="timeout"), {"pair": "b", "dtype": "float32", "seed": 0, "version": "v1"},
                  _rec("c", params=None, diagnosis=["BatchNorm eps differs"], verdict="FAIL"),
                  _rec("d", seed=[0]), _rec("e", peak_gb="big"), _rec("f", declared_bytes=-5),
                  _rec("g", seconds=True), _rec("h", dtype=None),
                  # texts and rows this tool never writes (each crashed the report, or lost a review, once)
                  _rec("i", verdict="FAIL", diagnosis="running_var differs: the port stores torch's unbiased batch "
                                                      "variance"),
                  _rec("j", verdict="FAIL", diagnosis=["x", 7]), _rec("k", verdict="FAIL", worst=[["gradient of w"]]),
                  _rec("l", verdict="FAIL", worst=[[None, None]]), _rec("m", verdict="FAIL", worst=5),
                  _rec("n", verdict="error", error=["boom"]), _rec("o", verdict="FAIL", first_divergence=3)])
    with open(store.path, "ab") as f:  # not UTF-8 at all
        f.write(b'{"pair": "\xff\xfe", "dtype": "float32", "seed": 0, "verdict": "PASS"}\n')
    assert [r["pair"] for r in store.records()] == ["c"]
    assert store.done("v1") == {("c", "float32", 0)}
    row = next(line for line in render(tmp_path).splitlines() if line.startswith("| c |"))
    assert row.startswith("| c | ? | - |") and "| BatchNorm eps differs |" in row and row.endswith("| - | - / - |"), row


def test_selection_by_input_size_and_count_leaves_out_unbuildable_pairs():
    from modern_cnns.parity.zoo.sources import select

    pairs = [_pair("a", 32), _pair("b", 224), _pair("c", 0, unbuildable="ModuleNotFoundError: librosa"),
             _pair("d", 32)]
    assert [p.name for p in select(pairs, max_input=64)] == ["a", "d"]
    assert [p.name for p in select(pairs, max_input=64, limit=1)] == ["a"]
    assert [p.name for p in select(pairs)] == ["a", "b", "c", "d"]


def test_one_imagenet_size_pair_of_every_family_is_the_cheapest_imagenet_architecture_of_each():
    """``--min-input 65 --per-family 1``: the issue's "one ImageNet-size pair of every family". Of a family, an
    ImageNet architecture before a dataset variant (CUB-200's 200 classes make it the cheaper), then by cost
    (parameters x pixels); N per family are N architectures, not one on N datasets; ``--limit`` comes last."""
    from modern_cnns.parity.zoo.families import choose

    families = {"resnet10": "resnet", "resnet18": "resnet", "resnet10_cub": "resnet", "resnet20_cifar10": "resnet",
                "resnet20_svhn": "resnet", "resnet56_cifar10": "resnet", "vgg11": "vgg", "bn_vgg11": "vgg",
                "fpenet_cityscapes": "fpenet", "jasper": "jasper"}
    pairs = sorted([_pair("resnet10", 224, 5_000_000), _pair("resnet18", 224, 11_000_000),
                    _pair("resnet10_cub", 224, 4_000_000), _pair("resnet20_cifar10", 32, 270_000),
                    _pair("resnet20_svhn", 32, 270_000), _pair("resnet56_cifar10", 32, 850_000),
                    _pair("vgg11", 224, 132_000_000), _pair("bn_vgg11", 224, 132_900_000),
                    _pair("fpenet_cityscapes", 1024, 100_000), _pair("jasper", 0, unbuildable="no librosa")],
                   key=lambda p: p.name)  # offered by name

    def choice(*args):
        return [p.name for p in choose(pairs, *args, family=lambda p: families[p.name])]

    assert choice(65, None, 1, None) == ["fpenet_cityscapes", "resnet10", "vgg11"]
    assert choice(65, None, 2, None) == ["bn_vgg11", "fpenet_cityscapes", "resnet10", "resnet18", "vgg11"]
    assert choice(None, 64, 2, None) == ["resnet20_cifar10", "resnet56_cifar10"]  # not resnet20 twice
    assert choice(65, 300, 1, None) == ["resnet10", "vgg11"]
    assert choice(65, None, 1, 2) == ["fpenet_cityscapes", "resnet10"]
    assert choice(None, 64, None, None) == ["resnet20_cifar10", "resnet20_svhn", "resnet56_cifar10"]
    assert choice(224, 224, None, None) == ["bn_vgg11", "resnet10", "resnet10_cub", "resnet18", "vgg11"]  # inclusive
    detection = [_pair("centernet_resnet18_coco", 512, 14_000_000), _pair("centernet_resnet18_voc", 512, 12_000_000),
                 _pair("centernet_resnet50b_voc", 512, 30_000_000)]  # one architecture on COCO and on VOC
    assert [p.name for p in choose(detection, 65, None, 2, None, family=lambda p: "centernet")] == [
        "centernet_resnet18_voc", "centernet_resnet50b_voc"]


@needs_both  # the zoos' PyTorch packages: the full stack only
def test_a_family_is_the_pytorch_model_file_that_defines_the_builder():
    """Leading letters lumped ibn_densenet with ibn_resnet and MobileNet v2 with v3, and split alexnet/alexnetb."""
    from modern_cnns.parity.zoo.families import family_of
    from modern_cnns.parity.zoo.sources import ZooPair

    def family(source, name):
        return family_of(ZooPair(source, name, name, 224, 1))

    same = [("alexnet", "alexnetb"), ("vgg11", "bn_vgg11"), ("resnet18", "resnet20_cifar10", "resnet10_cub")]
    for names in same:
        assert len({family("gluoncv2:pytorchcv", n) for n in names}) == 1, names
    apart = ["ibn_densenet121", "ibn_resnet50", "mobilenetv2_w1", "mobilenetv3_large_w1", "resnet18", "seresnet18"]
    assert len({family("gluoncv2:pytorchcv", n) for n in apart}) == len(apart), apart
    assert family("gluoncv:torchvision", "resnet18") == family("gluoncv:torchvision", "resnext50_32x4d")
    assert family("gluoncv:torchvision", "mobilenet_v2") != family("gluoncv:torchvision", "mobilenet_v3_small")


def test_a_minimum_input_above_the_maximum_is_refused_before_anything_is_listed(capsys):
    from modern_cnns.parity.cli import main

    assert main(["zoo", "gluoncv2:pytorchcv", "--min-input", "100", "--max-input", "64", "--list"]) == 2
    assert capsys.readouterr().err == ("error: --min-input 100 is above --max-input 64: no pair can be selected\n")


def test_a_measured_peak_replaces_the_formula_in_the_memory_a_task_declares():
    from modern_cnns.parity.zoo.memory import GB, estimate

    small, large = _pair("s", 32, 300_000), _pair("l", 224, 130_000_000)
    assert estimate(small) < estimate(large)
    assert estimate(small, outputs=1_000_000) < estimate(small, outputs=100_000_000)
    assert estimate(large, measured_gb=4.0) == int(1.25 * 4.0 * GB)
    assert estimate(large, measured_gb=4.0, outputs=10**9) == int(1.25 * 4.0 * GB)


@needs_torch
def test_the_outputs_counted_are_every_leaf_layers_output_for_the_checkers_batch():
    """Counted by hand at batch 2, 3x8x8: the convolution's 2x4x8x8 = 512, the ReLU's 512, the pooling's
    2x4x4x4 = 128, the flattening's 128; the containers' outputs are their last layers' and count once."""
    import torch
    from torch import nn

    from modern_cnns.parity.zoo.memory import BATCH, count_outputs

    assert BATCH == 2
    with torch.device("meta"):
        model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Sequential(nn.MaxPool2d(2), nn.Flatten()))
    assert count_outputs(model, (3, 8, 8)) == 512 + 512 + 128 + 128
    assert not any(p.device.type != "meta" for p in model.parameters())


#: (pair, peak resident GB) measured by the zoo run of checker a863fd78318c, 2026-11-30 (reports/zoo): the
#: pairs whose peak lay furthest above the first formula (deep, wide, densely connected), and small ones
MEASURED_PEAKS = [("resnext272_1x64d_cifar100", 9.3), ("densenet100_k12_cifar100", 5.2),
                  ("densenet100_k24_cifar10", 7.5), ("diapreresnet1001_svhn", 6.8), ("resnext29_16x64d_svhn", 10.0),
                  ("wrn40_8_cifar10", 5.0), ("sepreresnet1202_cifar100", 7.1), ("nin_cifar10", 0.8),
                  ("resnet20_cifar10", 0.7)]


@needs_both  # the zoos' PyTorch packages: the full stack only
@pytest.mark.parametrize("name,peak_gb", MEASURED_PEAKS)
def test_a_model_never_run_declares_at_least_what_it_used_when_measured(name, peak_gb, tmp_path):
    """A task that declares less than it uses lets Ray place it beside others that then run out of memory."""
    from modern_cnns.parity.zoo import memory, sources

    (pair,) = sources.enumerate_pairs("gluoncv2:pytorchcv", tmp_path, name)
    outputs = memory.output_elements(pair)
    assert outputs, f"{name}: its layers' outputs could not be counted on meta"
    assert memory.estimate(pair, outputs=outputs) >= peak_gb * memory.GB


def test_what_a_task_declared_reads_in_the_unit_of_its_measured_peak():
    """Peaks are decimal GB (``ru_maxrss`` kB / 1e6); the first runs stored the declaration in GiB."""
    from modern_cnns.parity.zoo.store import declared_gb

    assert declared_gb({"declared_bytes": 3_000_000_000}) == 3.0
    assert declared_gb({"declared_gb": 2.0}) == 2.0 * 1024 ** 3 / 1e9
    assert declared_gb({"verdict": "PASS"}) is None


def test_the_fallback_stops_where_the_measurements_stop():
    """Sized by parameters alone, a VGG (143 M parameters, 224x224) is declared by its weights (~12 GB), not by
    the CIFAR envelope (~35 GB): a machine of 24 GB still takes it."""
    from modern_cnns.parity.zoo.memory import GB, estimate

    assert 10 * GB < estimate(_pair("vgg19", 224, 143_667_240)) < 16 * GB


def test_a_pair_never_run_declares_what_its_architecture_used_on_another_dataset():
    from modern_cnns.parity.zoo.command import measured_peaks

    records = [_rec("resnet110_svhn", peak_gb=1.1), _rec("densenet250_k24_bc_cifar100", peak_gb=11.2),
               _rec("densenet250_k24_bc_cifar10", peak_gb=10.9), _rec("nin_cifar10", peak_gb=0.7)]
    pairs = [_pair(n) for n in ("resnet110_cifar10", "resnet1101_cifar10", "densenet250_k24_bc_svhn",
                                "nin_cifar10", "wrn16_10_cifar10")]
    assert measured_peaks(records, pairs) == {"resnet110_cifar10": 1.1, "densenet250_k24_bc_svhn": 11.2,
                                              "nin_cifar10": 0.7}


def test_a_fail_is_put_down_to_the_cause_its_first_diagnosis_line_names():
    from modern_cnns.parity.zoo.report import cause_of

    bn = _rec("a", verdict="FAIL", diagnosis=["x.running_var differs by n/(n-1) ...: the port stores torch's "
                                              "unbiased batch variance"],
              worst=[["statistics after 1 step: x.running_var", 1e-3]])
    assert "unbiased" in cause_of(bn)
    assert cause_of(_rec("b", verdict="crashed", error="the worker process died")).startswith("crashed")
    # a table cell is one line: an MXNet traceback is put down to its message, and a pipe cannot split the row
    traceback = ("MXNetError: Traceback (most recent call last):\n  File \"x.h\", line 1\n"
                 "MXNetError: Check failed: a | b")
    assert cause_of(_rec("e", verdict="error", error=traceback)) == "error: MXNetError: Check failed: a / b"
    assert cause_of(_rec("c", verdict="FAIL", diagnosis=["something new"])) == "other: something new"
    # an accepted convention is put down to the reason the record gives, not to its diagnosis lines
    accepted = _rec("d", verdict="KNOWN DIFFERENCE", diagnosis=["BatchNorm eps differs"],
                    known_difference="the port keeps stock torch BatchNorm, which stores the unbiased batch variance")
    assert "unbiased" in cause_of(accepted)


def test_an_untransferable_pairs_row_names_the_pairing_that_came_closest(tmp_path):
    from modern_cnns.parity.zoo.report import render
    from modern_cnns.parity.zoo.store import Store

    detail = ("gluon -> torch transfer refused (2 problem(s)); the destination model was not modified:\n"
              "  by name: 162 problem(s), e.g. unexpected: features.0.weight\n"
              "  automatic map: 38 problem(s), e.g. unexpected (in gluon, no torch counterpart): x.bn.gamma (160,)")
    Store(tmp_path, "gluoncv2:pytorchcv").append(
        [_rec("wrn", verdict="untransferable", error=detail.splitlines()[0], detail=detail, input_size=32)])
    (tmp_path / "bugs.jsonl").write_text(json.dumps(_rec("injected")) + "\n")  # another tool's lines, same folder
    text = render(tmp_path)
    row = next(line for line in text.splitlines() if line.startswith("| wrn |"))
    assert "automatic map: 38 problem(s)" in row and "x.bn.gamma" in row and "by name" not in row
    assert [line for line in text.splitlines() if line.startswith("## ")] == ["## gluoncv2:pytorchcv"], text


def test_the_report_shows_the_current_checkers_records_and_counts_an_older_ones(tmp_path):
    """A record an older checker made is not a result of this one: counted and named, not shown as a verdict."""
    from modern_cnns.parity.zoo.report import render
    from modern_cnns.parity.zoo.store import Store

    store = Store(tmp_path, "gluoncv2:pytorchcv")
    store.append([_rec("mixed", "float64", version="v1", verdict="FAIL", input_size=32)])  # re-checked below
    store.append([_rec(p, d, version=v, verdict=verdict, input_size=32, seconds=10.0)
                  for p, v, verdict in (("new", "v2", "PASS"), ("old", "v1", "FAIL"), ("mixed", "v2", "PASS"))
                  for d in ("float32", "float64")])
    text = render(tmp_path, version="v2")
    rows = [line.split(" | ")[0] for line in text.splitlines() if line.startswith("| ") and " | 32 | " in line]
    assert rows == ["| mixed", "| new"], text  # the newest record of each key wins: mixed is v2 in both dtypes
    assert "Records by checker version (a hash of the code that decides a verdict): v2 (4)." in text, text
    assert "Not shown: 1 pair(s) whose records an older checker made, in one dtype or both (v1: 2 records)" in text
    assert "| FAIL |" not in text
    assert "| old |" in render(tmp_path)  # without a version, every record


def test_the_report_says_which_families_have_a_pair_checked_at_imagenet_size(tmp_path):
    """The issue asks for one ImageNet-size pair of every family: the report counts them and names the pair
    ``--per-family 1`` would check next in each family still without one (its ImageNet one, not a cheaper
    dataset variant)."""
    from modern_cnns.parity.zoo.report import render
    from modern_cnns.parity.zoo.store import Store

    offered = [_pair("resnet18", 224, 11_000_000), _pair("resnet20_cifar10", 32, 270_000),
               _pair("densenet121", 224, 8_000_000), _pair("densenet161", 224, 28_000_000),
               _pair("densenet121_cub", 224, 7_000_000), _pair("nin_cifar10", 32, 970_000)]
    families = {"resnet18": "resnet", "resnet20_cifar10": "resnet", "densenet121": "densenet",
                "densenet161": "densenet", "densenet121_cub": "densenet", "nin_cifar10": "nin"}
    Store(tmp_path, "gluoncv2:pytorchcv").append(
        [_rec("resnet18", d, input_size=224, version="v", seconds=100.0) for d in ("float32", "float64")]
        + [_rec("nin_cifar10", d, input_size=32, version="v") for d in ("float32", "float64")]
        + [_rec("densenet121", d, input_size=224, version="v", verdict="untransferable", seconds=3.0)
           for d in ("float32", "float64")]  # no verdict: the family is not covered, nor its time a measure
        + [_rec("densenet161", d, input_size=224, version="v", verdict="skipped", declared_bytes=b)
           for d, b in (("float32", 30e9), ("float64", 30e9))])
    text = render(tmp_path, {"gluoncv2:pytorchcv": offered + [_pair("big", 448, 1)]}, version="v",
                  families={"gluoncv2:pytorchcv": {**families, "big": "big"}})
    line = next(line for line in text.splitlines() if line.startswith("Families with a pair above 64 px"))
    assert line == ("Families with a pair above 64 px (ImageNet size and larger): 3; with a verdict here (PASS, "
                    "KNOWN DIFFERENCE or FAIL) on at least one: 1 (resnet). Not yet: 2, each with the pair "
                    "`--per-family 1` takes (and its outcome, where it ran here): big (`big`, 448 px), densenet "
                    "(`densenet121`, 224 px: untransferable)."), line
    # the cost on paper: 224 px from resnet18 alone; 448 px, never measured, scaled from it by pixels (4x)
    assert "| 224 | 1 | 100 (1) | 0.0 h |" in text and "| 448 | 1 | ~400 (224 px's 100 x pixels) | 0.1 h |" in text
    # a pair skipped as too large has no time to scale: the report says what node it needs
    assert ("Skipped as larger than any node here: 1 pair, declaring 30.0 GB; a cluster with such a node "
            "(`--address`) takes them.") in text


@needs_both  # describing every pair offered (the report's counts) imports the zoos' packages
def test_docs_zoo_md_is_what_the_committed_store_renders(tmp_path, monkeypatch):
    """docs/ZOO.md is generated, never edited: the committed store (docs/zoo) rendered by this report code gives
    it byte for byte, with the checker version and the cores it states it was rendered with."""
    import re

    from modern_cnns.parity.zoo import report, sources
    from modern_cnns.parity.zoo.families import family_of
    from modern_cnns.parity.zoo.store import Store

    text = (REPO / "docs" / "ZOO.md").read_text()
    version = re.search(r"Records by checker version \(a hash of the code that decides a verdict\): (\w+) \(", text)
    cores = re.search(r" x count / (\d+) cores\)", text)
    assert version, "docs/ZOO.md names no checker version"
    shutil.copytree(REPO / "docs" / "zoo", tmp_path / "docs" / "zoo")  # describing may add to the index: a copy
    monkeypatch.chdir(tmp_path)
    stored = [s for s in sources.SOURCES if Store("docs/zoo", s).path.exists()]
    offered = {s: sources.enumerate_pairs(s, "docs/zoo") for s in stored}
    families = {s: {p.name: family_of(p) for p in pairs} for s, pairs in offered.items()}
    rendered = report.render("docs/zoo", offered, int(cores.group(1)) if cores else 2, version=version.group(1),
                             families=families)
    assert rendered == text, "docs/ZOO.md differs from its store's rendering: render it again (README, Zoo)"


def test_a_pairs_row_speaks_of_its_worst_dtype_first(tmp_path):
    """A float32 error beside a float64 KNOWN DIFFERENCE: the row's finding is the error (it showed the other)."""
    from modern_cnns.parity.zoo.report import render
    from modern_cnns.parity.zoo.store import Store

    Store(tmp_path, "gluoncv2:pytorchcv").append(
        [_rec("dense", "float32", verdict="error", error="MXNetError: could not construct a sub-memory", input_size=32),
         _rec("dense", "float64", verdict="KNOWN DIFFERENCE", diagnosis=["running_var differs by n/(n-1)"],
              input_size=32)])
    row = next(line for line in render(tmp_path).splitlines() if line.startswith("| dense |"))
    assert "| error | KNOWN DIFFERENCE | MXNetError: could not construct a sub-memory |" in row, row
    assert "| error | 1 |" in render(tmp_path)  # the outcome table: the worst verdict


def test_a_fail_no_review_explains_is_not_hidden_behind_the_other_dtypes_review(tmp_path):
    """mixnet_s: a float32 error a review explains (MXNet's oneDNN, "not a porting bug") beside a float64 FAIL on a
    real difference of the two zoos: the row must name the difference, not the review."""
    from modern_cnns.parity.zoo.report import render
    from modern_cnns.parity.zoo.reviews import REVIEWS
    from modern_cnns.parity.zoo.store import Store

    examined = REVIEWS[0].versions[0]
    activation = "activation type: torch relu, gluon swish, in layer features.final_block.activ"
    Store(tmp_path, "gluoncv2:pytorchcv").append(
        [_rec("mixnet_s", "float32", verdict="error", error="MXNetError: MXNetError: could not construct a sub-memory",
              input_size=224, version=examined, source="gluoncv2:pytorchcv"),
         _rec("mixnet_s", "float64", verdict="FAIL", diagnosis=[activation], input_size=224, version=examined,
              source="gluoncv2:pytorchcv")])
    text = render(tmp_path)
    row = next(line for line in text.splitlines() if line.startswith("| mixnet_s |"))
    assert f"| error | FAIL | {activation} |" in row, row
    assert "(error: mixnet_s float32)" in text  # the review still covers the float32 error, in its note


def test_a_fail_the_accepted_convention_does_not_explain_is_called_unexplained(tmp_path):
    """densenet100_k12_cifar100, float32, at checker a863fd78318c: FAIL on gradients while its one diagnosis line
    names stock BatchNorm's unbiased variance (accepted: it fails nothing); the report put it down to that."""
    from modern_cnns.parity.zoo.report import cause_of, render
    from modern_cnns.parity.zoo.store import Store

    convention = ("layer x.bn (gluon 0.bn): running_var differs by n/(n-1) with n=2048 (...): the port stores "
                  "torch's unbiased batch variance; MXNet stores the biased one. Wrap the port ...")
    gradients = _rec("d", verdict="FAIL", diagnosis=[convention], input_size=32,
                     worst=[["gradient of features.1.24.conv.conv.weight", 0.0784], ["input gradient", 0.028]])
    assert cause_of(gradients) == ("unexplained: fails on gradient rows (the diagnosis names only the accepted "
                                   "BatchNorm convention)")
    # the convention's own rows failing, or a line the convention does not explain: put down as before
    statistics = {**gradients, "worst": [["statistics after 1 step: x.bn.running_var", 4e-4]]}
    assert "unbiased" in cause_of(statistics)
    # a FAIL with a line past the accepted convention's: put down to that line
    assert cause_of({**gradients, "diagnosis": [convention, "BatchNorm eps differs: 1e-05 against 0.001"]}) \
        == "BatchNorm eps"
    Store(tmp_path, "gluoncv2:pytorchcv").append([gradients])
    row = next(line for line in render(tmp_path).splitlines() if line.startswith("| d |"))
    assert "fails on gradient rows that no diagnosis line explains (worst: gradient of features.1.24" in row, row


def test_a_hand_review_explains_only_the_records_it_examined(tmp_path):
    """A review (parity.zoo.reviews) says what a person found behind a verdict; it covers a record only while
    the record is one of those examined, down to its own sign of the cause. The checker's verdict stands."""
    from modern_cnns.parity.zoo.engine import WORKER_DIED
    from modern_cnns.parity.zoo.report import cause_of, render
    from modern_cnns.parity.zoo.reviews import REVIEWS
    from modern_cnns.parity.zoo.store import Store

    source, examined = "gluoncv2:pytorchcv", REVIEWS[0].versions[0]
    convention = "running_var differs by n/(n-1): the port stores torch's unbiased batch variance"
    tie = _rec("densenet100_k12_cifar10", verdict="FAIL", source=source, input_size=32, version=examined,
               diagnosis=[convention],
               worst=[["gradient of features.1.24.conv.conv.weight", 0.054], ["input gradient", 0.017]])
    tie64 = {**tie, "dtype": "float64", "verdict": "KNOWN DIFFERENCE", "worst": []}
    pair = {"float32": tie, "float64": tie64}
    assert cause_of(tie, pair).startswith("reviewed by hand: a float32 ReLU near-tie")
    assert not cause_of(tie).startswith("reviewed")  # the review reads the float64 verdict: without it, no
    for why, other in {"float64 fails too": {**tie64, "verdict": "FAIL"},
                       "float64 not run": None}.items():
        assert not cause_of(tie, {"float32": tie, "float64": other}).startswith("reviewed"), why
    extra = "extra layer (a pooling in torch only): torch pooling, gluon none, in 4 layers: features.stage1.unit1.se"
    se = {**tie, "pair": "seresnet10", "input_size": 224, "diagnosis": [convention, extra]}
    se64 = {**tie64, "pair": "seresnet10"}
    assert cause_of(se, {"float32": se, "float64": se64}).startswith("reviewed by hand: a float32 ReLU near-tie")
    assert not cause_of(se, {"float32": se, "float64": {**se64, "verdict": "FAIL"}}).startswith("reviewed")
    not_examined = {
        "a diagnosis past the convention": {**tie, "diagnosis": [convention, "BatchNorm eps differs"]},
        "no diagnosis": {**tie, "diagnosis": []},
        "a gradient that is not finite": {**tie, "worst": [["gradient of features.0.weight", None]]},
        "a later verdict": {**tie, "verdict": "PASS"},
        "another dtype": {**tie, "dtype": "float64"},
        "a pair the glob almost matches": {**tie, "pair": "densenet100_k12_bc_cifar10"},
        "another source": {**tie, "source": "gluoncv:torchvision"},
        "another checker": {**tie, "version": "0123456789ab"},
        "another seed": {**tie, "seed": 1},
        "a failing output: another cause": {**tie, "worst": [["predict output", 0.3], *tie["worst"]]},
        "an error": {**tie, "error": "RuntimeError: boom"},
        "an out-of-memory crash": _rec("shakedropresnet20_svhn", verdict="crashed", source=source, version=examined,
                                       error="out of memory (Ray's memory monitor killed the worker)"),
        "another MXNet error": _rec("densenet40_k12_bc_svhn", verdict="error", source=source, version=examined,
                                    error="MXNetError: Check failed: shape"),
    }
    for why, record in not_examined.items():
        assert not cause_of(record, {**pair, record["dtype"]: record}).startswith("reviewed"), why
    crashed = [_rec("shakedropresnet20_svhn", d, verdict="crashed", source=source, input_size=32, version=examined,
                    error=WORKER_DIED) for d in ("float32", "float64")]
    sub_memory = _rec("densenet40_k12_bc_svhn", verdict="error", source=source, input_size=32, version=examined,
                      error="MXNetError: MXNetError: could not construct a sub-memory")
    overflow = {**tie, "pair": "resnet1202_svhn", "worst": [["predict output", None], ["statistics after 1 step: "
                                                                                   "x.running_var", 7e-3]]}
    overflow_pair = {"float32": overflow, "float64": {**tie64, "pair": "resnet1202_svhn"}}
    assert cause_of(overflow, overflow_pair).startswith("reviewed by hand: the prediction output overflows float32")
    for why, other in {"a finite difference": {**overflow, "worst": [["predict output", 0.3]]},
                       "another row first": {**overflow, "worst": overflow["worst"][::-1]}}.items():
        assert not cause_of(other, {**overflow_pair, "float32": other}).startswith("reviewed"), why
    fractal = {**tie, "pair": "fractalnet_cifar10", "worst": [["gradient of features.0.block.bn.beta", 38.0]],
               "first_divergence": "layer x (gluon y): values part in its forward code between its layer z, which "
                                   "agrees, and layer w, which already receives a different input"}
    fractal64 = _rec("fractalnet_cifar10", "float64", verdict="error", source=source, version=examined,
                     error="MXNetError: Check failed: Incompatible attr in node at 1-th input: expected float64, "
                           "got float32")
    assert cause_of(fractal).startswith("reviewed by hand: FractalNet drops random paths")
    assert cause_of(fractal64).startswith("reviewed by hand: gluoncv2's FractalNet builds its drop-path mask")
    assert not cause_of({**fractal, "first_divergence": "layer x: max rel diff 1e-3"}).startswith("reviewed")
    refused = _rec("wrn20_10_1bit_svhn", verdict="untransferable", source=source, version=examined,
                   error="gluon -> torch transfer refused (3 problem(s))",
                   detail="...\n  automatic map: 38 problem(s), e.g. unexpected (in gluon, no torch counterpart): "
                          "features.1.0.body.conv1.bn.gamma (160,)")
    assert cause_of(refused).startswith("reviewed by hand: Gluon's non-affine BatchNorm")
    assert not cause_of({**refused, "detail": "by name: 2 problem(s), e.g. shape mismatch x.weight"}).startswith(
        "reviewed")
    assert cause_of(crashed[0]).startswith("reviewed by hand: the Gluon model's training forward dies of SIGFPE")
    assert cause_of(sub_memory).startswith("reviewed by hand: MXNet 1.9.1's oneDNN")
    assert not cause_of({**sub_memory, "error": {"not": "a string"}}).startswith("reviewed")  # and no traceback
    Store(tmp_path, source).append([tie, tie64,
                                    *crashed, _rec("resnet20_cifar10", verdict="FAIL", source=source, input_size=32,
                                                   version=examined, diagnosis=["BatchNorm eps differs"])])
    text = render(tmp_path)
    row = next(line for line in text.splitlines() if line.startswith("| densenet100_k12_cifar10 |"))
    assert "| FAIL | KNOWN DIFFERENCE | reviewed by hand: a float32 ReLU near-tie" in row, row
    assert "| FAIL | 2 |" in text and "| crashed | 1 |" in text  # the outcomes are still the checker's
    section = text.split("### Reviewed by hand")[1]
    assert "(FAIL: densenet100_k12_cifar10 float32)" in section
    assert "(crashed: shakedropresnet20_svhn float32 and float64)" in section
    assert "`.venv/bin/python benchmarks/zoo_reviews.py relu-near-tie [--pairs GLOB]`" in section
    assert "resnet20_cifar10" not in section
    assert "BatchNorm eps" in next(line for line in text.splitlines() if line.startswith("| resnet20_cifar10 |"))
    Store(tmp_path / "none", source).append([{**tie, "verdict": "PASS"}])
    assert "Reviewed by hand" not in render(tmp_path / "none")


def test_the_imagenet_size_reviews_cover_their_records_and_not_a_near_miss():
    """The 224-px reviews: MXNet's float64 PReLU and bilinear resize round in float32 (each covers the records that
    part at such a layer, not a record that parts elsewhere), and a float32 FAIL that float64 decided."""
    from modern_cnns.parity.zoo.report import cause_of
    from modern_cnns.parity.zoo.reviews import REVIEWS

    source, examined = "gluoncv2:pytorchcv", REVIEWS[0].versions[0]
    convention = "running_var differs by n/(n-1): the port stores torch's unbiased batch variance"
    prelu = ("layer kind: torch prelu, gluon PReLU2, in 71 layers: features.init_block.conv.activ (gluon "
             "features.0.conv.activ), features.stage1.unit1.branches.left_branch.conv1.activ (gluon ...)")
    dice64 = _rec("dicenet_wd5", "float64", verdict="FAIL", source=source, version=examined, input_size=224,
                  diagnosis=[convention, prelu],
                  first_divergence="layer features.init_block.conv.activ (gluon features.0.conv.activ) (2, 16, 112, "
                                   "112): max abs diff 4.759e-08, max rel diff 1.057e-08")
    dice32 = {**dice64, "dtype": "float32", "first_divergence": None}
    pair = {"float32": dice32, "float64": dice64}
    assert cause_of(dice64, pair).startswith("reviewed by hand: in float64, MXNet's PReLU")
    assert cause_of(dice32, pair).startswith("reviewed by hand: two float32 rows too noisy to judge")
    elsewhere = {**dice64, "first_divergence": "layer features.stage2.unit1.conv (gluon features.2.0.conv) (2, 8, 7, "
                                                "7): max abs diff 1e-3, max rel diff 1e-3"}
    for why, record, other in (("parts at another layer", elsewhere, dice32),
                               ("no PReLU in the structure", {**dice64, "diagnosis": [convention]}, dice32),
                               ("float64 parts elsewhere", dice32, elsewhere),
                               ("float64 passed", dice32, {**dice64, "verdict": "KNOWN DIFFERENCE"})):
        both = {record["dtype"]: record, other["dtype"]: other}
        assert not cause_of(record, both).startswith("reviewed"), why
    air = ("layer features.stage1.unit1.body.air.conv2 (gluon features.1.0.body.air.conv2): values part in its "
           "forward code between its layer features.stage1.unit1.body.air.conv2.activ (gluon features.1.0.body.air."
           "conv2.activ), which agrees, and layer features.stage1.unit1.body.air.conv3.conv (gluon features.1.0.body."
           "air.conv3.conv), which already receives a different input (max rel diff 1.150e-06)")
    upsample = ("layer features.stage1.unit2.hg.up_seq.up3.upsample (gluon features.1.1.hg.up_seq.2.upsample) (2, "
                "256, 14, 14): max abs diff 7.462e-07, max rel diff 1.2e-07")
    for name, first in (("airnet50_1x64d_r16", air), ("airnext50_32x4d_r2", air), ("resattnet56", upsample)):
        resized = _rec(name, "float64", verdict="FAIL", source=source, version=examined, diagnosis=[convention],
                       first_divergence=first)
        assert cause_of(resized).startswith("reviewed by hand: in float64, MXNet's bilinear resize"), name
        assert not cause_of({**resized, "dtype": "float32"}).startswith("reviewed"), name
        assert not cause_of({**resized, "first_divergence": upsample.replace(".upsample", ".conv")}).startswith(
            "reviewed"), name


@needs_both  # the zoos' pair names
@pytest.mark.parametrize("args,said", [
    (["sigfpe", "--store", "FILE"], "not a zoo store"),
    (["sigfpe", "--store", "MISSING"], "not a zoo store"),
    (["sigfpe", "--pairs", "nomatch*"], "no pair of gluoncv2:pytorchcv is both covered by sigfpe"),
    (["--gluon-forward"], "--gluon-forward takes one pair name"),
    (["no-such-key"], "invalid choice"),
])
def test_the_review_benchmark_refuses_bad_arguments_in_one_line_and_writes_nothing(args, said, tmp_path):
    """The tryout's: a store that is a file (a traceback after describing 843 models), one that does not exist
    (folders and an index created), a glob matching nothing (no ``error:``, exit 1)."""
    store_file = tmp_path / "afile"
    store_file.write_text("mine\n")
    args = [{"FILE": str(store_file), "MISSING": str(tmp_path / "no" / "store")}.get(a, a) for a in args]
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "zoo_reviews.py"), *args], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 2 and said in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["afile"] and store_file.read_text() == "mine\n"


def test_every_hand_review_is_reproduced_by_the_benchmark_that_its_note_cites():
    from modern_cnns.parity.zoo.reviews import REVIEWS

    spec = importlib.util.spec_from_file_location("zoo_reviews", REPO / "benchmarks" / "zoo_reviews.py")
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    assert set(benchmark.REPRODUCE) == {review.key for review in REVIEWS}
    assert {review.source for review in REVIEWS} == {benchmark.SOURCE}


@needs_both  # the report reads the zoo packages' versions (the store's index key): the full stack only
def test_the_zoo_commands_report_is_the_current_checkers(tmp_path):
    """The command renders with this code's version, whatever else the store holds."""
    from argparse import Namespace

    from modern_cnns.parity.zoo.command import _write_markdown
    from modern_cnns.parity.zoo.store import Store, code_version

    Store(tmp_path, "gluoncv2:pytorchcv").append(
        [_rec("now", d, version=code_version(), input_size=32) for d in ("float32", "float64")]
        + [_rec("before", d, version="an older checker", input_size=32) for d in ("float32", "float64")])
    report = tmp_path / "ZOO.md"
    _write_markdown(Namespace(store=str(tmp_path), markdown=str(report)), describe=False)
    text = report.read_text()
    assert "| now |" in text and "| before |" not in text and "(an older checker: 2 records)" in text, text


@needs_both  # the command lists real pairs (their index is copied in: nothing is described)
@pytest.mark.parametrize("signum,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_while_the_models_are_sized_stops_the_run_as_ctrl_c_does(tmp_path, monkeypatch, signum, code):
    """Sizing never-run models takes about 40 s for the ImageNet families, before Ray starts: a signal then
    exited 130 whatever it was, with no report."""
    from modern_cnns.parity.cli import main
    from modern_cnns.parity.zoo import memory

    shutil.copy(REPO / "docs" / "zoo" / "gluoncv2-pytorchcv.index.json", tmp_path)
    sized = []

    def signalled_while_sizing(pair):
        sized.append(pair.name)
        os.kill(os.getpid(), signum)  # as `kill` from another terminal would, mid-step
        return None

    monkeypatch.setattr(memory, "output_elements", signalled_while_sizing)
    report = tmp_path / "ZOO.md"
    assert main(["zoo", "gluoncv2:pytorchcv", "--match", "resnet18", "--store", str(tmp_path),
                 "--markdown", str(report)]) == code
    assert sized == ["resnet18"] and report.exists()
    assert not (tmp_path / "gluoncv2-pytorchcv.jsonl").exists()  # nothing ran, nothing recorded


_WITHOUT = """
import sys
sys.modules[sys.argv[1]] = None  # unfindable, as in an environment built without it
from modern_cnns.parity.cli import main
sys.exit(main(["zoo", "gluoncv2:pytorchcv", "--list"]))
"""


@pytest.mark.parametrize("absent", ["gluoncv2", "torch"])
def test_the_zoo_without_its_packages_is_one_error_line(absent):
    """A one-framework environment: the listing raised ModuleNotFoundError from inside the zoo's own code."""
    proc = subprocess.run([sys.executable, "-c", _WITHOUT, absent], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    named = proc.stderr.removeprefix("error: zoo gluoncv2:pytorchcv needs ").split(", not installed")[0]
    assert absent in named.split(", ") and proc.stderr.count("\n") == 1, proc.stderr  # (with any other absent)


def test_an_unknown_source_lists_the_valid_ones():
    from modern_cnns.parity.zoo.sources import UnknownSource, enumerate_pairs

    with pytest.raises(UnknownSource, match="gluoncv2:pytorchcv, gluoncv:torchvision"):
        enumerate_pairs("timm:pytorchcv")


# --------------------------------------------------------------------------- real runs on Ray
def _zoo_pairs(*names):
    from modern_cnns.parity.zoo.sources import enumerate_pairs

    pairs = []
    for name in names:
        pairs += enumerate_pairs("gluoncv2:pytorchcv", match=name)
    assert [p.name for p in pairs] == list(names)
    return pairs


def _essentials(record):
    return (record["pair"], record["dtype"], record["verdict"], record.get("first_divergence"),
            record.get("diagnosis"), [tuple(w) for w in record.get("worst", [])], record.get("pairing"))


@needs_ray
def test_only_a_dead_worker_is_a_pairs_own_crash_a_dead_raylet_is_the_clusters():
    """A task lost with its raylet or node was recorded crashed, so counted done: never checked again."""
    import ray.exceptions as rex

    from modern_cnns.parity.zoo.engine import _the_pairs_own

    assert _the_pairs_own(rex.WorkerCrashedError()) and _the_pairs_own(rex.OutOfMemoryError("killed"))
    assert not _the_pairs_own(rex.LocalRayletDiedError()) and not _the_pairs_own(rex.NodeDiedError("node gone"))
    assert not _the_pairs_own(rex.RaySystemError("gcs down"))


@pytest.mark.slow
@needs_ray
def test_ray_started_here_keeps_a_small_object_store_so_tasks_may_declare_the_rest(monkeypatch):
    """Ray's default store would take 30 % of the memory from what the tasks may declare.  Started here means
    here, even where RAY_ADDRESS names a cluster (ray.init() would join it and refuse num_cpus, a traceback)."""
    import ray

    from modern_cnns.parity.zoo import engine

    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    engine._connect(None, 1)
    try:
        store = ray.cluster_resources()["object_store_memory"]
    finally:
        ray.shutdown()
    assert store <= engine.OBJECT_STORE_BYTES


@pytest.mark.slow
@needs_both
@needs_ray
def test_a_local_ray_cluster_gives_what_check_pair_gives_run_directly(tmp_path):
    from modern_cnns.parity.zoo import engine, memory
    from modern_cnns.parity.zoo.store import Store, declared_gb
    from modern_cnns.parity.zoo.task import check_zoo_pair

    pairs = _zoo_pairs("nin_cifar10", "preresnet20_cifar10", "resnet20_cifar10")
    store = Store(tmp_path, "gluoncv2:pytorchcv")
    outputs = {p.name: memory.output_elements(p) for p in pairs}  # sized as the zoo command sizes them
    progress = engine.run(pairs, store, version="t", num_cpus=2, show_progress=False, outputs=outputs)
    assert progress.pairs_done == 3
    on_ray = {(r["pair"], r["dtype"]): r for r in store.records()}
    assert len(on_ray) == 6
    for pair in pairs:  # the same task, in this process: the same records
        for direct in check_zoo_pair(pair, ("float32", "float64"), 0, "t"):
            assert _essentials(on_ray[(pair.name, direct["dtype"])]) == _essentials(direct)
    assert {r["verdict"] for r in on_ray.values() if r["pair"] == "nin_cifar10"} == {"PASS"}
    # stock BatchNorm: the accepted convention, named, and nothing else differs
    assert on_ray[("resnet20_cifar10", "float64")]["verdict"] == "KNOWN DIFFERENCE"
    assert "unbiased" in on_ray[("resnet20_cifar10", "float64")]["known_difference"]
    assert all(0 < r["peak_gb"] < declared_gb(r) for r in on_ray.values()), \
        [(r["pair"], r["peak_gb"], declared_gb(r)) for r in on_ray.values()]


def _ray_task_pids(cwd=None):
    """Processes running a zoo task (Ray titles its workers ``ray::<function>``), in ``cwd`` if given
    (a worker works in its driver's folder: this tells one run's tasks from another's)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if f.read().startswith(b"ray::_on_a_node") and (
                            cwd is None or os.readlink(f"/proc/{entry}/cwd") == str(cwd)):
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


@pytest.mark.slow
@needs_both
@needs_ray
def test_a_killed_worker_is_retried_and_a_pair_whose_worker_always_dies_is_recorded_crashed(tmp_path):
    from modern_cnns.parity.zoo import engine
    from modern_cnns.parity.zoo.store import Store

    pairs = _zoo_pairs("nin_cifar10", "shakedropresnet20_cifar10")
    store = Store(tmp_path, "gluoncv2:pytorchcv")
    run = threading.Thread(target=engine.run, args=(pairs, store),
                           kwargs={"version": "t", "num_cpus": 2, "show_progress": False})
    run.start()
    killed, deadline = None, time.time() + 120
    while killed is None and time.time() < deadline and run.is_alive():
        running = _ray_task_pids(cwd=os.getcwd())
        if running:
            time.sleep(2)  # mid-task: models built, checking
            try:
                os.kill(running[0], signal.SIGKILL)
                killed = running[0]
            except ProcessLookupError:
                continue
        time.sleep(0.2)
    run.join(timeout=600)
    assert killed is not None, "no zoo task was seen running"
    assert not run.is_alive()
    verdicts = {(r["pair"], r["dtype"]): r for r in store.records()}
    assert {verdicts[("nin_cifar10", d)]["verdict"] for d in ("float32", "float64")} == {"PASS"}  # retried
    for d in ("float32", "float64"):
        crashed = verdicts[("shakedropresnet20_cifar10", d)]
        assert crashed["verdict"] == "crashed" and "died" in crashed["error"], crashed


def test_rays_oom_retries_are_bounded_while_it_starts_and_a_users_value_stands(monkeypatch):
    from modern_cnns.parity.zoo import engine

    monkeypatch.delenv("RAY_task_oom_retries", raising=False)
    with engine._oom_retries_bounded():
        assert os.environ["RAY_task_oom_retries"] == str(engine.OOM_RETRIES)
    assert "RAY_task_oom_retries" not in os.environ  # nothing left behind in the caller's process
    monkeypatch.setenv("RAY_task_oom_retries", "0")
    with engine._oom_retries_bounded():
        assert os.environ["RAY_task_oom_retries"] == "0"
    assert os.environ["RAY_task_oom_retries"] == "0"


@pytest.mark.slow
@needs_both
@needs_ray
def test_a_pair_rays_memory_monitor_always_kills_is_recorded_out_of_memory_not_retried_forever(tmp_path,
                                                                                              monkeypatch):
    """Ray retries a task its memory monitor killed without end by default: a pair that uses more than it declared
    would hang the run.  Here the monitor (a Ray started by this run, its threshold at 1 % of the machine's memory)
    kills every task."""
    from modern_cnns.parity.zoo import engine
    from modern_cnns.parity.zoo.store import Store

    monkeypatch.setenv("RAY_memory_usage_threshold", "0.01")  # read by the raylet this run starts
    monkeypatch.setenv("RAY_memory_monitor_refresh_ms", "100")
    monkeypatch.delenv("RAY_task_oom_retries", raising=False)
    store = Store(tmp_path, "gluoncv2:pytorchcv")
    run = threading.Thread(target=engine.run, args=(_zoo_pairs("nin_cifar10"), store),
                           kwargs={"version": "t", "num_cpus": 1, "show_progress": False}, daemon=True)
    run.start()
    run.join(timeout=300)
    assert not run.is_alive(), "the run still waits on a task Ray's memory monitor kills every time"
    records = store.records()
    assert [r["verdict"] for r in records] == ["crashed", "crashed"], records
    assert all(r["error"] == "out of memory (Ray's memory monitor killed the worker)" for r in records), records


def _ray(*args, env):
    return subprocess.run([sys.executable, "-m", "ray.scripts.scripts", *args], env=env, capture_output=True,
                          text=True, timeout=180)


def _stop_own_ray(temp_dir: str) -> None:
    """Stop the Ray processes this test started: those started with its temp dir, and their children
    (the agents, which rename themselves ``ray::DashboardAgent``).

    ``ray stop`` would stop every Ray process of this user on the machine: it once killed a zoo run
    going on beside the suite."""
    parents, ours = {}, set()
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if temp_dir.encode() in f.read():
                    ours.add(int(entry))
            with open(f"/proc/{entry}/stat") as f:
                parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    while True:  # and every descendant
        more = {pid for pid, parent in parents.items() if parent in ours} - ours
        if not more:
            break
        ours |= more
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in ours:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + 10
        while any(os.path.exists(f"/proc/{pid}") for pid in ours) and time.time() < deadline:
            time.sleep(0.5)


@pytest.mark.slow
@needs_both
@needs_ray
def test_a_two_node_cluster_takes_tasks_through_address_and_a_rerun_resumes(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Ray 2.59+ starts local clusters with token authentication; every node and client says so
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_USAGE_STATS_ENABLED": "0"}
    temp_dir = tempfile.mkdtemp(prefix="ray-two-nodes-", dir="/tmp")  # short: Ray's socket paths have a limit
    head = _ray("start", "--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false",
                f"--temp-dir={temp_dir}", env=env)
    try:
        assert head.returncode == 0, head.stderr[-2000:]
        address = next(line.split("'")[1] for line in (head.stdout + head.stderr).splitlines()
                       if "ray start --address=" in line)
        node = _ray("start", f"--address={address}", "--num-cpus=1", f"--temp-dir={temp_dir}", env=env)
        assert node.returncode == 0, node.stderr[-2000:]
        command = [sys.executable, "-m", "parity", "zoo", "gluoncv2:pytorchcv", "--match", "nin_cifar1*",
                   "--store", str(tmp_path), "--address", address]
        first = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
        assert first.returncode == 0, first.stderr[-3000:]
        records = [json.loads(line) for line in (tmp_path / "gluoncv2-pytorchcv.jsonl").read_text().splitlines()]
        assert sorted((r["pair"], r["dtype"]) for r in records) == [
            ("nin_cifar10", "float32"), ("nin_cifar10", "float64"),
            ("nin_cifar100", "float32"), ("nin_cifar100", "float64")]
        assert len({r["node"] for r in records}) == 2, [r["node"] for r in records]  # one pair on each node
        again = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr[-3000:]
        assert "2 already in" in again.stdout and "0 to check" in again.stdout, again.stdout
        assert len((tmp_path / "gluoncv2-pytorchcv.jsonl").read_text().splitlines()) == 4  # nothing re-run
    finally:
        _stop_own_ray(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.mark.slow
@needs_both
@needs_ray
@pytest.mark.parametrize("how", ["Ctrl-C", "kill of a background run"])
def test_ctrl_c_stops_cleanly_and_the_store_keeps_every_finished_pair(tmp_path, how):
    """Ctrl-C in a terminal (SIGINT), or ``kill`` (SIGTERM) of a run a shell started with ``&``, which starts it
    with SIGINT ignored: SIGTERM killed the driver outright (ray.init() had put in its own handler)."""
    report = tmp_path / "ZOO.md"
    command = [sys.executable, "-m", "modern_cnns", "zoo", "gluoncv2:pytorchcv", "--match", "nin_*", "--cpus", "1",
               "--store", str(tmp_path), "--markdown", str(report)]
    sigint = signal.SIG_DFL if how == "Ctrl-C" else signal.SIG_IGN
    proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, sigint))
    store = tmp_path / "gluoncv2-pytorchcv.jsonl"
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None and not (store.exists() and store.read_text().strip()):
        time.sleep(0.5)  # wait for the first finished pair: the second is then running
    assert proc.poll() is None, proc.communicate()
    sent = signal.SIGINT if how == "Ctrl-C" else signal.SIGTERM
    proc.send_signal(sent)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sent, (proc.returncode, err[-3000:])
    assert "Traceback" not in err and "stopped: every finished pair is in" in err, err[-3000:]
    records = [json.loads(line) for line in store.read_text().splitlines()]  # every line whole
    finished = {r["pair"] for r in records}
    assert finished and len(finished) < 3 and all(r["verdict"] == "PASS" for r in records)
    written = report.read_text()  # the report of what finished is written, at once, without the counts
    assert all(f"| {name} |" in written for name in finished) and "? pairs found" in written, written
    time.sleep(5)
    assert not _ray_task_pids(cwd=tmp_path), "a zoo task outlived Ctrl-C"
