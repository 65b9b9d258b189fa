"""The CLI is generated from the config: every setting has an option, a file can set them."""

from __future__ import annotations

import json
import re

import pytest

from pipeline.cli import (
    COMMAND_HELP,
    COMMAND_SECTIONS,
    REGISTRY_ONLY,
    TRACKED,
    build_parser,
    config_from_args,
    main,
)
from pipeline.config import Config, flatten, settings
from pipeline.errors import ConfigError


def _cfg(*argv: str) -> Config:
    return config_from_args(build_parser().parse_args(["all", *argv]))


def _flag(fld) -> str:
    return fld.metadata["flag"] or "--" + fld.name.replace("_", "-")


def test_every_setting_is_an_option_of_some_command():
    sections = {s for used in COMMAND_SECTIONS.values() for s in used} | {"general"}
    for key, fld, _ in settings():
        if fld.metadata["cli"]:
            assert (key.rpartition(".")[0] or "general") in sections, key


@pytest.mark.parametrize("command", list(COMMAND_HELP))
def test_each_command_lists_exactly_its_sections_options_with_their_defaults(
    command, capsys, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "400")  # no line breaks inside a help text
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    sections = {*COMMAND_SECTIONS[command], *(["general"] if command in TRACKED else [])}
    expected = {"--help", "--config", "--debug"}
    expected |= {"--port"} if command == "ui" else {"--tickers", "--ticker"}
    if command in TRACKED or command in REGISTRY_ONLY:
        expected.add("--tracking-uri")
    for key, fld, kind in settings():
        wanted = (key.rpartition(".")[0] or "general") in sections
        if not fld.metadata["cli"] or not wanted:
            continue
        flag = _flag(fld)
        expected |= {flag, f"--no-{flag[2:]}"} if kind is bool else {flag}
        shown = ",".join(map(str, fld.default)) if isinstance(fld.default, tuple) else fld.default
        assert f"{fld.metadata['help']} (default {shown})" in text, key
    assert set(re.findall(r"--[a-z][a-z-]*", text)) == expected


@pytest.mark.parametrize(
    ("argv", "refused"),
    [
        (["fetch", "--epochs", "3"], "--epochs 3"),  # a model setting
        (["all", "--folds", "2"], "--folds 2"),  # the backtest's
        (["all", "--holdout", "2"], "--holdout 2"),  # retrain's
        (["all", "--trials", "2"], "--trials 2"),  # the sweep's
    ],
)
def test_an_option_the_command_does_not_use_is_refused_naming_its_help(argv, refused, capsys):
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"unrecognized arguments: {refused}" in err
    assert f"`stockcast {argv[0]} --help` lists the options" in err


def test_options_reach_their_fields_typed():
    cfg = _cfg(
        "--window", "12", "--lr", "0.01", "--no-bidirectional", "--cell", "GRU",
        "--ridge-alphas", "1,10",
    )  # fmt: skip
    assert cfg.features.window == 12 and cfg.train.lr == 0.01
    assert cfg.model.bidirectional is False and cfg.model.cell == "GRU"
    assert cfg.baselines.ridge_alphas == (1.0, 10.0)
    parse = build_parser().parse_args
    assert config_from_args(parse(["retrain", "--holdout", "20"])).retrain.holdout == 20
    backtest = config_from_args(parse(["backtest", "--backtest-val-frac", "0.2"]))
    assert backtest.backtest.val_frac == 0.2
    assert backtest.features.val_frac == Config().features.val_frac  # not the backtest's


def test_options_not_given_keep_the_defaults():
    assert flatten(_cfg()) == flatten(Config())


def test_a_config_file_sets_values_and_options_override_it(tmp_path):
    path = tmp_path / "best.json"
    path.write_text(json.dumps({"model.hidden_size": 16, "train.lr": "0.005", "tickers": "MSFT"}))
    cfg = _cfg("--config", str(path), "--lr", "0.02")
    assert cfg.model.hidden_size == 16 and cfg.train.lr == 0.02 and cfg.tickers == ("MSFT",)


def test_flatten_round_trips_through_a_config_file(tmp_path):
    changed = _cfg("--window", "12", "--ridge-alphas", "3", "--source", "csv", "--data", "x.csv")
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(flatten(changed)))
    assert flatten(_cfg("--config", str(path))) == flatten(changed)


def test_a_config_file_with_an_unknown_setting_is_refused(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"model.hiden_size": 16}))
    assert main(["all", "--config", str(path)]) == 2
    assert "unknown setting(s) model.hiden_size" in capsys.readouterr().err


def test_a_config_file_with_a_bad_value_names_it(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"features.window": "ten"}))
    with pytest.raises(ConfigError, match=r"features.window: 'ten' is not a valid int"):
        _cfg("--config", str(path))


def test_tickers_from_a_file(tmp_path):
    path = tmp_path / "watchlist.txt"
    path.write_text("# my list\naapl, msft\nNVDA  # chips\n")
    assert _cfg("--tickers", f"@{path}").tickers == ("AAPL", "MSFT", "NVDA")
    with pytest.raises(ConfigError, match="cannot read"):
        _cfg("--tickers", f"@{tmp_path / 'nope.txt'}")


def test_retrain_reads_live_data_unless_a_config_file_or_an_option_says_otherwise(tmp_path):
    def retrain(*argv: str) -> Config:
        return config_from_args(build_parser().parse_args(["retrain", *argv]))

    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"data.source": "sample"}))
    assert retrain().data.source == "yfinance"
    assert retrain("--config", str(path)).data.source == "sample"  # the file wins
    assert retrain("--config", str(path), "--source", "csv", "--data", "x.csv").data.source == "csv"
    assert _cfg().data.source == "sample"  # other commands keep the config's default
