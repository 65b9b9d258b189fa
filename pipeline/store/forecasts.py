"""Reading and writing the store: issued forecasts, their bounds, realised Closes.

Each write is one transaction: a night's forecasts land whole or not at all,
and writing the same (ticker, model, as-of session, horizon) again replaces the
row and its bounds (an upsert), so a night run twice never duplicates. The key
names the registered model, so a ticker's own model's nights and the global
model's lie side by side. The reads take a ``model_name`` to see one model's
forecasts only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa

from pipeline.store.db import open_engine
from pipeline.store.schema import forecast_bounds, forecasts, realised


@dataclass(frozen=True)
class Forecast:
    """One issued forecast: a median and a central interval per level, in price units."""

    ticker: str
    as_of: dt.date  # the last session whose Close the forecast saw
    target: dt.date  # the session it forecasts
    model_name: str
    model_version: str
    median: float
    last_close: float  # the Close on as_of
    bounds: dict[float, tuple[float, float]]  # level -> (lower, upper)
    horizon: int = 1
    aci_alphas: dict[float, float] = field(default_factory=dict)  # level -> ACI's miss rate
    issued_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))

    def row(self) -> dict[str, object]:
        return {
            "ticker": self.ticker,
            "as_of": self.as_of,
            "horizon": self.horizon,
            "target": self.target,
            "model_name": self.model_name,
            "model_version": str(self.model_version),
            "median": float(self.median),
            "last_close": float(self.last_close),
            "issued_at": self.issued_at,
        }


class ForecastStore:
    """The store at one URL, opened (and migrated) once."""

    def __init__(self, url: str):
        self.url = url
        self.engine = open_engine(url)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> ForecastStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writes

    def save_forecasts(self, issued: Sequence[Forecast]) -> None:
        """Store forecasts in one transaction; a forecast already stored for the same
        ticker, model, as-of session and horizon is replaced, bounds and all."""
        if not issued:
            return
        with self.engine.begin() as conn:
            for forecast in issued:
                key = {
                    "ticker": forecast.ticker,
                    "model_name": forecast.model_name,
                    "as_of": forecast.as_of,
                    "horizon": forecast.horizon,
                }
                _upsert(conn, forecasts, [forecast.row()], list(key))
                levels = [float(level) for level in forecast.bounds]
                conn.execute(
                    forecast_bounds.delete().where(
                        *(forecast_bounds.c[k] == v for k, v in key.items()),
                        forecast_bounds.c.level.not_in(levels),
                    )
                )
                rows = [
                    {**key, "level": float(level), "lower": float(lo), "upper": float(hi),
                     "aci_alpha": forecast.aci_alphas.get(level)}
                    for level, (lo, hi) in forecast.bounds.items()
                ]  # fmt: skip
                _upsert(conn, forecast_bounds, rows, [*key, "level"])

    def save_closes(self, ticker: str, closes: pd.Series) -> int:
        """Record realised Closes (indexed by session); a session seen again is replaced."""
        now = dt.datetime.now(dt.timezone.utc)
        rows = [
            {"ticker": ticker, "session": _date(day), "close": float(close), "recorded_at": now}
            for day, close in closes.items()
        ]
        if rows:
            with self.engine.begin() as conn:
                _upsert(conn, realised, rows, ["ticker", "session"])
        return len(rows)

    # ------------------------------------------------------------------ reads

    def forecasts(
        self,
        ticker: str,
        *,
        model_version: str | None = None,
        horizon: int | None = None,
        model_name: str | None = None,
    ) -> list[Forecast]:
        """Every stored forecast of ``ticker`` (of one model, if named), oldest as-of first."""
        where = [forecasts.c.ticker == ticker, *_of_model(model_name)]
        if model_version is not None:
            where.append(forecasts.c.model_version == str(model_version))
        if horizon is not None:
            where.append(forecasts.c.horizon == horizon)
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(forecasts).where(*where).order_by(forecasts.c.as_of, forecasts.c.horizon)
            ).all()
            bounds = conn.execute(
                sa.select(forecast_bounds).where(
                    forecast_bounds.c.ticker == ticker, *_of_model(model_name, forecast_bounds)
                )
            ).all()
        by_key: dict[tuple, dict[float, tuple[float, float]]] = {}
        alphas: dict[tuple, dict[float, float]] = {}
        for b in sorted(bounds, key=lambda b: b.level):
            key = (b.model_name, b.as_of, b.horizon)
            by_key.setdefault(key, {})[b.level] = (b.lower, b.upper)
            if b.aci_alpha is not None:
                alphas.setdefault(key, {})[b.level] = b.aci_alpha
        return [
            Forecast(
                **{**r._mapping, "issued_at": _utc(r.issued_at)},
                bounds=by_key.get((r.model_name, r.as_of, r.horizon), {}),
                aci_alphas=alphas.get((r.model_name, r.as_of, r.horizon), {}),
            )
            for r in rows
        ]

    def waiting_targets(self, ticker: str) -> pd.DatetimeIndex:
        """The target sessions of ``ticker``'s stored forecasts with no realised Close yet."""
        f, r = forecasts, realised
        query = (
            sa.select(f.c.target)
            .outerjoin(r, (r.c.ticker == f.c.ticker) & (r.c.session == f.c.target))
            .where(f.c.ticker == ticker, r.c.close.is_(None))
            .distinct()
        )
        with self.engine.connect() as conn:
            return pd.DatetimeIndex([pd.Timestamp(day) for day in conn.execute(query).scalars()])

    def levels(self, ticker: str, model_name: str | None = None) -> list[float]:
        """The interval levels stored for ``ticker`` (by one model, if named), ascending."""
        b, f = forecast_bounds, forecasts
        same = _same_forecast(f, b)
        with self.engine.connect() as conn:
            found = conn.execute(
                sa.select(b.c.level)
                .join(f, same)
                .where(b.c.ticker == ticker, *_of_model(model_name))
                .distinct()
                .order_by(b.c.level)
            ).scalars()
            return [float(level) for level in found]

    def horizons(self, ticker: str, model_name: str | None = None) -> list[int]:
        """The horizons (sessions ahead) of ``ticker``'s stored forecasts (by one model, if
        named), ascending."""
        with self.engine.connect() as conn:
            found = conn.execute(
                sa.select(forecasts.c.horizon)
                .where(forecasts.c.ticker == ticker, *_of_model(model_name))
                .distinct()
                .order_by(forecasts.c.horizon)
            ).scalars()
            return [int(h) for h in found]

    def closes(self, ticker: str) -> pd.Series:
        """The realised Closes recorded for ``ticker``, by session."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(realised.c.session, realised.c.close)
                .where(realised.c.ticker == ticker)
                .order_by(realised.c.session)
            ).all()
        index = pd.DatetimeIndex([pd.Timestamp(r.session) for r in rows], name="Date")
        return pd.Series([r.close for r in rows], index=index, name="Close", dtype=float)

    def outcomes(
        self, ticker: str, level: float, horizon: int = 1, model_name: str | None = None
    ) -> pd.DataFrame:
        """Forecasts of ``ticker`` at ``level`` (by one model, if named) joined to their
        realised Close, by target.

        One row per stored forecast, oldest first: ``as_of``, ``target``,
        ``model_version``, ``median``, ``last_close``, ``lower``, ``upper``,
        ``aci_alpha`` and ``close`` (NaN while the target's Close is unknown: not
        yet, or never, for a holiday, a halt or a delisting).
        """
        f, b, r = forecasts, forecast_bounds, realised
        shown = ("as_of", "target", "model_version", "median", "last_close")
        query = (
            sa.select(*(f.c[n] for n in shown), b.c.lower, b.c.upper, b.c.aci_alpha, r.c.close)
            .join(b, _same_forecast(f, b) & (b.c.level == float(level)))
            .outerjoin(r, (r.c.ticker == f.c.ticker) & (r.c.session == f.c.target))
            .where(f.c.ticker == ticker, f.c.horizon == horizon, *_of_model(model_name))
            .order_by(f.c.as_of)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        frame = pd.DataFrame(rows, columns=list(query.selected_columns.keys()))
        for column in ("as_of", "target"):
            frame[column] = pd.to_datetime(frame[column])
        return frame.astype({"close": float, "aci_alpha": float})


def _of_model(model_name: str | None, table: sa.Table = forecasts) -> list[sa.ColumnElement[bool]]:
    """The filter on the rows of one registered model (none: every model's)."""
    return [] if model_name is None else [table.c.model_name == model_name]


def _same_forecast(f: sa.Table, b: sa.Table) -> sa.ColumnElement[bool]:
    """A bound's row joined to its forecast's: the same key."""
    return sa.and_(*(f.c[k] == b.c[k] for k in ("ticker", "model_name", "as_of", "horizon")))


def _upsert(conn: sa.Connection, table: sa.Table, rows: list[dict], key: Iterable[str]) -> None:
    """INSERT ... ON CONFLICT (key) DO UPDATE: SQLite and PostgreSQL spell it alike."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - refused by the URL check in practice
        raise NotImplementedError(f"no upsert for {conn.dialect.name}")
    statement = insert(table).values(rows)
    key = list(key)
    update = {c.name: statement.excluded[c.name] for c in table.columns if c.name not in key}
    conn.execute(statement.on_conflict_do_update(index_elements=key, set_=update))


def _utc(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive times: they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _date(day: object) -> dt.date:
    return pd.Timestamp(day).date()
