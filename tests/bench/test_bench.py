"""The benchmark suite runs and reports every figure. No test here times anything."""

from __future__ import annotations

import json
import math

import helpers
import numpy as np
import pytest
import torch

from benchmarks.bench import PARTS, main
from benchmarks.data_path import TutorialWindows
from benchmarks.features_scaling import bench_features_scaling
from benchmarks.harness import RATIO_STATISTIC, BenchConfig, paired_ratios, run_part
from benchmarks.stages import STAGES, run_all, run_config
from benchmarks.train_epoch import bare_epoch
from pipeline.config import FeatureConfig, ModelConfig, TrainConfig
from pipeline.core.features import CLOSE, build_features
from pipeline.core.network import StockRNN
from pipeline.errors import DataError, StockcastError
from pipeline.models.training import DeviceData, seed_everything, train_epoch

FIGURES = (
    "data_path_speedup",
    "train_overhead_ratio",
    "stage_seconds",
    "logging_share",
    "server_logging_share",
    "features_scaling",
    "inference",
)
RATIOS = (
    "data_path_speedup",
    "train_overhead_ratio",
    "logging_share",
    "server_logging_share",
    "features_scaling",
)


def _positive_numbers(tree: object) -> list[float]:
    """Every number in a nested dict/list (booleans and counts of zero aside)."""
    if isinstance(tree, dict):
        return [x for v in tree.values() for x in _positive_numbers(v)]
    if isinstance(tree, list):
        return [x for v in tree for x in _positive_numbers(v)]
    if isinstance(tree, float):
        return [tree]
    return []


def test_bare_epoch_trains_exactly_like_train_epoch(prices):
    """The comparison is fair: same model, batches, clipping and optimiser give the same result."""
    features = build_features(prices, FeatureConfig(window=10))
    data = DeviceData(features, torch.device("cpu"))
    ends = data.ends(features.split.train)
    model_cfg, train_cfg = ModelConfig(hidden_size=8), TrainConfig(batch_size=32, seed=3)

    def start() -> tuple[StockRNN, torch.optim.Optimizer, torch.Generator]:
        seed_everything(train_cfg.seed)
        model = StockRNN(model_cfg, 4, features.horizon)
        return (
            model,
            torch.optim.Adam(model.parameters(), lr=0.01),
            torch.Generator().manual_seed(1),
        )

    pm, po, pg = start()
    bm, bo, bg = start()
    x, y = data.batch(ends), data.targets[ends]
    for _ in range(2):
        ours = train_epoch(pm, po, data, ends, train_cfg.batch_size, 1.0, pg)
        bare = bare_epoch(bm, bo, x, y, train_cfg.batch_size, 1.0, bg)
        assert ours == pytest.approx(bare, rel=1e-6)
    for a, b in zip(pm.parameters(), bm.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_tutorial_dataset_slices_the_window_ending_on_each_end_and_the_next_close():
    scaled = np.arange(40, dtype=np.float32).reshape(10, 4)
    dataset = TutorialWindows(scaled, ends=np.array([2, 5]), window=3)
    x, y = dataset[1]
    assert len(dataset) == 2
    np.testing.assert_array_equal(x.numpy(), scaled[3:6])
    assert y.item() == scaled[6, CLOSE]


def test_features_scaling_reports_every_count_and_views():
    part = bench_features_scaling((2, 4), 200, repeats=2, seed=0, cfg=FeatureConfig(window=10))
    out, growth = part["features_scaling"], part["ratios"]["features_scaling"]
    assert out["time_growth"] == growth["value"] and len(growth["paired_ratios"]) == 2
    assert set(out["by_tickers"]) == {"2", "4"}
    assert out["windows_are_views"] is True
    for size in out["by_tickers"].values():
        assert size["seconds"] > 0 and size["peak_mib"] > 0
    # Four tickers of 191 windows of 10 days x 4 prices, in float64, if they were copied.
    assert out["materialised_windows_mib"] == pytest.approx(4 * 191 * 10 * 4 * 8 / 2**20)


@pytest.mark.parametrize("option", ["--repeats", "--threads"])
def test_counts_below_one_are_refused_before_any_work(option, capsys, tmp_path):
    assert main(["--quick", option, "0", "--out", str(tmp_path / "b.json")]) == 2
    assert f"error: {option} must be at least 1, not 0" in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()


@pytest.mark.slow  # every benchmark: trains, starts the tracking server
def test_quick_bench_prints_and_writes_every_figure(tmp_path, capsys):
    out = tmp_path / "results" / "bench.json"
    threads = torch.get_num_threads()
    assert main(["--quick", "--device", "cpu", "--threads", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed
    results = json.loads(out.read_text())

    for key in FIGURES:
        assert key in results, key
        assert key in printed, key
    assert results["errors"] == {} and set(results["part_seconds"]) == set(PARTS)
    for key in RATIOS:  # the figure, how it was taken, and its spread
        ratio = results["ratios"][key]
        assert ratio["statistic"] and len(ratio["paired_ratios"]) == 1, key
        assert ratio["min"] <= ratio["value"] <= ratio["max"], key
    assert results["train_overhead_ratio"] == results["ratios"]["train_overhead_ratio"]["value"]
    assert (
        results["features_scaling"]["time_growth"] == results["ratios"]["features_scaling"]["value"]
    )
    assert "[" in printed.split("train_overhead_ratio")[1].splitlines()[0]  # value [min-max]
    assert set(results["stage_seconds"]) == set(STAGES)
    assert 0 < results["logging_share"] < 1 and 0 < results["server_logging_share"] < 1
    assert results["server_stage_run"]["request_ms"] > 0
    assert results["features_scaling"]["windows_are_views"] is True
    assert results["train_epoch"]["same_losses"] is True
    assert results["machine"]["device"] == "cpu" and results["machine"]["cores"] >= 1
    numbers = _positive_numbers({k: results[k] for k in FIGURES})
    assert len(numbers) > 15
    assert all(math.isfinite(x) and x > 0 for x in numbers)
    assert torch.get_num_threads() == threads  # --threads applied to the run only


@pytest.mark.slow  # Ray, the tracking server, training in a new process
def test_quick_scaling_bench_reports_the_ray_figures(tmp_path, capsys, monkeypatch):
    from benchmarks import scaling

    token = tmp_path / "token"
    token.write_text(helpers.RAY_TOKEN)
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(token))  # never ~/.ray/auth_token
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    out = tmp_path / "scaling.json"
    argv = ["--quick", "--no-tracking", "--rate-tickers", "3", "--out", str(out)]
    assert scaling.main(argv) == 0
    results = json.loads(out.read_text())
    fanout, ratios = results["fanout"], results["ratios"]
    assert fanout["tickers"] == 3 and fanout["local_s"] > 0 and fanout["ray_s"] > 0
    # One pair in the quick run: the median of the paired ratios is that pair's ratio.
    assert fanout["fanout_speedup"] == pytest.approx(fanout["local_s"] / fanout["ray_s"])
    assert "fanout_speedup_vs_all_cores" not in fanout  # only with --vs-all-cores
    assert set(ratios) == {"fanout_speedup", "ray_task_overhead_share", "speedup_2_threads"}
    for ratio in ratios.values():
        assert ratio["statistic"] and ratio["min"] <= ratio["value"] <= ratio["max"]
    assert ratios["fanout_speedup"]["value"] == fanout["fanout_speedup"]
    assert len(ratios["ray_task_overhead_share"]["paired_ratios"]) == 5  # one per no-op call
    assert list(results["part_seconds"]) == ["threads", "fanout", "rate", "rate_server"]
    assert 0 < fanout["ray_busy_share"] <= 1.05
    assert 0 < results["ray_task_overhead_share"]["share"] < 1
    assert set(results["threads"]) == {"threads_1_s", "threads_2_s", "speedup_2_threads"}
    rate = results["tickers_per_hour"]  # a real `stockcast all --engine ray` in a new process
    assert rate["tickers"] == 3 and rate["runs_by_status"] == {"FINISHED": 3}
    assert rate["measured_ray"] == pytest.approx(3 / rate["seconds"] * 3600)
    server = results["tickers_per_hour_server"]  # the same against the tracking server
    assert server["tickers"] == 3 and server["runs_by_status"] == {"FINISHED": 3}
    printed = capsys.readouterr().out
    assert "fanout_speedup" in printed and "tickers_per_hour" in printed
    assert "against the server" in printed
    assert "[fanout, " in printed  # its lines as soon as the part ended


def test_the_100_ticker_rate_runs_only_when_asked():
    from benchmarks import scaling

    assert scaling.parse_args([]).rate_tickers == 0  # make bench: skipped
    assert scaling.parse_args(["--rate-only"]).rate_tickers == 100  # make bench-rate
    assert scaling.parse_args(["--rate-only", "--rate-tickers", "7"]).rate_tickers == 7


def test_paired_ratios_take_the_median_of_each_rounds_ratio():
    # Round 3's slow first side (9.0) moves its ratio, not the median of the rounds'.
    ratio = paired_ratios([2.0, 3.0, 9.0, 2.2], [2.0, 2.0, 2.0, 2.0])
    assert ratio["statistic"] == RATIO_STATISTIC
    assert ratio["paired_ratios"] == [1.0, 1.5, 4.5, 1.1]
    assert ratio["value"] == pytest.approx(1.3)  # median of 1.0, 1.1, 1.5, 4.5
    assert (ratio["min"], ratio["max"]) == (1.0, 4.5)
    assert ratio["ratio_of_minimums"] == 1.0
    assert ratio["ratio_of_medians"] == pytest.approx(2.6 / 2.0)


def test_a_failing_part_is_recorded_and_the_next_parts_still_run():
    results = {"ratios": {}, "errors": {}, "part_seconds": {}}
    seen = []

    def fail():
        raise DataError("MSFT: loss became nan at epoch 6 (training diverged)")

    run_part(results, "stages", fail, lambda r, part: seen.append((part, dict(r["errors"]))))
    run_part(results, "inference", lambda: {"inference": {"ms": 1.0}, "ratios": {"x": {}}})
    assert results["errors"] == {
        "stages": {"error": "MSFT: loss became nan at epoch 6 (training diverged)", "exit_code": 3}
    }
    assert seen == [("stages", results["errors"])]  # told at once, as each part ends
    assert results["inference"] == {"ms": 1.0} and results["ratios"] == {"x": {}}
    assert set(results["part_seconds"]) == {"stages", "inference"}
    with pytest.raises(ZeroDivisionError):  # a bug is no failed part: it stops the run
        run_part(results, "data_path", lambda: {"x": 1 / 0})


def test_a_ticker_failing_in_the_make_all_run_is_one_error_line(tmp_path, mlflow_store):
    settings = BenchConfig(run_tickers=("NOPE",), run_epochs=1)
    cfg = run_config(settings, torch.device("cpu"), amp=False, folder=tmp_path)
    with pytest.raises(
        StockcastError, match=r"^make all failed \(exit 3\): no sample prices for NOPE"
    ):
        run_all(cfg)
