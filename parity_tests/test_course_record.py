"""The course record: provenance users can follow, links that resolve, editions run as written."""
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modern_cnns.parity.catalog import experiments, provenance, registry
from parity_tests.conftest import needs_gluon, needs_torch

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


@pytest.mark.parametrize("args", [["list"], ["reproduce", "--list"]])
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
