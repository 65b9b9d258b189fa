"""The served answer: one row per horizon with its session, its Close and its interval bounds.

The table the pyfunc model returns (``Forecaster.answer``), its column names,
the served model's parameters (online ACI's miss rates, ``aci_alpha_90``,
``aci_alpha_90_h2``, ...) and the target sessions on the model's calendar.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from pipeline.core.bands import Bands, ConformalMultipliers, conformal_bands, level_name
from pipeline.core.calibration import Calibration
from pipeline.data.calendar import sessions_after

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


def alphas_from_params(
    params: Mapping[str, object] | None, levels: tuple[float, ...], horizons: int
) -> dict[int, dict[float, float]]:
    """``aci_params``' values given to the served model for horizons 1..``horizons``, as
    online ACI's miss rates ``{horizon: {level: rate}}``."""
    if not params:
        return {}
    found: dict[int, dict[float, float]] = {}
    for h in range(1, horizons + 1):
        for level in levels:
            value = params.get(aci_param(level, h))
            if value is not None:
                found.setdefault(h, {})[level] = float(value)
    return found


def alphas_by_horizon(
    aci_alphas: Mapping[float, float] | Mapping[int, Mapping[float, float]] | None,
) -> dict[int, Mapping[float, float]]:
    """The answer's rates by horizon: a flat ``{level: rate}`` is the next session's."""
    if not aci_alphas:
        return {}
    if all(isinstance(v, Mapping) for v in aci_alphas.values()):
        return {int(h): alphas for h, alphas in aci_alphas.items()}
    return {1: aci_alphas}


def bound_columns(levels: tuple[float, ...]) -> list[str]:
    """The interval columns of an answer: ``lower_90``, ``upper_90``, ... per level."""
    return [f"{side}_{level_name(level)}" for level in levels for side in ("lower", "upper")]


def target_dates(rows: pd.DataFrame, horizon: int, calendar: str) -> list[pd.Timestamp | None]:
    """The sessions 1..``horizon`` after the last row's date on ``calendar``, or Nones when the
    rows carry no dates (neither a DatetimeIndex nor a ``Date``/``date`` column)."""
    last = _last_date(rows)
    if last is None:
        return [None] * horizon
    return sessions_after(last, horizon, calendar)


def answer_table(
    spread: tuple[np.ndarray, np.ndarray, np.ndarray],
    calibration: Calibration | None,
    dates: list[pd.Timestamp | None],
) -> pd.DataFrame:
    """The answer for the last window of ``spread`` (``ScaledRNN.spread``): per horizon
    1..H (one per date), ``horizon``, ``target_date``, ``predicted_close`` and each
    level's bounds at ``calibration.at(h)`` (online ACI's, where it has rates); no
    bounds without a calibration (a point-only model)."""
    horizons = range(1, len(dates) + 1)
    frame = pd.DataFrame(
        {
            HORIZON_COLUMN: np.arange(1, len(dates) + 1, dtype=np.int64),
            DATE_COLUMN: pd.to_datetime(pd.Series(dates, dtype=object)),
        }
    )
    if calibration is None:
        log_close, centre, _ = spread
        frame[OUTPUT_COLUMN] = [float(np.exp(log_close[-1] + centre[-1, h - 1])) for h in horizons]
        return frame
    values = []
    for h in horizons:
        bands = horizon_bands(spread, h, calibration.at(h))
        row = [float(bands.median[-1])]
        for j in range(len(bands.levels)):
            row += [float(bands.lower[-1, j]), float(bands.upper[-1, j])]
        values.append(row)
    columns = [OUTPUT_COLUMN, *bound_columns(calibration.levels)]
    return pd.concat([frame, pd.DataFrame(values, columns=columns)], axis=1)


def horizon_bands(
    spread: tuple[np.ndarray, np.ndarray, np.ndarray],
    horizon: int,
    multipliers: ConformalMultipliers,
) -> Bands:
    """The bands ``horizon`` days on of every window of ``spread`` (``ScaledRNN.spread``)."""
    log_close, centre, scale = spread
    c, s = centre[:, horizon - 1], scale[:, horizon - 1]
    # The median is the point forecast's (``ScaledRNN.forecast``), to the last digit.
    return conformal_bands(log_close, c, s, multipliers, median=np.exp(log_close + c))


def _last_date(rows: pd.DataFrame) -> pd.Timestamp | None:
    """The date of the last row: from a DatetimeIndex or a ``Date``/``date`` column."""
    if isinstance(rows, pd.DataFrame) and len(rows):
        if isinstance(rows.index, pd.DatetimeIndex):
            return rows.index[-1]
        for column in DATE_INPUTS:
            if column in rows.columns and pd.notna(rows[column].iloc[-1]):
                return pd.Timestamp(rows[column].iloc[-1])
    return None
