"""Series to forecast, built from stored bars or from a CSV file of bars.

Everything starts as *base bars* (1-minute bars from the ``candles`` table, or from ``trades``
bucketed by minute, or the rows of a CSV file) which DuckDB gap-fills and aggregates to the
requested bar size with one SQL query (:data:`_AGGREGATE_SQL`), whatever the origin. From the
aggregated bars a :class:`TargetSeries` takes one target column:

* ``close``: the bar's last price.
* ``log_return``: ``ln(close_t / close_{t-1})``.
* ``realized_vol``: per-bar realized volatility, not annualized. When a bar holds two or more
  base bars it is ``sqrt(sum r_i^2)`` over the base-bar log returns inside it (the return into
  the bar's first base bar included); when the bar *is* the base bar (1-minute bars from 1-minute
  data, hourly bars from an hourly file) it is the Parkinson range estimator
  ``|ln(high/low)| / sqrt(4 ln 2)``.
* ``volume``: base-unit volume summed over the bar.
* ``funding`` and ``open_interest``: the last stored value in each bar, carried forward
  (store only).

Minutes without data are filled with the previous close and zero volume and counted
(``n_filled``). Only the ``candles`` table is read, never ``interpolated_candles``: a value a
data-quality job made up is not market data. A first or last bar that does not hold a full set
of base bars is dropped, so a still-forming bar never enters a forecast.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from flowdesk.forecasting.errors import ForecastError
from flowdesk.forecasting.targets import BAR_MINUTES, TARGETS, TargetInfo, check_target


def bar_minutes(bar: str) -> int:
    """Minutes in ``bar`` (``1m`` .. ``1d``) or :class:`ForecastError` listing the sizes."""
    try:
        return BAR_MINUTES[bar]
    except KeyError:
        raise ForecastError(f"unknown bar size {bar!r}; known: {list(BAR_MINUTES)}") from None


def season_length(bar: str) -> int:
    """Bars in one seasonal cycle: a day for intraday bars, a week for daily bars."""
    minutes = bar_minutes(bar)
    return 7 if minutes >= 1440 else 1440 // minutes


@dataclass(frozen=True)
class BarFrame:
    """Aggregated bars of one instrument. ``frame`` is indexed by bar open time (naive UTC)."""

    exchange: str
    market: str
    symbol: str
    bar: str
    frame: pd.DataFrame
    source: str
    notes: tuple[str, ...] = ()

    @property
    def as_of(self) -> datetime:
        """Close time of the last complete bar: the newest information the bars hold."""
        return (self.frame.index[-1] + timedelta(minutes=bar_minutes(self.bar))).to_pydatetime()


@dataclass(frozen=True)
class SeriesKey:
    exchange: str
    market: str
    symbol: str
    target: str
    bar: str


@dataclass(frozen=True)
class TargetSeries:
    """One target column of a :class:`BarFrame`, regular and without gaps, plus covariates."""

    exchange: str
    market: str
    symbol: str
    bar: str
    target: str
    index: pd.DatetimeIndex
    values: np.ndarray
    source: str
    covariates: dict[str, np.ndarray] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.values)

    @property
    def info(self) -> TargetInfo:
        return TARGETS[self.target]

    @property
    def key(self) -> SeriesKey:
        return SeriesKey(self.exchange, self.market, self.symbol, self.target, self.bar)

    @property
    def season(self) -> int:
        return season_length(self.bar)

    @property
    def as_of(self) -> datetime:
        return (self.index[-1] + timedelta(minutes=bar_minutes(self.bar))).to_pydatetime()

    def window(self, start: int, stop: int) -> TargetSeries:
        """Positions ``[start, stop)`` of the series and its covariates."""
        cov = {k: v[start:stop] for k, v in self.covariates.items()}
        return replace(self, index=self.index[start:stop], values=self.values[start:stop], covariates=cov)

    def tail(self, n: int) -> TargetSeries:
        return self.window(max(0, len(self) - n), len(self))


# -- aggregation, the one path for store and CSV -------------------------------------------------

_AGGREGATE_SQL = """
WITH base AS ({base}),
grid AS (
    SELECT unnest(generate_series((SELECT min(ts) FROM base), (SELECT max(ts) FROM base),
                                  INTERVAL '{base_min} minutes')) AS ts
),
filled AS (
    SELECT g.ts, b.open, b.high, b.low, b.close, coalesce(b.volume, 0) AS volume,
           b.close IS NULL AS filled,
           last_value(b.close IGNORE NULLS) OVER (
               ORDER BY g.ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS close_ff
    FROM grid g LEFT JOIN base b USING (ts)
),
px AS (
    SELECT ts, coalesce(open, close_ff) AS open, coalesce(high, close_ff) AS high,
           coalesce(low, close_ff) AS low, close_ff AS close, volume, filled,
           ln(close_ff / lag(close_ff) OVER (ORDER BY ts)) AS r
    FROM filled
)
SELECT time_bucket(INTERVAL '{bar_min} minutes', ts) AS ts,
       first(open ORDER BY ts) AS open, max(high) AS high, min(low) AS low,
       last(close ORDER BY ts) AS close, sum(volume) AS volume,
       sqrt(sum(r * r)) AS rv_sum, count(*) AS n_base,
       count(*) FILTER (WHERE filled) AS n_filled
FROM px GROUP BY 1 ORDER BY 1
"""


def aggregate_bars(
    con: duckdb.DuckDBPyConnection, base_sql: str, params: list[object], base_min: int, bar: str
) -> tuple[pd.DataFrame, list[str]]:
    """Gap-fill the base bars selected by ``base_sql`` (columns ``ts, open, high, low, close,
    volume``) and aggregate them to ``bar``; return the bars and notes on what was changed."""
    bar_min = bar_minutes(bar)
    if bar_min % base_min:
        raise ForecastError(f"bar {bar} is not a multiple of the data's {base_min}-minute bars")
    sql = _AGGREGATE_SQL.format(base=base_sql, base_min=base_min, bar_min=bar_min)
    df = con.execute(sql, params).df()
    if df.empty:
        raise ForecastError("no bars in the selected window")
    per_bar = bar_min // base_min
    complete = df["n_base"] == per_bar
    notes = []
    # only the ends can be partial: the grid is gap-filled in between
    if not complete.all():
        notes.append(f"dropped {int((~complete).sum())} partial bar(s) at the ends of the data")
    df = df[complete].set_index("ts")
    filled = int(df["n_filled"].sum())
    if filled:
        notes.append(f"{filled} of {per_bar * len(df)} base bars had no data and were filled with the previous close")
    df["log_return"] = np.log(df["close"] / df["close"].shift(1))
    if per_bar == 1:
        df["realized_vol"] = np.abs(np.log(df["high"] / df["low"])) / np.sqrt(4 * np.log(2))
        notes.append("realized_vol: Parkinson range estimator (one base bar per bar)")
    else:
        df["realized_vol"] = df["rv_sum"]
        notes.append(f"realized_vol: sqrt of summed squared {base_min}-minute log returns")
    return df.drop(columns=["rv_sum"]), notes


# -- the store ---------------------------------------------------------------------------------

_CANDLE_BASE = """
SELECT open_ts AS ts, open, high, low, close, volume FROM (
    SELECT *, row_number() OVER (PARTITION BY open_ts ORDER BY recv_ts DESC) AS rn FROM candles
    WHERE exchange = ? AND market = ? AND symbol = ? AND interval = '1m' AND closed AND open_ts >= ?
) WHERE rn = 1
"""
# the newest minute of trades may still be forming, so it is left out
_TRADE_BASE = """
SELECT time_bucket(INTERVAL '1 minute', ts) AS ts, first(price ORDER BY ts, trade_id) AS open,
       max(price) AS high, min(price) AS low, last(price ORDER BY ts, trade_id) AS close,
       sum(qty) AS volume
FROM trades WHERE exchange = ? AND market = ? AND symbol = ? AND ts >= ?
    AND ts < (SELECT time_bucket(INTERVAL '1 minute', max(ts)) FROM trades
              WHERE exchange = ? AND market = ? AND symbol = ?)
GROUP BY 1
"""
_NEWEST = {
    "candles": "SELECT exchange, market, max(open_ts), count(*) FROM candles WHERE symbol = ? "
    "AND interval = '1m' AND closed {venue} GROUP BY ALL ORDER BY 3 DESC, 4 DESC LIMIT 1",
    "trades": "SELECT exchange, market, max(ts), count(*) FROM trades WHERE symbol = ? {venue} "
    "GROUP BY ALL ORDER BY 3 DESC, 4 DESC LIMIT 1",
}


def _newest(con: duckdb.DuckDBPyConnection, table: str, symbol: str, exchange: str | None,
            market: str | None) -> tuple[str, str, datetime] | None:
    venue, params = "", [symbol]
    if exchange:
        venue += " AND exchange = ?"
        params.append(exchange)
    if market:
        venue += " AND market = ?"
        params.append(market)
    row = con.execute(_NEWEST[table].format(venue=venue), params).fetchone()
    return None if row is None else (row[0], row[1], row[2])


def _pick_source(con: duckdb.DuckDBPyConnection, symbol: str, exchange: str | None,
                 market: str | None, source: str) -> tuple[str, str, str, datetime]:
    """(table, exchange, market, newest time) of the data the bars will be built from."""
    if source not in ("auto", "candles", "trades"):
        raise ForecastError(f"source must be 'auto', 'candles' or 'trades', got {source!r}")
    tables = ("candles", "trades") if source == "auto" else (source,)
    for table in tables:
        found = _newest(con, table, symbol, exchange, market)
        if found is not None:
            return table, found[0], found[1], found[2]
    where = f" on {exchange}" + (f"_{market}" if market else "") if exchange else ""
    raise ForecastError(f"no closed 1m candles or trades stored for {symbol}{where}")


def load_store_bars(
    con: duckdb.DuckDBPyConnection,
    symbol: str,
    bar: str,
    *,
    exchange: str | None = None,
    market: str | None = None,
    lookback_bars: int = 2000,
    source: str = "auto",
    extras: tuple[str, ...] = (),
) -> BarFrame:
    """The last ``lookback_bars`` complete bars of ``symbol`` built in DuckDB from 1-minute
    candles (preferred) or trades. With several venues and no ``exchange``, the venue with the
    newest data is used. ``extras`` may name ``funding`` and ``open_interest`` to attach."""
    bar_min = bar_minutes(bar)
    table, ex, mk, newest = _pick_source(con, symbol, exchange, market, source)
    start = newest - timedelta(minutes=bar_min * (lookback_bars + 2))
    if table == "candles":
        base_sql, params = _CANDLE_BASE, [ex, mk, symbol, start]
    else:
        base_sql, params = _TRADE_BASE, [ex, mk, symbol, start, ex, mk, symbol]
    frame, notes = aggregate_bars(con, base_sql, params, 1, bar)
    frame = frame.tail(lookback_bars)
    bars = BarFrame(ex, mk, symbol, bar, frame, table, tuple(notes))
    for name in extras:
        bars = _attach_extra(con, bars, name)
    return bars


_EXTRA_SQL = {
    "funding": ("mark_funding", "funding_rate"),
    "open_interest": ("open_interest", "open_interest"),
}


def _attach_extra(con: duckdb.DuckDBPyConnection, bars: BarFrame, name: str) -> BarFrame:
    """Add the last stored ``funding``/``open_interest`` value of each bar, carried forward."""
    table, column = _EXTRA_SQL[name]
    bar_min = bar_minutes(bars.bar)
    start = bars.frame.index[0].to_pydatetime()
    end = bars.as_of
    rows = con.execute(
        f"SELECT time_bucket(INTERVAL '{bar_min} minutes', ts) AS ts, last({column} ORDER BY ts) AS v "
        f"FROM {table} WHERE exchange = ? AND market = ? AND symbol = ? AND {column} IS NOT NULL "
        "AND ts < ? GROUP BY 1 ORDER BY 1",
        [bars.exchange, bars.market, bars.symbol, end],
    ).df()
    if rows.empty:
        raise ForecastError(f"no {table} rows stored for {bars.symbol} on {bars.exchange}_{bars.market}")
    series = rows.set_index("ts")["v"]
    # values from before the window carry into its first bars
    values = series.reindex(series.index.union(bars.frame.index)).ffill().reindex(bars.frame.index)
    frame = bars.frame.assign(**{name: values.to_numpy(dtype=float)})
    note = f"{name}: last {table}.{column} per bar, carried forward from {start:%Y-%m-%d %H:%M}"
    return replace(bars, frame=frame, notes=(*bars.notes, note))


# -- CSV files ---------------------------------------------------------------------------------

_TIME_COLUMNS = ("timestamp", "date", "time", "ts", "datetime", "open_time")


def _read_csv(path: Path) -> pd.DataFrame:
    """Read a bar CSV: a header line before the column names is skipped; rows may be newest first."""
    with path.open() as fh:
        first = fh.readline().lower()
    skip = 0 if "close" in first else 1
    raw = pd.read_csv(path, skiprows=skip)
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    tcol = next((c for c in _TIME_COLUMNS if c in raw.columns), None)
    if tcol is None or "close" not in raw.columns:
        raise ForecastError(f"{path.name}: needs a time column ({_TIME_COLUMNS}) and a close column")
    text = raw[tcol].astype(str)
    try:
        ts = pd.to_datetime(text, format="%Y-%m-%d %I-%p")  # CryptoDataDownload's hourly format
    except ValueError:
        ts = pd.to_datetime(text, utc=True).dt.tz_localize(None)
    # base-unit volume when the file gives it (volume_btc), else the plain volume column
    vcol = next((c for c in raw.columns if c.startswith("volume_")), "volume")
    df = pd.DataFrame({
        "ts": ts.astype("datetime64[us]"),
        "open": raw.get("open", raw["close"]), "high": raw.get("high", raw["close"]),
        "low": raw.get("low", raw["close"]), "close": raw["close"],
        "volume": raw[vcol] if vcol in raw.columns else 0.0,
    })
    df = df.sort_values("ts").drop_duplicates("ts", keep="last").reset_index(drop=True)
    if not (df["close"] > 0).all():
        raise ForecastError(f"{path.name}: close prices must be positive")
    return df


def _names_from_file(path: Path) -> tuple[str, str]:
    """``ftx_btc-perp_1m_2022-01.csv`` -> (``ftx``, ``BTCPERP``)."""
    parts = path.stem.split("_")
    exchange = parts[0].lower() if len(parts) > 1 else "csv"
    symbol = (parts[1] if len(parts) > 1 else parts[0]).upper().replace("-", "").replace("/", "")
    return exchange, symbol


def load_csv_bars(path: str | Path, bar: str | None = None, *, symbol: str | None = None,
                  exchange: str | None = None) -> BarFrame:
    """Bars from a CSV file of OHLCV rows, aggregated to ``bar`` (default: the file's own bar
    size) by the same DuckDB query as stored data."""
    p = Path(path)
    if not p.is_file():
        raise ForecastError(f"series file {str(p)!r} does not exist")
    df = _read_csv(p)
    if len(df) < 3:
        raise ForecastError(f"{p.name}: needs at least 3 rows")
    step = df["ts"].diff().dropna().dt.total_seconds().mode().iloc[0]
    base_min = int(round(step / 60))
    if base_min < 1 or base_min not in BAR_MINUTES.values():
        raise ForecastError(f"{p.name}: rows are {step:.0f} s apart, not a known bar size")
    if bar is None:
        bar = next(name for name, m in BAR_MINUTES.items() if m == base_min)
    con = duckdb.connect()
    try:
        con.register("csv_rows", df)
        frame, notes = aggregate_bars(con, "SELECT * FROM csv_rows", [], base_min, bar)
    finally:
        con.close()
    ex, sym = _names_from_file(p)
    return BarFrame(exchange or ex, "csv", symbol or sym, bar, frame, f"csv:{p.name}", tuple(notes))


# -- targets -----------------------------------------------------------------------------------


def make_target(bars: BarFrame, target: str, covariates: tuple[str, ...] = ()) -> TargetSeries:
    """The ``target`` column of ``bars`` (and ``covariates`` columns) as a :class:`TargetSeries`,
    dropping leading bars where any of them is undefined (the first return, say)."""
    target = check_target(target)
    names = [target, *(check_target(c) for c in covariates if check_target(c) != target)]
    missing = [n for n in names if n not in bars.frame.columns]
    if missing:
        how = "stored data (load with extras)" if any(TARGETS[n].store_only for n in missing) else "the bars"
        raise ForecastError(f"{', '.join(missing)} not available from {how} of {bars.source}")
    cols = bars.frame[names]
    ok = np.isfinite(cols.to_numpy(dtype=float)).all(axis=1)
    first = int(np.argmax(ok)) if ok.any() else len(ok)
    if not ok[first:].all():
        raise ForecastError(f"{target}: undefined values inside the series (non-positive prices?)")
    cols = cols.iloc[first:]
    if len(cols) < 3:
        raise ForecastError(f"{target}: fewer than 3 bars of {bars.bar} data")
    index = pd.DatetimeIndex(cols.index, freq=f"{bar_minutes(bars.bar)}min")
    cov = {n: cols[n].to_numpy(dtype=float) for n in names[1:]}
    return TargetSeries(bars.exchange, bars.market, bars.symbol, bars.bar, target, index,
                        cols[target].to_numpy(dtype=float), bars.source, cov, bars.notes)


def csv_series(path: str | Path, target: str, bar: str | None = None,
               covariates: tuple[str, ...] = (), lookback_bars: int | None = None) -> TargetSeries:
    """A :class:`TargetSeries` straight from a CSV file (benchmarks, tests, ``--csv``)."""
    series = make_target(load_csv_bars(path, bar), target, covariates)
    return series.tail(lookback_bars) if lookback_bars else series


def store_series(con: duckdb.DuckDBPyConnection, symbol: str, target: str, bar: str, *,
                 exchange: str | None = None, market: str | None = None,
                 lookback_bars: int = 2000, covariates: tuple[str, ...] = (),
                 source: str = "auto") -> TargetSeries:
    """A :class:`TargetSeries` from the store: bars built in DuckDB, funding and open interest
    attached when the target or a covariate needs them."""
    names = [check_target(target), *(check_target(c) for c in covariates)]
    extras = tuple(n for n in names if TARGETS[n].store_only)
    bars = load_store_bars(con, symbol, bar, exchange=exchange, market=market,
                           lookback_bars=lookback_bars + 1, source=source, extras=extras)
    return make_target(bars, target, covariates).tail(lookback_bars)
