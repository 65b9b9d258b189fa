"""What the retrain job logs: both models' holdout scores and the promotion decision."""

from __future__ import annotations

import mlflow


def log_retrain(scores: dict[str, dict[str, float]], decision, champion_before: str | None) -> None:
    """Record both models' holdout scores and the promotion decision."""
    metrics = {
        f"{who}_holdout_{metric}": value
        for who, row in scores.items()
        for metric, value in row.items()
    }
    mlflow.log_metrics(metrics)
    mlflow.set_tags(
        {
            "decision": "promote" if decision.promote else "keep",
            "decision_reason": decision.reason,
            "champion_before": champion_before or "none",
        }
    )


def log_holdout_scores(scores: dict[str, dict[str, float]]) -> None:
    """Record each model's holdout scores (a ticker's nested run of a global retrain)."""
    mlflow.log_metrics(
        {
            f"{who}_holdout_{metric}": value
            for who, row in scores.items()
            for metric, value in row.items()
        }
    )
