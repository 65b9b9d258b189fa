"""What the retrain job logs: both models' holdout scores and the promotion decision."""

from __future__ import annotations

import mlflow


def log_retrain(scores: dict[str, dict[str, float]], decision, champion_before: str | None) -> None:
    """Record both models' holdout scores (over the group's tickers) and the promotion
    decision; a score the run holds already (a ticker's own run, whose scores are its
    group's) is not logged twice."""
    active = mlflow.active_run()
    held = mlflow.MlflowClient().get_run(active.info.run_id).data.metrics if active else {}
    metrics = {
        f"{who}_holdout_{metric}": value
        for who, row in scores.items()
        for metric, value in row.items()
    }
    mlflow.log_metrics({k: v for k, v in metrics.items() if held.get(k) != v})
    mlflow.set_tags(
        {
            "decision": "promote" if decision.promote else "keep",
            "decision_reason": decision.reason,
            "champion_before": champion_before or "none",
        }
    )


def log_holdout_scores(scores: dict[str, dict[str, float]]) -> None:
    """Record each model's holdout scores on one ticker (in the ticker's run)."""
    mlflow.log_metrics(
        {
            f"{who}_holdout_{metric}": value
            for who, row in scores.items()
            for metric, value in row.items()
        }
    )
