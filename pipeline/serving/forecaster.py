"""The deployable model: the network, its scalers and its interval calibration.

``Forecaster`` is plain Python, saved as ``weights.pt`` plus a JSON file (no
pickle) that also carries the config it was trained with and the conformal
multipliers of its intervals. ``pyfunc_entry.py`` wraps it as an MLflow pyfunc
model, so that ``mlflow.pyfunc.load_model`` and ``mlflow models serve`` take at
least ``window`` rows of Open, High, Low, Close and return the Close of each of the
next ``horizon`` sessions with its interval bounds and its date (``answer``).

A model saved before intervals existed has no scale head and no multipliers:
it loads and still gives point forecasts, with no interval columns.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from pipeline import storage
from pipeline.config import ModelConfig
from pipeline.core.bands import (
    Bands,
    ConformalMultipliers,
    aci_multipliers,
    conformal_bands,
    level_name,
)
from pipeline.core.features import (
    CLOSE,
    N_FEATURES,
    make_batch,
    scaler_from_state,
    scaler_state,
    to_price,
    window_view,
)
from pipeline.core.network import StockRNN
from pipeline.data.calendar import DEFAULT_CALENDAR, sessions_after
from pipeline.data.validate import PRICE_COLUMNS

WEIGHTS = "weights.pt"
SPEC = "forecaster.json"
OUTPUT_COLUMN = "predicted_close"
HORIZON_COLUMN = "horizon"  # sessions ahead: 1 is the next one
DATE_COLUMN = "target_date"  # the session forecast (NaT when the rows carry no dates)
DATE_INPUTS = ("Date", "date")  # an input column of dates, when the index holds none


def aci_param(level: float, horizon: int = 1) -> str:
    """A served model's parameter: ``aci_alpha_90`` for the next session, ``aci_alpha_90_h2``
    for the one after, and so on."""
    return f"aci_alpha_{level_name(level)}" + ("" if horizon == 1 else f"_h{horizon}")


def aci_params(levels: tuple[float, ...], horizons: int = 1) -> dict[str, float]:
    """The served model's parameters: online ACI's miss rate per level and horizon 1..``horizons``
    (``aci_param``), by default the calibrated ``1 - level`` (no adaptation)."""
    return {
        aci_param(level, h): round(1.0 - level, 12)
        for h in range(1, horizons + 1)
        for level in levels
    }


def bound_columns(levels: tuple[float, ...]) -> list[str]:
    """The interval columns of an answer: ``lower_90``, ``upper_90``, ... per level."""
    return [f"{side}_{level_name(level)}" for level in levels for side in ("lower", "upper")]


class Forecaster:
    """A trained StockRNN with its scalers and interval calibration, on the CPU."""

    def __init__(
        self,
        model: StockRNN,
        x_scaler,
        y_scaler,
        window: int,
        meta: dict | None = None,
        multipliers: ConformalMultipliers | None = None,
        residuals: np.ndarray | None = None,
        horizon_multipliers: tuple[ConformalMultipliers, ...] = (),
        horizon_residuals: tuple[np.ndarray, ...] = (),
    ):
        self.model = model.cpu().eval()
        self.x_scaler = x_scaler
        self.y_scaler = y_scaler
        self.window = window
        self.meta = meta or {}
        self.horizon = model.horizon  # trading days ahead: 1..horizon
        # Per horizon 1..H (index h - 1): the conformal multipliers (none: a point-only
        # model, saved before intervals) and the normalised validation residuals they came
        # from, online ACI's calibration state (none: a model saved before it; it cannot
        # adapt). ``multipliers`` and ``residuals`` alone give horizon 1's.
        if multipliers is not None and not horizon_multipliers:
            horizon_multipliers = (multipliers,)
        if residuals is not None and not horizon_residuals:
            horizon_residuals = (residuals,)
        self.horizon_multipliers = tuple(horizon_multipliers)
        self.horizon_residuals = tuple(np.asarray(r, dtype=float) for r in horizon_residuals)

    @property
    def multipliers(self) -> ConformalMultipliers | None:
        """Horizon 1's multipliers (None: a point-only model)."""
        return self.horizon_multipliers[0] if self.horizon_multipliers else None

    @property
    def residuals(self) -> np.ndarray | None:
        """Horizon 1's calibration residuals (None: the model cannot adapt online)."""
        return self.horizon_residuals[0] if self.horizon_residuals else None

    def adapted(self, alphas: Mapping[float, float], horizon: int = 1) -> ConformalMultipliers:
        """The ``horizon``-day multipliers with each level in ``alphas`` re-cut at ACI's miss
        rate (``core.bands.aci_alpha``); the other levels keep their calibrated ones."""
        if self.multipliers is None or self.residuals is None:
            raise ValueError("this model has no calibration residuals for online ACI; retrain it")
        self._check_horizon(horizon)
        if horizon > len(self.horizon_residuals):
            raise ValueError(f"this model has no calibration residuals for {horizon} days ahead")
        calibrated = self.horizon_multipliers[horizon - 1]
        residuals = self.horizon_residuals[horizon - 1]
        lower, upper = list(calibrated.lower), list(calibrated.upper)
        # ACI's miss rate may fall below what the residuals can cut (an infinite
        # interval in theory); a served interval stops at the widest calibrated one.
        floor = 2.0 / (len(residuals) + 1)
        for j, level in enumerate(calibrated.levels):
            if level in alphas:
                alpha = max(alphas[level], min(floor, 1.0 - level))
                lower[j], upper[j] = aci_multipliers(residuals, alpha)
        return ConformalMultipliers(calibrated.levels, tuple(lower), tuple(upper))

    def forecast(self, rows: pd.DataFrame, horizon: int = 1) -> np.ndarray:
        """The Close ``horizon`` trading days after every full window in ``rows`` (oldest first).

        Returns ``len(rows) - window + 1`` forecasts; the last one is for the
        ``horizon``-th trading day after the last row.
        """
        self._check_horizon(horizon)
        log_close, x = self._inputs(rows)
        with torch.no_grad():
            scaled = self.model(x)[:, horizon - 1].double().numpy()
        return to_price(log_close, scaled, self.y_scaler)

    def forecast_bands(
        self,
        rows: pd.DataFrame,
        multipliers: ConformalMultipliers | None = None,
        horizon: int = 1,
    ) -> Bands:
        """The Close ``horizon`` days on and its calibrated interval bounds after every full
        window in ``rows``.

        The median is exactly ``forecast(rows, horizon)``; ``multipliers`` (``adapted``)
        replace the calibrated ones; ValueError for a point-only model.
        """
        if self.multipliers is None:
            raise ValueError("this model was saved before forecast intervals; retrain it")
        self._check_horizon(horizon)
        return self._bands(self.spread(rows), horizon, multipliers)

    def _bands(
        self,
        spread: tuple[np.ndarray, np.ndarray, np.ndarray],
        horizon: int,
        multipliers: ConformalMultipliers | None = None,
    ) -> Bands:
        """``forecast_bands`` from ``spread``'s output, so several horizons share one pass."""
        log_close, centre, scale = spread
        c, s = centre[:, horizon - 1], scale[:, horizon - 1]
        return conformal_bands(
            log_close,
            c,
            s,
            multipliers or self.horizon_multipliers[horizon - 1],
            median=np.exp(log_close + c),  # forecast(rows, horizon)'s, to the last digit
        )

    def spread(self, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Today's log Close, and the centre and the scale of the log return over 1..H days
        per full window ((windows, horizon) each)."""
        log_close, x = self._inputs(rows)
        with torch.no_grad():
            scaled = self.model(x).double().numpy()
            log_scale = self.model.log_scale(x).double().numpy()
        unit = float(self.y_scaler.scale_[0])
        return log_close, scaled * unit, np.exp(log_scale) * unit

    def _check_horizon(self, horizon: int) -> None:
        if not 1 <= horizon <= self.horizon:
            raise ValueError(f"this model forecasts 1 to {self.horizon} days ahead, not {horizon}")
        if self.multipliers is not None and horizon > len(self.horizon_multipliers):
            raise ValueError(f"this model has no interval calibration for {horizon} days ahead")

    def with_calibration(
        self,
        horizon_multipliers: tuple[ConformalMultipliers, ...],
        horizon_residuals: tuple[np.ndarray, ...] = (),
    ) -> Forecaster:
        """The same network and scalers with every horizon's multipliers replaced (and the
        residuals they came from, for online ACI; none: it cannot adapt)."""
        residuals = horizon_residuals[0] if horizon_residuals else None
        return Forecaster(
            self.model, self.x_scaler, self.y_scaler, self.window, self.meta,
            horizon_multipliers[0], residuals, horizon_multipliers, horizon_residuals,
        )  # fmt: skip

    def with_multipliers(
        self, multipliers: ConformalMultipliers, residuals: np.ndarray | None = None
    ) -> Forecaster:
        """The same network and scalers with other interval multipliers (and the residuals
        they came from, for online ACI; None: it cannot adapt)."""
        return Forecaster(
            self.model, self.x_scaler, self.y_scaler, self.window, self.meta, multipliers,
            residuals, (multipliers, *self.horizon_multipliers[1:]),
            (() if residuals is None else (residuals, *self.horizon_residuals[1:])),
        )  # fmt: skip

    @property
    def calendar(self) -> str:
        """The exchange calendar of the model's trading days (its config's ``data.calendar``)."""
        return self.meta.get("config", {}).get("data.calendar") or DEFAULT_CALENDAR

    def target_dates(self, rows: pd.DataFrame) -> list[pd.Timestamp | None]:
        """The sessions 1..H after the last row's date (``calendar``), or H Nones when the
        rows carry no dates (neither a DatetimeIndex nor a ``Date``/``date`` column)."""
        last = _last_date(rows)
        if last is None:
            return [None] * self.horizon
        return sessions_after(last, self.horizon, self.calendar)

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
        last = rows.iloc[-self.window :]
        horizons = range(1, self.horizon + 1)
        frame = pd.DataFrame(
            {
                HORIZON_COLUMN: np.arange(1, self.horizon + 1, dtype=np.int64),
                DATE_COLUMN: pd.to_datetime(pd.Series(self.target_dates(rows), dtype=object)),
            }
        )
        spread = self.spread(last)  # one pass of the network for every horizon
        if self.multipliers is None:
            log_close, centre, _ = spread
            frame[OUTPUT_COLUMN] = [
                float(np.exp(log_close[-1] + centre[-1, h - 1])) for h in horizons
            ]
            return frame
        by_horizon = _alphas_by_horizon(aci_alphas)
        values = []
        for h in horizons:
            self._check_horizon(h)
            alphas = by_horizon.get(h)
            bands = self._bands(spread, h, self.adapted(alphas, h) if alphas else None)
            row = [float(bands.median[-1])]
            for j in range(len(bands.levels)):
                row += [float(bands.lower[-1, j]), float(bands.upper[-1, j])]
            values.append(row)
        columns = [OUTPUT_COLUMN, *bound_columns(self.multipliers.levels)]
        return pd.concat([frame, pd.DataFrame(values, columns=columns)], axis=1)

    def adaptable_horizons(self) -> int:
        """How many horizons (1..n) online ACI can re-cut: those whose residuals the model
        carries (0 for a model saved before them)."""
        if self.multipliers is None or self.residuals is None:
            return 0
        return min(self.horizon, len(self.horizon_residuals))

    def alphas_from_params(
        self, params: Mapping[str, object] | None
    ) -> dict[int, dict[float, float]]:
        """``aci_params``' values given to the served model, as ``answer``'s ``aci_alphas``
        by horizon (``aci_alpha_90`` for horizon 1, ``aci_alpha_90_h2`` for 2, ...)."""
        if not params:
            return {}
        found: dict[int, dict[float, float]] = {}
        for h in range(1, self.adaptable_horizons() + 1):
            for level in self.multipliers.levels:
                value = params.get(aci_param(level, h))
                if value is not None:
                    found.setdefault(h, {})[level] = float(value)
        return found

    def _inputs(self, rows: pd.DataFrame) -> tuple[np.ndarray, torch.Tensor]:
        """Today's log Close and the scaled window ending on each full-window day of ``rows``."""
        log_prices = np.log(_ohlc(rows, self.window))
        ends = np.arange(self.window - 1, len(log_prices))
        x = make_batch(
            window_view(log_prices, self.window),
            log_prices[:, CLOSE],
            ends,
            self.window,
            self.x_scaler.mean_,
            self.x_scaler.scale_,
        )
        return log_prices[ends, CLOSE], torch.from_numpy(x.astype(np.float32))

    def save(self, folder: Path) -> None:
        """Write ``weights.pt`` and ``forecaster.json`` into ``folder`` (atomically each)."""
        folder.mkdir(parents=True, exist_ok=True)
        with storage.atomic_path(folder / WEIGHTS) as tmp:
            torch.save(self.model.state_dict(), tmp)
        spec = {
            "model": dataclasses.asdict(self.model.cfg),
            "window": self.window,
            "horizon": self.horizon,
            "x_scaler": scaler_state(self.x_scaler),
            "y_scaler": scaler_state(self.y_scaler),
            "meta": self.meta,
        }
        if self.multipliers is not None:
            spec["intervals"] = {
                **dataclasses.asdict(self.multipliers),
                "scale_trunk": "finetune" if self.model.scale_rnn is not None else "frozen",
            }
            if self.residuals is not None:
                spec["intervals"]["residuals"] = self.residuals.tolist()
            # Days 2..H (day 1 is the block above, as a model of one horizon saves it).
            later = []
            for h in range(1, len(self.horizon_multipliers)):
                m = self.horizon_multipliers[h]
                block = {"lower": list(m.lower), "upper": list(m.upper)}
                if h < len(self.horizon_residuals):
                    block["residuals"] = self.horizon_residuals[h].tolist()
                later.append(block)
            spec["intervals"]["later_horizons"] = later
        storage.write_text(folder / SPEC, json.dumps(spec, indent=2))

    @classmethod
    def load(cls, folder: Path) -> Forecaster:
        """Rebuild a Forecaster saved by ``save`` (weights loaded with weights_only=True)."""
        spec = json.loads((folder / SPEC).read_text())
        model = StockRNN(ModelConfig(**spec["model"]), N_FEATURES, spec.get("horizon", 1))
        intervals = spec.get("intervals")
        if intervals and intervals["scale_trunk"] == "finetune":
            model.own_scale_trunk()
        state = torch.load(folder / WEIGHTS, map_location="cpu", weights_only=True)
        # A model saved before intervals lacks only the scale head, which stays unused;
        # one saved before the range start lacks only its (off) buffers.
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("scale_base_")]
        if unexpected or (missing and (intervals or any("scale_" not in k for k in missing))):
            raise ValueError(f"{folder / WEIGHTS} does not match its {SPEC}")
        multipliers, later, later_residuals = None, [], []
        if intervals:
            levels = tuple(intervals["levels"])
            multipliers = ConformalMultipliers(
                levels, tuple(intervals["lower"]), tuple(intervals["upper"])
            )
            for h in intervals.get("later_horizons", []):
                later.append(ConformalMultipliers(levels, tuple(h["lower"]), tuple(h["upper"])))
                if "residuals" in h:
                    later_residuals.append(np.asarray(h["residuals"], dtype=float))
        residuals = (intervals or {}).get("residuals")
        return cls(
            model,
            scaler_from_state(spec["x_scaler"]),
            scaler_from_state(spec["y_scaler"]),
            spec["window"],
            spec.get("meta", {}),
            multipliers,
            residuals,
            (multipliers, *later) if multipliers is not None else (),
            (residuals, *later_residuals) if residuals is not None and later_residuals else (),
        )


def _alphas_by_horizon(
    aci_alphas: Mapping[float, float] | Mapping[int, Mapping[float, float]] | None,
) -> dict[int, Mapping[float, float]]:
    """``answer``'s rates by horizon: a flat ``{level: rate}`` is the next session's."""
    if not aci_alphas:
        return {}
    if all(isinstance(v, Mapping) for v in aci_alphas.values()):
        return {int(h): alphas for h, alphas in aci_alphas.items()}
    return {1: aci_alphas}


def _last_date(rows: pd.DataFrame) -> pd.Timestamp | None:
    """The date of the last row: from a DatetimeIndex or a ``Date``/``date`` column."""
    if isinstance(rows, pd.DataFrame) and len(rows):
        if isinstance(rows.index, pd.DatetimeIndex):
            return rows.index[-1]
        for column in DATE_INPUTS:
            if column in rows.columns and pd.notna(rows[column].iloc[-1]):
                return pd.Timestamp(rows[column].iloc[-1])
    return None


def _ohlc(rows: pd.DataFrame, window: int) -> np.ndarray:
    if not isinstance(rows, pd.DataFrame):
        raise ValueError("expected a table with columns Open, High, Low, Close")
    by_lower = {str(c).lower(): c for c in rows.columns}
    missing = [c for c in PRICE_COLUMNS if c.lower() not in by_lower]
    if missing:
        raise ValueError(f"missing column(s) {', '.join(missing)}; need Open, High, Low, Close")
    if len(rows) < window:
        raise ValueError(f"need at least {window} rows of prices, got {len(rows)}")
    values = rows[[by_lower[c.lower()] for c in PRICE_COLUMNS]].to_numpy(dtype=np.float64)
    if not (np.isfinite(values).all() and (values > 0).all()):
        raise ValueError("prices must be positive, finite numbers")
    return values
