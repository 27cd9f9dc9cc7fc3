"""A pair whose tensor names differ is refused before torch's weights are made (the builder runs on ``meta``)."""
from __future__ import annotations

from parity_tests.cli_inprocess import run_main
from parity_tests.conftest import needs_both

#: the device each call of :func:`renamed_torch` built its weights on
BUILT_ON: list[str] = []


def renamed_torch():
    """:func:`parity_tests.port_builders.tiny_torch` under another name (``port.0.weight``, not ``0.weight``)."""
    from torch import nn

    from parity_tests.port_builders import tiny_torch

    module = nn.ModuleDict({"port": tiny_torch()})
    BUILT_ON.append(next(module.parameters()).device.type)
    return module


def loads_a_file_torch():
    """A builder that cannot run on ``meta`` (it reads real values): built for real, refused as before."""
    import torch

    module = renamed_torch()
    torch.nn.init.constant_(next(module.parameters()), 0.5)
    if next(module.parameters()).is_meta:
        raise RuntimeError("cannot read values of a meta tensor")
    return module


@needs_both
def test_a_pair_named_differently_is_refused_without_building_torchs_weights():
    BUILT_ON.clear()
    code, out, err = run_main("check", "--gluon", "parity_tests.port_builders:tiny_gluon", "--torch",
                              "parity_tests.test_name_refusal_first:renamed_torch", "--input", "1,8,8")
    assert code == 2 and "name their tensors differently" in err, err
    assert BUILT_ON == ["meta"]  # built once, on the meta device: no weight was ever allocated or initialised


@needs_both
def test_a_builder_that_cannot_run_on_meta_is_built_for_real_and_refused_alike():
    BUILT_ON.clear()
    code, out, err = run_main("check", "--gluon", "parity_tests.port_builders:tiny_gluon", "--torch",
                              "parity_tests.test_name_refusal_first:loads_a_file_torch", "--input", "1,8,8")
    assert code == 2 and "name their tensors differently" in err and "meta" not in err, err
    assert BUILT_ON == ["meta", "cpu"]


@needs_both
def test_a_map_or_positional_pairing_builds_torch_once_for_real():
    BUILT_ON.clear()
    code, out, err = run_main("check", "--gluon", "parity_tests.port_builders:tiny_gluon", "--torch",
                              "parity_tests.test_name_refusal_first:renamed_torch", "--input", "1,8,8",
                              "--positional", "--dtype", "float64", "--steps", "1")
    assert BUILT_ON == ["cpu"], (code, err)
