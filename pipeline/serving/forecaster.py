"""The deployable model: the network, its scalers and a calibration per series.

A ``Forecaster`` is a ``ScaledRNN`` (``inference.py``: rows in, centre and
scale out) with interval calibrations (``core.calibration.Calibration``): a
default one, fitted with it, and, for a model of several tickers, each ticker's
own. It answers as the served model does (``answer.py``) and is saved as
``weights.pt`` plus a JSON file, no pickle (``saved.py``). ``pyfunc_entry.py``
wraps it as an MLflow pyfunc model, so that ``mlflow.pyfunc.load_model`` and
``mlflow models serve`` take at least ``window`` rows of Open, High, Low, Close
and return the Close of each of the next ``horizon`` sessions with its interval
bounds and its date.

A model saved before intervals has no calibration: it loads and still gives
point forecasts, with no interval columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from pipeline.core.bands import Bands, ConformalMultipliers
from pipeline.core.calibration import Calibration, check_calibration_days, normalised_residuals
from pipeline.core.network import StockRNN
from pipeline.data.calendar import DEFAULT_CALENDAR
from pipeline.data.validate import PRICE_COLUMNS
from pipeline.serving import saved
from pipeline.serving.answer import (
    HORIZON_COLUMN,
    OUTPUT_COLUMN,
    aci_params,
    alphas_by_horizon,
    alphas_from_params,
    answer_table,
    horizon_bands,
    target_dates,
)
from pipeline.serving.inference import ScaledRNN
from pipeline.serving.saved import SPEC, WEIGHTS

# What callers import from here (the answer's columns and parameters, the saved files).
__all__ = [
    "HORIZON_COLUMN",
    "OUTPUT_COLUMN",
    "RECENT_DAYS",
    "SPEC",
    "WEIGHTS",
    "Forecaster",
    "aci_params",
]

RECENT_DAYS = 250  # a new ticker's sessions (about a year) that calibrate its interval


class Forecaster(ScaledRNN):
    """A trained StockRNN with its scalers and interval calibrations, on the CPU."""

    def __init__(
        self,
        model: StockRNN,
        x_scaler,
        y_scaler,
        window: int,
        meta: dict | None = None,
        calibration: Calibration | None = None,
        calibrations: Mapping[str, Calibration] | None = None,
    ):
        super().__init__(model, x_scaler, y_scaler, window)
        self.meta = meta or {}
        # The calibration it was fitted with, used for any series without its own (None: a
        # point-only model, saved before intervals), and each ticker's own.
        self.calibration = calibration
        self.calibrations = dict(calibrations or {})

    @property
    def multipliers(self) -> ConformalMultipliers | None:
        """Horizon 1's multipliers (None: a point-only model)."""
        return self.calibration.multipliers[0] if self.calibration else None

    def forecast_bands(self, rows: pd.DataFrame, horizon: int = 1) -> Bands:
        """The Close ``horizon`` days on and its calibrated interval bounds after every full
        window in ``rows``.

        The median is exactly ``forecast(rows, horizon)``; ValueError for a point-only model.
        """
        if self.calibration is None:
            raise ValueError("this model was saved before forecast intervals; retrain it")
        self._check_horizon(horizon)
        return horizon_bands(self.spread(rows), horizon, self.calibration.multipliers[horizon - 1])

    def answer(
        self,
        rows: pd.DataFrame,
        aci_alphas: Mapping[float, float] | Mapping[int, Mapping[float, float]] | None = None,
    ) -> pd.DataFrame:
        """One row per horizon 1..H after the last row: ``horizon``, ``target_date``,
        ``predicted_close`` and each level's ``lower_<p>``/``upper_<p>``.

        ``target_date`` is the ``horizon``-th session after the last row's date on the
        model's exchange calendar (``calendar``), when the rows carry dates (a
        DatetimeIndex, or a ``Date``/``date`` column); without dates it is NaT.

        ``aci_alphas`` (level -> miss rate, from the outcomes since calibration) adapt
        those levels' next-session bounds online; ``{horizon: {level: rate}}`` adapts
        each horizon's own. Horizons and levels without a rate keep their calibrated
        bounds. A point-only model (saved before intervals) gives ``predicted_close`` only.
        """
        dates = self.target_dates(rows)
        spread = self.spread(rows.iloc[-self.window :])  # one pass for every horizon
        calibration = self.calibration
        if calibration is not None:
            self._check_horizon(self.horizon)  # calibrated at every horizon
            calibration = calibration.with_alphas(alphas_by_horizon(aci_alphas))
        return answer_table(spread, calibration, dates)

    def adaptable_horizons(self) -> int:
        """How many horizons (1..n) online ACI can re-cut: those whose residuals the model
        carries (0 for a model saved before them)."""
        if self.calibration is None:
            return 0
        return min(self.horizon, self.calibration.adaptable)

    def alphas_from_params(
        self, params: Mapping[str, object] | None
    ) -> dict[int, dict[float, float]]:
        """``aci_params``' values given to the served model, as ``answer``'s ``aci_alphas``
        by horizon (``aci_alpha_90`` for horizon 1, ``aci_alpha_90_h2`` for 2, ...)."""
        horizons = self.adaptable_horizons()
        if not horizons:
            return {}
        return alphas_from_params(params, self.calibration.levels, horizons)

    @property
    def calendar(self) -> str:
        """The exchange calendar of the model's trading days (its config's ``data.calendar``)."""
        return self.meta.get("config", {}).get("data.calendar") or DEFAULT_CALENDAR

    def target_dates(self, rows: pd.DataFrame) -> list[pd.Timestamp | None]:
        """The sessions 1..H after the last row's date (``calendar``), or H Nones when the
        rows carry no dates (neither a DatetimeIndex nor a ``Date``/``date`` column)."""
        return target_dates(rows, self.horizon, self.calendar)

    def with_calibration(self, calibration: Calibration) -> Forecaster:
        """The same model with ``calibration`` as its default."""
        return self._with(calibration, self.calibrations)

    def with_calibrations(self, calibrations: Mapping[str, Calibration]) -> Forecaster:
        """The same model with ``calibrations`` as the tickers' own."""
        return self._with(self.calibration, calibrations)

    def _with(
        self, calibration: Calibration | None, calibrations: Mapping[str, Calibration]
    ) -> Forecaster:
        return Forecaster(
            self.model, self.x_scaler, self.y_scaler, self.window, self.meta, calibration,
            calibrations,
        )  # fmt: skip

    def for_ticker(self, ticker: str) -> Forecaster:
        """This model answering with ``ticker``'s own calibration (KeyError if it has none)."""
        return self.with_calibration(self.calibrations[ticker])

    def recalibrated(self, prices: pd.DataFrame, days: int = RECENT_DAYS) -> tuple[Forecaster, int]:
        """This model calibrated on a series' last ``days`` sessions; how many it used.

        The residuals at horizon h are those of each of those sessions' Close
        against the forecast made h sessions before, in units of the forecast's
        scale; every horizon is calibrated on its own (DataError if too few).
        """
        levels = self.calibration.levels
        rows = prices[list(PRICE_COLUMNS)].iloc[-(days + self.window) :]
        log_close, centre, scale = self.spread(rows)
        check_calibration_days(len(log_close) - self.horizon, levels)
        residuals = tuple(
            normalised_residuals(
                log_close[h:] - log_close[:-h], centre[:-h, h - 1], scale[:-h, h - 1]
            )
            for h in range(1, self.horizon + 1)
        )
        calibration = Calibration.from_residuals(residuals, levels)
        return self.with_calibration(calibration), len(log_close) - 1

    def calibrated_for(
        self, ticker: str, prices: pd.DataFrame, days: int = RECENT_DAYS
    ) -> tuple[Forecaster, int | None]:
        """This model calibrated for ``ticker``: with its own calibration when it has one
        (and None), else on its last ``days`` sessions of ``prices`` (and how many it used)."""
        if ticker in self.calibrations:
            return self.for_ticker(ticker), None
        return self.recalibrated(prices, days)

    def _check_horizon(self, horizon: int) -> None:
        super()._check_horizon(horizon)
        if self.calibration is not None and horizon > self.calibration.horizons:
            raise ValueError(f"this model has no interval calibration for {horizon} days ahead")

    def save(self, folder: Path) -> None:
        """Write ``weights.pt`` and ``forecaster.json`` into ``folder`` (``saved.save``)."""
        saved.save(folder, self, self.meta, self.calibration, self.calibrations)

    @classmethod
    def load(cls, folder: Path) -> Forecaster:
        """Rebuild a Forecaster saved by ``save``, or by an older version (``saved.load``)."""
        got = saved.load(folder)
        net = got.network
        return cls(
            net.model, net.x_scaler, net.y_scaler, net.window, got.meta, got.calibration,
            got.calibrations,
        )  # fmt: skip
