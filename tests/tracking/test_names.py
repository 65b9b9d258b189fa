from pipeline.tracking.names import metric_key, summary_key


def test_metric_keys_keep_their_first_release_names():
    assert metric_key("rnn", "test", "rmse") == "test_rmse"
    assert metric_key("ewma", "test", "interval_score_90") == "ewma_test_interval_score_90"
    assert metric_key("ewma", "backtest", "pinball") == "backtest_ewma_pinball"


def test_a_summary_key_names_the_ticker_in_characters_mlflow_accepts():
    assert summary_key("AAPL", "rnn_theil_u") == "AAPL_rnn_theil_u"
    assert summary_key("BRK.B", "dm_pvalue_90") == "BRK.B_dm_pvalue_90"
    assert summary_key("^GSPC", "rnn_theil_u") == "_GSPC_rnn_theil_u"
    assert summary_key("EURUSD=X", "baseline_theil_u") == "EURUSD_X_baseline_theil_u"
