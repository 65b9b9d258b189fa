"""The ``sweep`` job: search hyper-parameters on the days before the test days; score the best.

1. The driver fetches every ticker's prices once, forms the groups
   (``--scope``) and checks that each ticker has enough history for its group's
   folds, before Ray starts.
2. Ray Tune runs the trials (``jobs/tune.py``; the objective is
   ``evaluation/objective.py``) on a local Ray or the cluster in
   ``RAY_ADDRESS``, each trial an MLflow run nested under one parent run
   (kind ``sweep``); the prices reach the trials as values.
3. The best complete trial's config becomes the parent's params, a JSON file
   that ``--config`` reads (``make all CONFIG=reports/sweep/best.json``), and
   the trials' table (an artifact of the parent and ``trials.csv`` beside it).
4. The test days are scored once, for the best config only: the ``all`` job
   per group, its runs children of the sweep's run.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from pipeline import storage
from pipeline.config import Config, flatten
from pipeline.data.sources import load_prices
from pipeline.errors import ConfigError, Interrupted, TrainingError
from pipeline.evaluation.objective import sweep_folds
from pipeline.evaluation.report import text_table
from pipeline.jobs import tune
from pipeline.jobs.all import run_all
from pipeline.runtime.common import Group, Summary, groups_of, tickers_label
from pipeline.runtime.driver import for_engine, run_groups, tickers_for
from pipeline.runtime.executors import RayExecutor
from pipeline.tracking import lifecycle, sweeps

log = logging.getLogger("stockcast")

COLUMNS = {  # searched setting -> its column in the trials' table
    "model.cell": "cell",
    "model.num_layers": "layers",
    "model.hidden_size": "hidden",
    "model.dropout": "dropout",
    "train.lr": "lr",
    "train.batch_size": "batch",
}
_ORDER = {"complete": 0, "stopped early": 1, "failed": 2}


def run_sweep(cfg: Config, experiment_id: str) -> int:
    """Run the sweep, save the best config, then score it on the test days; return the exit code."""
    check_sweep(cfg)
    tickers = tickers_for(cfg)
    prices = {ticker: load_prices(ticker, cfg.data, cfg.paths) for ticker in tickers}
    groups = {
        g.name: {t: prices[t] for t in g.tickers} for g in groups_of(tickers, cfg.cluster.scope)
    }
    sweep_folds(groups, cfg)  # too little history fails here, not in every trial
    # Trials always run on Ray, whatever --engine says (that is for the test days).
    trial_cfg, tracking_uri, _ = for_engine(  # trials register no model
        cfg.replace(cluster=dataclasses.replace(cfg.cluster, engine="ray"))
    )
    label = tickers_label(tickers)
    folder = cfg.paths.reports_dir / "sweep"
    tune_storage = cfg.sweep.storage or str((folder / "tune").absolute())
    out = cfg.sweep.out or folder / "best.json"
    if os.environ.get("RAY_ADDRESS") and cfg.sweep.storage is None:
        log.warning(
            "on a cluster, give --storage a folder every node shares or an s3:// URI; "
            "otherwise each trial's Tune folder stays on the node that ran it"
        )
    print(
        f"sweep: {cfg.sweep.trials} trials, {cfg.sweep.concurrency} at a time, "
        f"{cfg.sweep.folds} folds x {len(groups)} groups of {len(tickers)} tickers, up to "
        f"{cfg.train.epochs} epochs "
        f"each; Tune's results in {tune_storage}",
        flush=True,
    )
    sweep_id = None
    try:
        with RayExecutor(num_cpus_per_task=cfg.cluster.cpus_per_task):
            with sweeps.sweep_run(cfg, label, experiment_id=experiment_id) as parent:
                sweep_id = parent.info.run_id
                context = tune.TrialContext(experiment_id, tracking_uri, sweep_id, label)
                outcomes = tune.run_trials(
                    trial_cfg, groups, context, tune_storage, f"sweep-{sweep_id}"
                )
                ended = {o.trial_id: o.status for o in outcomes}
                run_ids = sweeps.settle_trials(experiment_id, sweep_id, ended)
                table = trials_table(outcomes, run_ids)
                best = best_outcome(outcomes)
                best_cfg = cfg.with_values(best.values)
                sweeps.log_sweep(best_cfg, label, best.objective, table)
                lifecycle.log_tags({"tune_path": f"{tune_storage}/sweep-{sweep_id}"})
            save_results(best_cfg, table, out, folder / "trials.csv")
            print(f"\nsweep {sweep_id}: trials, best first (objective: mean loss on the folds' "
                  "blocks / persistence's; over the folds done for trials stopped early)\n"
                  f"{text_table(table, 6, 'trial')}"
                  f"best config saved to {out}; train it with `make all CONFIG={out}`\n"
                  "\nthe best config on the test days (scored once):", flush=True)  # fmt: skip
            score = functools.partial(score_best, sweep_id=sweep_id)
            return run_groups(best_cfg, score, experiment_id, prices=prices)
    except (KeyboardInterrupt, Interrupted):
        # Ended here, once Ray has stopped: a trial stopped mid-run cannot end its own run,
        # and one that was still starting when the signal came has opened its run by now.
        if sweep_id is not None:
            lifecycle.end_runs(experiment_id, "KILLED", sweep_id=sweep_id)
        raise


def check_sweep(cfg: Config) -> None:
    """Refuse what only the sweep cannot do, before the store, the data or Ray are touched."""
    if cfg.train.epochs < 1:
        raise ConfigError("a sweep trains every trial: --epochs must be at least 1")


def trials_table(outcomes: list[tune.TrialOutcome], run_ids: dict[str, str]) -> pd.DataFrame:
    """One row per trial, best first: complete trials by objective, then the rest."""
    rows = []
    for o in outcomes:
        row = {"status": o.status, "epochs": o.iterations, "objective": o.objective}
        row |= {column: o.values.get(key) for key, column in COLUMNS.items()}
        rows.append({"trial": o.trial_id, **row, "run": run_ids.get(o.trial_id, "")})
    table = pd.DataFrame(rows).set_index("trial")
    table["objective"] = table["objective"].astype(float)
    table["rank"] = table["status"].map(_ORDER)
    return table.sort_values(["rank", "objective"], kind="stable").drop(columns="rank")


def best_outcome(outcomes: list[tune.TrialOutcome]) -> tune.TrialOutcome:
    """The complete trial with the lowest objective, or TrainingError when none completed."""
    complete = [o for o in outcomes if o.status == "complete" and o.objective is not None]
    if not complete:
        errors = "; ".join(sorted({o.error for o in outcomes if o.error})) or "none reported"
        raise TrainingError(f"sweep: no trial completed (errors: {errors}); see Tune's log")
    return min(complete, key=lambda o: o.objective)


def save_results(best: Config, table: pd.DataFrame, out: Path, trials_csv: Path) -> None:
    """The best config as a ``--config`` file, and the trials' table as CSV."""
    storage.write_text(out, json.dumps(flatten(best), indent=2) + "\n")
    storage.write_text(trials_csv, table.to_csv(float_format="%.6g", index_label="trial"))


def score_best(
    cfg: Config,
    group: Group,
    experiment_id: str,
    *,
    sweep_id: str,
    tags: Mapping[str, str] | None = None,
) -> list[Summary]:
    """The ``all`` job with the best config, its runs children of the sweep's (by tag)."""
    tags = {**(tags or {}), "mlflow.parentRunId": sweep_id, "sweep_id": sweep_id}
    return run_all(cfg, group, experiment_id, tags=tags)
