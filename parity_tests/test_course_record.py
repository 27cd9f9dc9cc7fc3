"""The course record: provenance users can follow, links that resolve, editions run as written."""
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modern_cnns.parity.catalog import experiments, provenance, registry
from parity_tests.conftest import needs_both, needs_gluon, needs_torch

REPO = Path(__file__).resolve().parent.parent
#: what users must never read: our private labels for the course files, and internal documents
INTERNAL = re.compile(r"\bseeds? ?0\d\d\b|\bseed00\d|shared/seeds|DESIGN\.md|\bDESIGN\b|design notes", re.I)


def tracked_files():
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return set(out.split())


def user_docs():
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md")), REPO / "data" / "reference" / "README.md"]


def test_every_network_and_experiment_cites_an_edition_and_section():
    editions = {e.name for e in (provenance.GLUONBOOK, provenance.D2L_017, provenance.D2L_10)}
    for entry in registry.ENTRIES:
        source = entry.source
        assert source.edition.name in editions and re.fullmatch(r"\d+\.\d+(\.\d+)?", source.section), entry.name
        assert source.url().startswith("https://"), entry.name
    for exp in experiments.EXPERIMENTS.values():
        assert re.match(r"(gluonbook|d2l 0\.17|d2l 1\.0) §\d+\.\d+", exp.source.cite()), exp.name


def test_lenet_is_section_5_6_in_gluonbook():
    assert registry.get("lenet").source.cite().startswith("gluonbook §5.6 ")


#: ``list`` builds every network to count its parameters (tens of seconds): slow; the text it prints comes from
#: the catalog's code, which test_docs_and_code_name_no_internal_file reads in the quick loop
@pytest.mark.parametrize("args", [pytest.param(["list"], marks=pytest.mark.slow), ["reproduce", "--list"]])
def test_cli_listings_name_no_internal_file(args):
    proc = subprocess.run([sys.executable, "-m", "parity", *args], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert not INTERNAL.search(proc.stdout), INTERNAL.search(proc.stdout)
    assert "§" in proc.stdout


def test_docs_and_code_name_no_internal_file():
    texts = [p for p in user_docs()]
    texts += [REPO / f for f in tracked_files()
              if f.endswith((".py", ".json")) and REPO / f != Path(__file__)]  # this file spells the pattern
    hits = [f"{p.relative_to(REPO)}: {m.group(0)}" for p in texts for m in [INTERNAL.search(p.read_text())] if m]
    assert not hits, hits


def test_every_relative_link_in_readme_and_docs_resolves_to_a_tracked_file():
    tracked = tracked_files()
    broken = []
    for doc in user_docs():
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            path = (doc.parent / target).resolve()
            rel = path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else str(path)
            if rel not in tracked and not any(t.startswith(rel.rstrip("/") + "/") for t in tracked):
                broken.append(f"{doc.relative_to(REPO)} -> {target}")
    assert not broken, broken


@needs_torch
def test_d2l_concise_experiment_trains_the_editions_stock_batchnorm():
    """d2l 0.17 §7.5.5 uses nn.BatchNorm2d/1d; the registry network (the port) uses Gluon's semantics."""
    from torch import nn

    from modern_cnns.torch_impl import gluon_layers

    exp = experiments.get("bn_lenet_concise_d2l")
    entry = registry.get(exp.network)
    trained = entry.build_torch(**exp.torch_overrides)
    kinds = [type(m) for m in trained.modules() if isinstance(m, (nn.modules.batchnorm._BatchNorm,
                                                                    gluon_layers.BatchNorm))]
    assert kinds == [nn.BatchNorm2d, nn.BatchNorm2d, nn.BatchNorm1d, nn.BatchNorm1d]
    port = [m for m in entry.build_torch().modules() if isinstance(m, gluon_layers.BatchNorm)]
    assert len(port) == 4


@pytest.mark.parametrize("framework", [pytest.param("gluon", marks=needs_gluon),
                                       pytest.param("torch", marks=needs_torch)])
def test_alexnet_pads_its_first_convolution_by_one_as_d2l_1_0(framework):
    entry = registry.get("alexnet")
    if framework == "gluon":
        first = entry.build_gluon()[0]
        assert first._kwargs["pad"] == (1, 1)
    else:
        first = next(m for m in entry.build_torch().modules() if hasattr(m, "padding"))
        assert tuple(first.padding) == (1, 1)


@needs_torch
def test_train_ch6_times_training_steps_only_as_d2ls_timer():
    """examples/sec counts the steps, not data loading: a loader that sleeps 0.2 s per batch leaves it unchanged."""
    import torch
    from torch import nn

    from modern_cnns.torch_impl.train import train_ch6

    class SlowLoader:
        def __init__(self, n):
            self.batches = [(torch.randn(8, 4), torch.randint(0, 3, (8,))) for _ in range(n)]

        def __len__(self):
            return len(self.batches)

        def __iter__(self):
            for batch in self.batches:
                time.sleep(0.2)
                yield batch

    history = train_ch6(nn.Sequential(nn.Linear(4, 3)), SlowLoader(5), SlowLoader(1), 1, 0.1, "cpu")
    record = history[0]
    assert record["time"] >= 1.0  # the epoch's wall time includes the loader's sleeps...
    assert 40 / record["examples_per_sec"] < 0.5  # ...the timed steps do not


@needs_torch
def test_each_edition_trains_with_its_own_loop():
    """gluonbook: the port of train_ch5 from Gluon's Xavier; d2l 0.17: train_ch6; d2l 1.0: its init_cnn."""
    from modern_cnns.torch_impl import train

    editions = {"gluonbook": "ch5", "d2l 0.17": "ch6", "d2l 1.0": "d2l1"}
    for exp in experiments.EXPERIMENTS.values():
        assert exp.loop == editions[exp.source.edition.name], (exp.name, exp.loop, exp.source.cite())
    assert "bn_lenet_d2l_v1" in experiments.EXPERIMENTS and "densenet_d2l" in experiments.EXPERIMENTS
    assert registry.get("densenet_d2l").kwargs == {"halve_channels": True}
    # the initialiser reaches the ports' layers, which subclass nn.Conv2d / nn.Linear
    from torch import nn

    net = registry.get("alexnet").build_torch()
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.zeros_(m.weight)
    net.apply(train.init_cnn)
    assert all(m.weight.abs().sum() > 0 for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


# ---------------------------------------------------------------- d2l 1.0's init_cnn, as the course applies it
def _lazy_state_after_forward(build, shape, **kwargs):
    """A d2l 1.0 Lazy network built under seed 0 and run once on zeros: its materialised state."""
    import torch

    torch.manual_seed(0)
    net = build(**kwargs)
    net(torch.zeros(shape))
    return net, {k: v.clone() for k, v in net.state_dict().items()}


@needs_torch
@pytest.mark.parametrize("name, shape", [("alexnet", (1, 1, 224, 224)), ("densenet", (1, 1, 96, 96))])
def test_d2l_1_0_init_cnn_inside_init_leaves_alexnet_and_densenet_at_torchs_default(name, shape):
    """d2l 1.0 §8.1 and §8.7 call ``self.net.apply(d2l.init_cnn)`` on Lazy layers: a no-op."""
    import torch

    from modern_cnns.torch_impl import d2l_lazy

    build = getattr(d2l_lazy, name)
    _, as_the_course = _lazy_state_after_forward(build, shape)        # init_cnn applied inside __init__
    plain_net, plain = _lazy_state_after_forward(build, shape, init=None)  # never applied
    assert as_the_course.keys() == plain.keys()
    assert all(torch.equal(as_the_course[k], plain[k]) for k in plain), "init_cnn changed a weight"
    # the same init_cnn does act once the layers have shapes (apply_init, as VGG's cell calls it)
    plain_net.apply(d2l_lazy.init_cnn)
    changed = [k for k, v in plain_net.state_dict().items() if k.endswith("weight") and not torch.equal(v, plain[k])]
    assert changed, "init_cnn after a forward changed nothing"


@needs_torch
def test_d2l_1_0_vgg_gets_init_cnn_through_apply_init():
    """d2l 1.0 §8.2.3's cell calls ``model.apply_init([batch], d2l.init_cnn)``: Xavier weights, default biases."""
    import torch

    from modern_cnns.torch_impl import d2l_lazy

    x = torch.zeros(1, 1, 224, 224)
    torch.manual_seed(0)
    net = d2l_lazy.vgg_small()
    d2l_lazy.apply_init(net, [x], d2l_lazy.init_cnn)
    _, plain = _lazy_state_after_forward(d2l_lazy.vgg_small, tuple(x.shape), init=None)
    state = net.state_dict()
    weights = [k for k in state if k.endswith("weight")]
    assert weights and all(not torch.equal(state[k], plain[k]) for k in weights)
    assert all(torch.equal(state[k], plain[k]) for k in state if k.endswith("bias"))


@needs_torch
def test_only_alexnet_and_densenet_d2l_start_from_torchs_default():
    from modern_cnns.parity.weights.init import TORCH_DEFAULT, torch_initialiser
    from modern_cnns.torch_impl import train

    untouched = {name for name, exp in experiments.EXPERIMENTS.items() if exp.init == TORCH_DEFAULT}
    assert untouched == {"alexnet", "densenet_d2l"}
    assert torch_initialiser(experiments.get("alexnet")) is None
    assert torch_initialiser(experiments.get("vgg_small")) is train.init_cnn
    assert torch_initialiser(experiments.get("bn_lenet_scratch_d2l")) is train.init_weights_ch6


@needs_both
def test_torch_default_experiment_starts_both_frameworks_from_torchs_draw(tmp_path, monkeypatch):
    """A "torch_default" run: the torch side keeps its default draw, the Gluon side gets the same weights.

    Trained for one batch at lr 0 (an SGD step that moves no weight), on the small d2l 1.0
    BN-LeNet, so that the check runs in seconds; AlexNet and DenseNet take the same path.
    """
    import dataclasses
    import math

    import numpy as np

    from modern_cnns.parity.runs import reproduce
    from modern_cnns.parity.runs.spec import RunSpec
    from modern_cnns.parity.weights.state import gluon_slots, torch_slots

    exp = dataclasses.replace(experiments.get("bn_lenet_d2l_v1"), name="tiny_torch_default", init="torch_default")
    monkeypatch.setitem(experiments.EXPERIMENTS, exp.name, exp)
    monkeypatch.setitem(provenance.EXPERIMENTS, exp.name, provenance.EXPERIMENTS["bn_lenet_d2l_v1"])
    spec = RunSpec.of(exp.name, epochs=1, out=tmp_path, limit_batches=1)
    object.__setattr__(spec, "lr", 0.0)  # past RunSpec's check (a user's lr must be > 0): a step that moves nothing
    _, gnet = reproduce.train_gluon(spec, progress=False)
    _, tnet = reproduce.train_torch(spec, progress=False)
    example = registry.get(exp.network).batch_shape(1)
    g = {k: s.read() for k, s in gluon_slots(gnet, example).items()}
    t = {k: s.read() for k, s in torch_slots(tnet, example)[0].items()}
    params = [k for k in t if k.endswith(("weight", "bias")) and k in g]
    assert len(params) >= 10
    for k in params:
        np.testing.assert_array_equal(g[k], t[k], err_msg=k)
    # PyTorch's default draw, not Xavier: biases drawn, first conv's weights beyond Xavier's bound
    first = next(k for k in params if k.endswith("weight") and t[k].ndim == 4)
    out_c, in_c, kh, kw = t[first].shape
    assert np.abs(t[first]).max() > math.sqrt(6 / (in_c * kh * kw + out_c * kh * kw))
    assert np.abs(t[first]).max() <= 1 / math.sqrt(in_c * kh * kw)
    assert any(np.abs(t[k]).sum() > 0 for k in params if k.endswith("bias") and t[k].ndim == 1)


# ---------------------------------------------------------------- the record: section numbers, plots, tables
def test_section_numbers_as_the_editions_number_them():
    """Derived from the editions' headings: d2l 0.17 §7.6 is Function Classes, Residual Blocks, ResNet Model,
    Training; gluonbook's chapter 5 runs LeNet §5.6, AlexNet §5.7 ... DenseNet §5.13."""
    assert provenance.experiment_source("resnet18").section == "7.6.4"
    assert provenance.experiment_source("googlenet").section == "7.4.3"
    assert provenance.experiment_source("densenet_d2l").section == "8.7.5"
    alexnet_cited = [f"{p.relative_to(REPO)}: {line.strip()}" for p in [*user_docs(), REPO / "gluon_impl/alexnet.py"]
                     for line in p.read_text().splitlines() if "AlexNet" in line and "gluonbook §5.6" in line]
    assert not alexnet_cited, alexnet_cited
    assert "every Gluon network here is its code" not in (REPO / "README.md").read_text()


def _history(epochs, **extra):
    return [{"epoch": e, "loss": 1.0 / e, "train_acc": 0.5 + e / 100, "test_acc": 0.5 + e / 90, "time": 10.0, **extra}
            for e in range(1, epochs + 1)]


def test_curves_one_colour_per_framework_integer_epochs_and_the_course_as_markers():
    from modern_cnns.parity.runs import outputs

    exp = experiments.get("bn_lenet_scratch_d2l")
    reference = outputs.load_reference(exp.reference)
    fig = outputs.figure({"gluon": _history(1), "torch": _history(1)}, exp, reference)
    for ax in fig.axes:
        ticks = ax.get_xticks()
        lo, hi = ax.get_xlim()
        assert all(float(t).is_integer() for t in ticks if lo <= t <= hi), ticks
        colours = [line.get_color() for line in ax.get_lines()]
        assert colours[:2] == [outputs.COLOURS["gluon"], outputs.COLOURS["torch"]]
        course = ax.get_lines()[2]
        assert course.get_linestyle() == "None" and list(course.get_xdata()) == [10]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[-1] == "the course, d2l 0.17 §7.5.4 Applying Batch Normalization in LeNet (on CUDA)"
    assert "d2l 0.17's train_ch6" in legend[1]


def test_results_print_the_course_at_its_recorded_precision_with_examples_per_sec():
    from modern_cnns.parity.runs import outputs

    exp = experiments.get("bn_lenet_concise_d2l")
    reference = outputs.load_reference(exp.reference)
    histories = {"gluon": _history(10), "torch": _history(10, examples_per_sec=4000.0)}
    table = outputs.markdown(exp, histories, reference, {}, exp.lr, exp.batch_size)
    assert "| 0.268 | 0.902 | 0.853 |" in table and "0.2680" not in table
    assert "torch 4000.0 on cpu; the course 33000.3 on CUDA" in table
    assert "PyTorch on CUDA" in table
    gluonbook = experiments.get("bn_lenet_scratch")
    table = outputs.markdown(gluonbook, {"gluon": _history(1)}, outputs.load_reference(gluonbook.reference), {},
                             1.0, 256)
    assert "| 1 | 1.0000 | 0.510 | 0.511 | 0.6653 | 0.761 | 0.806 |" in table


def test_a_finished_run_records_code_packages_machine_and_wall_time(tmp_path):
    import json

    from modern_cnns.parity.runs import record

    (tmp_path / "run.json").write_text(json.dumps({"config": {"experiment": "x", "code": "0.1.0+abc1234"}}))
    record.finish(tmp_path, 12.34, resumed=False)
    manifest = json.loads((tmp_path / "run.json").read_text())
    assert manifest["config"] == {"experiment": "x", "code": "0.1.0+abc1234"}
    rec = manifest["record"]
    assert rec["code"] == "0.1.0+abc1234"  # the code the run started with, not the checkout's now
    from modern_cnns.parity.frameworks import available

    computing = {"numpy"} | {package for framework, package in (("gluon", "mxnet"), ("torch", "torch"))
                             if available(framework)}  # a one-framework env records the one it has
    assert computing <= set(rec["packages"])
    assert rec["machine"]["cores"] >= 1 and rec["machine"]["cpu"]
    assert rec["wall_s"] == 12.3 and rec["resumed"] is False


def test_every_committed_run_has_its_record():
    import json

    runs = sorted(p.parent for p in (REPO / "docs" / "runs").glob("*/log.json"))
    assert len(runs) >= 4
    for run in runs:
        manifest = json.loads((run / "run.json").read_text())
        rec = manifest["record"]
        assert rec["code"] and rec["packages"]["mxnet"] and rec["packages"]["torch"], run.name
        assert rec["machine"]["cpu"] and rec["wall_s"] > 0, run.name
        assert {"curves.png", "results.md", "README.md"} <= {p.name for p in run.iterdir()}, run.name


@needs_torch
def test_googlenet_has_no_batchnorm_as_d2l_0_17_wrote_it():
    """d2l 0.17 §7.4's GoogLeNet has no BatchNorm; the docs must not say it has."""
    from torch import nn

    from modern_cnns.torch_impl import gluon_layers

    net = registry.get("googlenet").build_torch()
    assert not [m for m in net.modules() if isinstance(m, (nn.modules.batchnorm._BatchNorm, gluon_layers.BatchNorm))]
    deviations = (REPO / "docs" / "DEVIATIONS.md").read_text()
    claims = [line for line in deviations.splitlines() if "googlenet" in line.lower() and "BatchNorm2d" in line]
    assert all("no BatchNorm" in line for line in claims), claims
