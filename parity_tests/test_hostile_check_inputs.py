"""Hostile inputs a new user gave ``check`` (issue #22, items 2, 7, 8): extreme or degenerate ``--inputs``,
damaged files, options that would be ignored, a closed stdout, names that break a table.

Each test failed before its fix (docs/RELIABILITY.md, "Third pass")."""
import numpy as np
import pytest

from parity_tests.cli_inprocess import run_main
from parity_tests.conftest import needs_both

PAIR = ("--gluon", "parity_tests.port_builders:tiny_gluon", "--torch", "parity_tests.port_builders:tiny_torch")


def _save(path, array):
    np.save(path, array)
    return path


def _one_error(code, out, err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, out, err)
    return lines[0]


# --------------------------------------------------------------------------- the sensitivity nudge of a zero
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_zero_is_nudged_by_a_step_later_operations_see(dtype):
    """The ulp of 0 is the smallest denormal: every later sum absorbs it, so the nudge moved nothing."""
    from modern_cnns.parity.verdict.check import nudge, nudge_rng

    zeros = np.zeros((2, 1, 4, 4))
    moved = nudge(zeros, dtype, nudge_rng(0))
    assert np.all(np.abs(moved) >= np.finfo(dtype).eps), moved
    mixed = np.array([0.0, 0.5, 2.0, -3.0])
    moved = nudge(mixed, dtype, nudge_rng(0))
    assert abs(moved[0]) == np.spacing(np.asarray(3.0, dtype))  # one ulp of the batch's largest magnitude
    ulps = np.abs(moved[1:] - mixed[1:].astype(dtype)) / np.spacing(np.abs(mixed[1:]).astype(dtype))
    assert np.all((ulps > 0) & (ulps <= 1)), ulps  # a non-zero still moves by its own ulp (one, or half below 2^k)


@needs_both
def test_all_zero_inputs_pass_a_correct_float64_port(tmp_path):
    """bn_lenet_scratch on zeros: its BatchNorm normalises a constant batch (ill-conditioned); the port differs by
    ~1e-8, which the original's own change under a real nudge explains (and a denormal nudge did not)."""
    inputs = _save(tmp_path / "zeros.npy", np.zeros((2, 1, 28, 28)))
    code, out, err = run_main("check", "bn_lenet_scratch", "--inputs", inputs, "--dtype", "float64", "--steps", "1",
                              "--jobs", "1")
    assert code == 0 and "1/1 network checks passed" in out, out + err
