"""The per-layer report (issue 22, item 8): every layer of both trees, once, in order, with its shapes;
an injected bug stands out at its layer against the original's own float32 error; the console, the
JSON and the Markdown carry the same rows; the PNG is drawn beside the report, never over a file the
tool did not draw; a float32 row accepted against float64 says so in words.

Shapes are checked against hooks written here (and, for the course's LeNet, against the shapes the
course prints), never against the code under test.
"""
import json

import numpy as np
import pytest

from parity_tests import bug_corpus
from parity_tests.cli_inprocess import run_main
from parity_tests.conftest import needs_both

#: gluonbook, MXNet edition, §5.5: LeNet's output shape after each of its seven layers (one sample)
COURSE_LENET_SHAPES = [(6, 24, 24), (6, 12, 12), (16, 8, 8), (16, 4, 4), (120,), (84,), (10,)]
TINY = ("--gluon", "parity_tests.port_builders:tiny_gluon", "--torch", "parity_tests.port_builders:tiny_torch",
        "--input", "1,8,8")


def _hooked_torch(module, x):
    """``[(name, per-sample output shape)]`` of the module's leaf modules, in the order they ran."""
    import torch

    seen, handles = [], []
    for name, mod in module.named_modules():
        if name and not list(mod.children()):
            handles.append(mod.register_forward_hook(
                lambda m, i, o, name=name: seen.append((name, tuple(o.shape[1:])))))
    with torch.no_grad():
        module.eval()(torch.tensor(x))
    for h in handles:
        h.remove()
    return seen


def _hooked_gluon(block, x):
    """``[(name, per-sample output shape)]`` of the block's direct children, in the order they ran."""
    from mxnet import nd

    seen, handles = [], []
    for name, child in block._children.items():
        handles.append(child.register_forward_hook(
            lambda b, i, o, name=name: seen.append((name, tuple(o.shape[1:])))))
    block(nd.array(x, dtype=x.dtype))
    for h in handles:
        h.detach()
    return seen


def _in_order_once(names):
    """The names in order of appearance; fails if a name comes back after another one ran in between."""
    order = []
    for name in names:
        if name is None:
            continue
        if order and order[-1] == name:
            continue  # one module described as two layers (a conv with its activation=): adjacent rows
        assert name not in order, f"{name} appears twice, apart: {names}"
        order.append(name)
    return order


@needs_both
@pytest.mark.parametrize("network", ["lenet", "bn_lenet_concise"])
def test_the_table_lists_every_layer_of_both_trees_once_in_order_with_their_shapes(network):
    from modern_cnns.parity.catalog import registry
    from modern_cnns.parity.verdict.check import check_network

    entry = registry.get(network)
    results = check_network(entry, dtypes=("float32", "float64"))
    rows = results[0].layers
    assert rows and all(r.layers == rows for r in results)  # one table per pair, both dtypes' numbers

    x = np.random.default_rng(0).uniform(size=(2, *entry.input_shape))
    module = entry.build_torch().double()
    block = entry.build_gluon()
    block.initialize()
    block.cast("float64")
    torch_seen = _hooked_torch(module, x)
    gluon_seen = _hooked_gluon(block, x)

    assert _in_order_once([r["torch"] for r in rows]) == [name for name, _ in torch_seen]
    assert _in_order_once([r["gluon"] for r in rows]) == [name for name, _ in gluon_seen]
    torch_shapes, gluon_shapes = dict(torch_seen), dict(gluon_seen)
    for row in rows:
        if row["torch"] is not None:
            assert tuple(row["torch shape"][1:]) == torch_shapes[row["torch"]], row
        if row["gluon"] is not None:
            assert tuple(row["gluon shape"][1:]) == gluon_shapes[row["gluon"]], row
        assert row["pairing"] in ("aligned", "torch only", "gluon only")
        assert set(row["rel"]) == {"float32", "float64"}
    if network == "lenet":
        assert [shape for _, shape in gluon_seen] == COURSE_LENET_SHAPES
        assert all(row["pairing"] == "aligned" for row in rows)


def _bug(name):
    return next(b for b in bug_corpus.BUGS if b.name == name)


@needs_both
@pytest.mark.parametrize("bug_name", ["ReLU for sigmoid (lenet_d2l)", "hard sigmoid for sigmoid"])
def test_an_injected_bug_stands_out_at_its_layer_above_the_originals_float32_error(bug_name):
    """At the bug's layer the port is off by far more than float32 rounding (the original's own float32
    error there), in both dtypes; before it, float64 agrees to rounding and float32 no worse than float32's
    own rounding (a bound of 16x the original's error, or 16 float32 epsilons, whichever is larger)."""
    from modern_cnns.parity import check_pair

    bug = _bug(bug_name)
    pair = bug_corpus.PAIRS[bug.pair]
    results = check_pair(*bug_corpus.build_pair(pair, bug), pair.input_shape, dtypes=("float32", "float64"))
    rows = results[0].layers
    at = next(i for i, row in enumerate(rows) if row["torch"] == bug.module)
    own = rows[at]["original float32 error"]
    assert own is not None and 0 < own < 1e-5, rows[at]
    assert rows[at]["rel"]["float64"] > 1e3 * own and rows[at]["rel"]["float32"] > 1e3 * own, rows[at]
    assert at > 0
    for row in rows[:at]:
        if row["pairing"] != "aligned" or row["rel"]["float64"] is None:
            continue
        assert row["rel"]["float64"] <= 1e-12, row
        err = row["original float32 error"]
        assert err is not None and row["rel"]["float32"] <= 16 * max(err, np.finfo(np.float32).eps), row


def _console_rows(stdout):
    """The rows of the --layers table on the console: (#, layer name cell), in order."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("layers of "))
    titles = lines[start + 1]
    name_at, kind_at = titles.index("layer: torch (gluon)"), titles.index("kind")
    out = []
    for line in lines[start + 2:]:
        if not line.startswith("    "):
            break
        out.append((int(line.split()[0]), line[name_at:kind_at].strip()))
    return out


def _name(row):
    return row["torch"] if row["gluon"] is None else f"(gluon {row['gluon']})" if row["torch"] is None else \
        f"{row['torch']} (gluon {row['gluon']})"


@needs_both
def test_console_json_and_markdown_carry_the_same_rows_and_the_png_is_drawn(tmp_path):
    report, data = tmp_path / "r.md", tmp_path / "r.json"
    code, out, err = run_main("check", *TINY, "--layers", "--markdown", report, "--json", data)
    assert code == 0, err
    assert "prediction mode" in out

    def strict(token):
        raise AssertionError(f"not strict JSON: {token}")

    parsed = json.loads(data.read_text(), parse_constant=strict)
    rows = parsed["results"][0]["layers"]
    assert [r["torch"] for r in rows] == ["0", "1", "2", "3"]  # port_builders.tiny_torch's four children
    assert [tuple(r["torch shape"][1:]) for r in rows] == [(4, 6, 6), (4, 6, 6), (4, 6, 6), (5,)]
    assert all(r["layers"] == rows for r in parsed["results"])
    assert _console_rows(out) == [(i + 1, _name(r)) for i, r in enumerate(rows)]
    markdown = report.read_text()
    for i, row in enumerate(rows):
        assert f"| {i + 1} | {_name(row)} | {row['kind']} |" in markdown

    png = tmp_path / "r.layers.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(png) as image:
        image.verify()
        assert image.format == "PNG" and image.size[0] > 100

    # a second run replaces the figure it drew; without --layers the console shows no table
    before = png.stat().st_mtime_ns
    code, out, err = run_main("check", *TINY, "--dtype", "float64", "--json", data)
    assert code == 0, err
    assert "layers of " not in out and png.stat().st_mtime_ns != before


@needs_both
def test_a_file_beside_the_report_that_the_tool_did_not_draw_is_never_replaced(tmp_path):
    theirs = tmp_path / "r.layers.png"
    theirs.write_bytes(b"someone's own figure")
    code, out, err = run_main("check", *TINY, "--markdown", tmp_path / "r.md")
    assert code == 2 and err.startswith("error: ") and "did not draw" in err and "--layers-png" in err, err
    assert theirs.read_bytes() == b"someone's own figure"
    assert not (tmp_path / "r.md").exists()  # refused before any check ran


def test_a_float32_row_accepted_against_float64_reads_as_what_it_is():
    """Constructed numbers (no network): the port 1.21 from float64, the original 1.94 (within 4x)."""
    from modern_cnns.parity.verdict.check import Result, Row
    from modern_cnns.parity.verdict.checks import Check
    from modern_cnns.parity.verdict.report import console_lines, markdown
    from modern_cnns.parity.verdict.tolerance import judge

    gradient = Check.gradient_of("0.weight")
    verdict = judge(gradient, "float32", 1.79, port_err=1.21, orig_err=1.94)
    assert (verdict.passed, verdict.basis) == (True, "float64 reference")
    row = Row(gradient, 0.5, 1.79, verdict.text, verdict.passed, verdict.basis, verdict.ground)
    result = Result("lenet", "cpu", "float32", 2, rows=[row])
    head = console_lines(result)[0]
    assert "rel 1.79e+00; the port is 1.21e+00 from float64, within 4x the original's own float32 error 1.94e+00" \
        in head, head
    assert "(float64 reference:" not in head
    assert "within 4x the original's own float32 error 1.94e+00" in markdown([result])

    failing = judge(gradient, "float32", 1.79, port_err=9.0, orig_err=1e-5)
    assert not failing.passed and failing.ground == "" and "port 9.0e+00 > 4 x" in failing.text


@needs_both
def test_a_report_name_too_long_for_its_figure_costs_the_figure_not_the_check(tmp_path):
    """A legal 252-byte report name: its ``.layers.png`` sibling would pass the filesystem's limit."""
    data = tmp_path / ("r" * 247 + ".json")
    code, out, err = run_main("check", *TINY, "--dtype", "float64", "--json", data)
    assert code == 0, err
    assert "note: no per-layer figure beside the report" in err and "--layers-png" in err, err
    assert json.loads(data.read_text())["results"][0]["layers"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [data.name]
