import pandas as pd
import pytest

from pipeline.evaluation.summary import SAME, Scores, summary_heading, summary_table

POINT = ["rmse", "mae", "mape", "direction_acc", "theil_u"]


def _point(rmse: dict[str, float], persistence: float) -> pd.DataFrame:
    rows = {m: [r, 0.0, 0.0, 0.5, r / persistence] for m, r in rmse.items()}
    return pd.DataFrame.from_dict(rows, orient="index", columns=POINT)


def _intervals(score: dict[str, float], pvalue: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "coverage_90": [0.9] * len(score),
            "interval_score_90": list(score.values()),
            "dm_pvalue_90": [pvalue.get(m, float("nan")) for m in score],
        },
        index=list(score),
    )


def test_each_ticker_s_rnn_meets_its_best_baselines_with_the_dm_p_value_of_that_pair():
    aapl = Scores(
        _point({"rnn": 1.2094, "persistence": 1.2098, "drift": 1.2101}, 1.2098),
        _intervals({"rnn": 5.1, "hist": 6.4, "ewma": 5.3}, {"hist": 0.0, "ewma": 0.0365}),
    )
    msft = Scores(
        _point({"rnn": 0.3278, "persistence": 0.3279, "ridge": 0.3277}, 0.3279),
        _intervals({"rnn": 1.42, "rnn_aci": 1.40, "garch": 1.45}, {"garch": 0.1458}),
        identical=True,
    )
    table = summary_table({"AAPL": aapl, "MSFT": msft})
    assert list(table.index) == ["AAPL", "MSFT"]
    assert table.loc["AAPL", "baseline"] == "persistence"
    assert table.loc["AAPL", "baseline_theil_u"] == 1.0
    assert table.loc["AAPL", "rnn_theil_u"] == pytest.approx(1.2094 / 1.2098)
    assert table.loc["MSFT", "baseline"] == "ridge"  # lowest RMSE, persistence or not
    # The best interval *baseline*: the RNN's own ACI variant is not one.
    assert table.loc["MSFT", "interval_baseline"] == "garch"
    assert table.loc["AAPL", "interval_baseline"] == "ewma"
    assert table.loc["AAPL", "dm_pvalue_90"] == 0.0365
    assert table.loc["AAPL", "rnn_coverage_90"] == 0.9
    assert list(table["note"]) == ["", SAME]
    assert "dm_pvalue" not in table  # the test days' point table has no DM test
    heading = summary_heading(table, "the test days")
    assert heading.startswith("summary, 2 tickers on the test days")
    assert "90% interval" in heading and "dm_pvalue_90" in heading


def test_without_intervals_or_identical_tickers_the_table_has_no_such_columns():
    point = _point({"rnn": 1.0, "persistence": 1.1}, 1.1)
    point["dm_pvalue"] = [float("nan"), 0.2]  # a backtest's pooled table
    table = summary_table({"ACME": Scores(point)})
    assert list(table.columns) == ["rnn_theil_u", "baseline", "baseline_theil_u", "dm_pvalue"]
    assert table.loc["ACME", "dm_pvalue"] == 0.2
    assert "squared errors" in summary_heading(table, "pooled folds")
