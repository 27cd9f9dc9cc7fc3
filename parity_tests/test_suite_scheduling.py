"""How ``-n 2 --dist loadgroup`` shares the suite's expensive work between its two workers (conftest.shared_work)."""
from modern_cnns.parity.catalog import registry
from parity_tests.conftest import LARGE_NETWORKS, shared_work

CHECK = "parity_tests/test_parity_check.py::test_port_matches_original[{}-{}-{}]"


def test_both_dtypes_of_a_network_check_go_to_one_worker_and_networks_spread():
    groups = {name: {shared_work(CHECK.format(name, "cpu", dtype)) for dtype in ("float32", "float64")}
              for name in registry.names() if name not in LARGE_NETWORKS}
    assert all(len(g) == 1 and None not in g for g in groups.values()), groups
    assert len({g.pop() for g in groups.values()}) == len(groups)  # one group per network, not one for all
    assert shared_work(CHECK.format("nin", "gpu", "float32")) != shared_work(CHECK.format("nin", "cpu", "float32"))


def test_large_networks_and_whole_catalog_sweeps_run_one_at_a_time():
    dtypes = ("float32", "float64")
    large = {shared_work(CHECK.format(name, "cpu", dtype)) for name in LARGE_NETWORKS for dtype in dtypes}
    large |= {shared_work(CHECK.format(name, "cpu-noonednn", dtype)) for name in registry.names() for dtype in dtypes}
    large |= {shared_work(f"parity_tests/{test}") for test in (
        "test_transfer.py::test_round_trip_gluon_torch_gluon_is_bitwise[vgg11]",
        "test_parity_check.py::test_known_mutations_are_caught_in_float32_at_default_settings"
        "[torch BatchNorm in densenet]",
        "test_parity_check.py::test_float32_sweep_passes_as_another_cpu_computes[AVX2]")}
    assert large == {"large networks"}
    # a quick test that builds a large network in torch alone is spread like any other
    assert shared_work("parity_tests/test_catalog.py::test_torch_builds_and_runs[vgg11]") is None


def test_the_stock_batchnorm_test_shares_its_network_check():
    stock = "parity_tests/test_parity_check.py::" \
            "test_the_editions_stock_batchnorm_is_a_known_difference_of_the_course_not_a_port_failure"
    assert shared_work(stock) == shared_work(CHECK.format("bn_lenet_concise_d2l_stock", "cpu", "float64"))


def test_other_tests_are_spread_one_by_one():
    assert shared_work("parity_tests/test_data.py::test_counts_and_class_balance") is None
    assert shared_work("parity_tests/test_parity_check.py::test_correct_ports_pass_across_seeds_and_steps[lenet-1-1]") \
        is None
