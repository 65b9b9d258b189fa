"""Each config section checks itself when built; the runtime section stays out of the model."""

import dataclasses

import pytest

from pipeline.config import (
    BacktestConfig,
    ClusterConfig,
    Config,
    DataConfig,
    FeatureConfig,
    IntervalConfig,
    ModelConfig,
    RuntimeConfig,
    SweepConfig,
    TrainConfig,
    flatten,
)
from pipeline.errors import ConfigError


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: DataConfig(source="csv"), "--source csv needs --data"),
        (lambda: FeatureConfig(train_frac=0.9, val_frac=0.1), "it must stay below 1"),
        (lambda: ModelConfig(dropout=1.0), "--dropout must lie in"),
        (lambda: TrainConfig(lr=0), "--lr must be above 0"),
        (lambda: RuntimeConfig(device="tpu"), "--device must be one of"),
        (lambda: RuntimeConfig(threads=-1), r"--threads must be 0 \(auto\) or more"),
        (lambda: IntervalConfig(levels=(0.9, 0.9)), "--levels lists a level twice"),
        (lambda: BacktestConfig(folds=0), "--folds must be at least 1"),
        (lambda: SweepConfig(lr_range=(0.1, 0.01)), "--sweep-lr-range needs two rates"),
    ],
)
def test_a_section_refuses_a_bad_value_when_built(build, message):
    with pytest.raises(ConfigError, match=message):
        build()


def test_replacing_a_field_checks_the_section_again():
    with pytest.raises(ConfigError, match="--window must be at least 2"):
        dataclasses.replace(FeatureConfig(), window=1)


def test_runtime_settings_are_params_but_not_the_models_config():
    cfg = Config(
        runtime=RuntimeConfig(device="cpu", threads=2, amp=True),
        cluster=ClusterConfig(scope="global"),
    )
    params, model = flatten(cfg), flatten(cfg, runtime=False)
    assert params["runtime.threads"] == "2" and params["runtime.amp"] == "True"
    assert params["cluster.scope"] == "global"  # how the job ran: a param of the run
    assert not [key for key in model if key.startswith(("runtime.", "cluster."))]
    assert {k: v for k, v in params.items() if not k.startswith(("runtime.", "cluster."))} == model
    banned = ("device", "threads", "amp", "scope", "engine")
    assert not [key for key in model if key.rpartition(".")[2] in banned]
