"""Hostile inputs a new user tried after Reliability II landed (docs/RELIABILITY.md, "Second pass").

Each was a failure before the fix: a file the tool did not write replaced by ``--render``, a
run started inside another run's folder, an empty ``--out`` taken as the current folder, a builder
that exits ending the check as a success, thread counts in another script's digits or an empty
engine variable aborting MXNet, an unbounded ``--epochs``.
"""
import hashlib
import shutil

import pytest

from parity_tests.cli_inprocess import run_main
from parity_tests.conftest import REPO, needs_both

RUN = REPO / "docs" / "runs" / "bn_lenet_scratch"  # a committed run: its log.json and run.json


def _a_run(tmp_path, name="run"):
    folder = tmp_path / name
    folder.mkdir()
    for file in ("log.json", "run.json"):
        shutil.copy(RUN / file, folder / file)
    return folder


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_render_redraws_a_run_folder_of_this_tool(tmp_path):
    folder = _a_run(tmp_path)
    code, out, err = run_main("reproduce", "--render", folder)
    assert code == 0, err
    assert (folder / "results.md").is_file() and (folder / "curves.png").is_file()


def test_render_refuses_a_folder_without_a_run_manifest_and_keeps_the_users_results(tmp_path):
    folder = _a_run(tmp_path)
    (folder / "run.json").unlink()
    mine = folder / "results.md"
    mine.write_text("MY OWN RESULTS")
    code, _, err = run_main("reproduce", "--render", folder)
    assert code == 2 and err.startswith("error: ") and "no run.json" in err, err
    assert mine.read_text() == "MY OWN RESULTS" and not (folder / "curves.png").exists()


@pytest.mark.parametrize("kind", ["link", "folder"])
def test_render_never_writes_through_a_link_or_into_a_folder_named_like_its_outputs(tmp_path, kind):
    folder = _a_run(tmp_path)
    outside = tmp_path / "outside.txt"
    outside.write_text("the user's")
    if kind == "link":
        (folder / "results.md").symlink_to(outside)
    else:
        (folder / "results.md").mkdir()
    before = _digest(outside)
    code, _, err = run_main("reproduce", "--render", folder)
    assert code == 2 and "results.md" in err and "did not write" in err, err
    assert _digest(outside) == before and not (folder / "curves.png").exists()


@needs_both
@pytest.mark.parametrize("below", ["torch", "newsub"])
def test_a_run_inside_another_runs_folder_is_refused(tmp_path, below):
    parent = _a_run(tmp_path, "D")
    code, _, err = run_main("reproduce", "bn_lenet_scratch", "--epochs", "1", "--limit-batches", "1",
                            "--out", parent / below)
    assert code == 2 and "is inside the run folder" in err, err
    assert not (parent / below / "run.json").exists()


@pytest.mark.parametrize("option", [["reproduce", "bn_lenet_scratch", "--out", ""],
                                    ["check", "lenet", "--json", ""]])
def test_an_empty_output_path_is_refused(option):
    code, _, err = run_main(*option)
    assert code == 2 and "an empty path" in err, err


def test_epochs_are_bounded_like_steps():
    code, _, err = run_main("reproduce", "bn_lenet_scratch", "--epochs", "99999999999999999999")
    assert code == 2 and "must be at most" in err, err


@pytest.mark.parametrize("value", ["\u0663", "99999999999999999999", " 2x", "0"])
def test_a_thread_count_mxnet_cannot_take_is_refused_before_it_loads(value):
    from modern_cnns.parity.frameworks import environment_problems

    problems = environment_problems({"OMP_NUM_THREADS": value})
    assert problems and "OMP_NUM_THREADS" in problems[0]
    assert environment_problems({"OMP_NUM_THREADS": "2"}) == []


def test_an_empty_engine_variable_is_refused_like_an_unknown_one():
    from modern_cnns.parity.frameworks import environment_problems

    assert environment_problems({"MXNET_ENGINE_TYPE": ""}) and environment_problems({"MXNET_ENGINE_TYPE": "garbage"})
    assert environment_problems({"MXNET_ENGINE_TYPE": "NaiveEngine"}) == []


def _exits():
    raise SystemExit(0)


@needs_both
def test_a_builder_that_exits_is_an_error_not_a_silent_success():
    code, out, err = run_main("check", "--gluon", f"{__name__}:_exits", "--torch", f"{__name__}:_exits",
                              "--input", "1,3,4")
    assert code == 2 and err.startswith("error: ") and "SystemExit" in err, (code, out, err)
