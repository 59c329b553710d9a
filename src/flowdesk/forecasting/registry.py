"""The model registry in DuckDB: models and versions, CV scores, forecasts, drift checks, tuning.

Tables come from schema migration 3 ("forecasting registry"). A *series key* is
``(exchange, market, symbol, target, bar)``; models are registered per key and horizon.

* ``forecast_models``: one row per (key, horizon, model, version). A version is a parameter
  set: the same model with the same parameters keeps its version. ``role`` is ``champion``
  (the model with the lowest MASE among the latest successful scores of the versions not
  retired; a challenger must beat it strictly to replace it), ``challenger``, or ``retired``
  (a version superseded by a newer parameter set of the same model; never elected).
  ``artifact_path``/``artifact_sha256`` point at a saved fitted model.
* ``forecast_scores``: every CV score, failed ones included (``status = 'failed'``, ``error``).
* ``forecasts``: issued forecasts, one row per step, with interval bounds.
* ``forecast_drift`` and ``forecast_tuning``: drift checks and Optuna studies.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd

from flowdesk.forecasting.errors import ForecastError
from flowdesk.forecasting.series import SeriesKey

TABLES = ("forecast_models", "forecast_scores", "forecasts", "forecast_drift", "forecast_tuning")


def _where(prefix: str = "") -> str:
    return " AND ".join(f"{prefix}{c} = ?" for c in ("exchange", "market", "symbol", "target", "bar"))


_KEY = _where()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _key(key: SeriesKey) -> list[Any]:
    return [key.exchange, key.market, key.symbol, key.target, key.bar]


def canonical_params(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def _rows(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


class Registry:
    """Read and write the registry tables through one DuckDB cursor."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        found = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'forecast%'").fetchall()}
        missing = [t for t in TABLES if t not in found]
        if missing:
            raise ForecastError(f"the forecasting registry tables are missing ({missing}): "
                                "the store needs schema migration 3")

    # -- models and versions -------------------------------------------------------------------

    def register(self, key: SeriesKey, horizon: int, model: str, family: str, params: dict[str, Any]) -> int:
        """The version of ``model`` with ``params`` for this key and horizon, created if new."""
        text = canonical_params(params)
        row = self.con.execute(
            f"SELECT version FROM forecast_models WHERE {_KEY} AND horizon = ? AND model = ? AND params = ?",
            [*_key(key), horizon, model, text]).fetchone()
        if row:
            return int(row[0])
        (latest,) = self.con.execute(
            f"SELECT coalesce(max(version), 0) FROM forecast_models WHERE {_KEY} AND horizon = ? AND model = ?",
            [*_key(key), horizon, model]).fetchone()
        now = _now()
        self.con.execute(
            "INSERT INTO forecast_models VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'challenger', NULL, NULL, ?, ?)",
            [*_key(key), horizon, model, latest + 1, family, text, now, now])
        if latest:
            self.con.execute(
                f"UPDATE forecast_models SET role = 'retired', updated_ts = ? WHERE {_KEY} AND horizon = ? "
                "AND model = ? AND version < ? AND role <> 'champion'",
                [now, *_key(key), horizon, model, latest + 1])
        return latest + 1

    def set_artifact(self, key: SeriesKey, horizon: int, model: str, version: int, path: str, sha256: str) -> None:
        self.con.execute(
            f"UPDATE forecast_models SET artifact_path = ?, artifact_sha256 = ?, updated_ts = ? "
            f"WHERE {_KEY} AND horizon = ? AND model = ? AND version = ?",
            [path, sha256, _now(), *_key(key), horizon, model, version])

    def params_of(self, key: SeriesKey, horizon: int, model: str, version: int) -> dict[str, Any]:
        row = self.con.execute(
            f"SELECT params FROM forecast_models WHERE {_KEY} AND horizon = ? AND model = ? AND version = ?",
            [*_key(key), horizon, model, version]).fetchone()
        if row is None:
            raise ForecastError(f"no registered version {version} of {model}")
        return dict(json.loads(row[0]))

    # -- scores --------------------------------------------------------------------------------

    def record_score(self, key: SeriesKey, horizon: int, model: str, version: int, run: dict[str, Any],
                     score: dict[str, Any]) -> None:
        """One CV score. ``run``: scheme, folds, purge, embargo, data_start, data_end;
        ``score``: status, error, the metrics, fit_s, predict_s, n."""
        self.con.execute(
            "INSERT INTO forecast_scores VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?, ?, ?, ?, ?)",
            [*_key(key), horizon, model, version, run["scheme"], run["folds"], run["purge"], run["embargo"],
             score["status"], score.get("error"), score.get("mae"), score.get("rmse"), score.get("mase"),
             score.get("smape"), score.get("directional_accuracy"), score.get("rel_mae"),
             score.get("coverage_nominal"), score.get("coverage_measured"), score.get("fit_s"),
             score.get("predict_s"), score.get("n"), run.get("data_start"), run.get("data_end"), _now()])

    def latest_scores(self, key: SeriesKey, horizon: int | None = None) -> list[dict[str, Any]]:
        """Each model version's newest score for the key (and horizon), with its role and params."""
        where, params = _where("s."), _key(key)
        if horizon is not None:
            where += " AND s.horizon = ?"
            params = [*params, horizon]
        cur = self.con.execute(
            "SELECT s.*, m.role, m.params, m.family, m.artifact_path FROM forecast_scores s "
            "JOIN forecast_models m USING (exchange, market, symbol, target, bar, horizon, model, version) "
            f"WHERE {where} QUALIFY row_number() OVER (PARTITION BY s.horizon, s.model, s.version "
            "ORDER BY s.scored_ts DESC) = 1 ORDER BY s.horizon, s.status DESC, s.mase NULLS LAST", params)
        return [{**r, "params": json.loads(r["params"])} for r in _rows(cur)]

    def update_roles(self, key: SeriesKey, horizon: int) -> dict[str, Any] | None:
        """Re-elect the champion for the key and horizon; return its score row (None if no model
        has a successful score)."""
        scores = [s for s in self.latest_scores(key, horizon)
                  if s["status"] == "ok" and s["mase"] is not None and s["role"] != "retired"]
        if not scores:
            return None
        best = min(scores, key=lambda s: s["mase"])
        current = next((s for s in scores if s["role"] == "champion"), None)
        if current is not None and not best["mase"] < current["mase"]:
            best = current  # a challenger has to beat the champion, a tie keeps it
        now = _now()
        self.con.execute(
            f"UPDATE forecast_models SET role = 'challenger', updated_ts = ? WHERE {_KEY} AND horizon = ? "
            "AND role = 'champion'", [now, *_key(key), horizon])
        self.con.execute(
            f"UPDATE forecast_models SET role = 'champion', updated_ts = ? WHERE {_KEY} AND horizon = ? "
            "AND model = ? AND version = ?", [now, *_key(key), horizon, best["model"], best["version"]])
        return {**best, "role": "champion"}

    def champion(self, key: SeriesKey, horizon: int) -> dict[str, Any] | None:
        rows = [s for s in self.latest_scores(key, horizon) if s["role"] == "champion"]
        return rows[0] if rows else None

    def performance(self, symbol: str, target: str | None, bar: str | None, horizon: int | None,
                    limit: int) -> list[dict[str, Any]]:
        """Newest score per model version for a symbol, filtered, best MASE first."""
        where, params = ["s.symbol = ?"], [symbol]
        for col, val in (("target", target), ("bar", bar), ("horizon", horizon)):
            if val is not None:
                where.append(f"s.{col} = ?")
                params.append(val)
        cur = self.con.execute(
            "SELECT s.*, m.role, m.params FROM forecast_scores s JOIN forecast_models m "
            "USING (exchange, market, symbol, target, bar, horizon, model, version) "
            f"WHERE {' AND '.join(where)} QUALIFY row_number() OVER (PARTITION BY s.exchange, s.market, "
            "s.target, s.bar, s.horizon, s.model, s.version ORDER BY s.scored_ts DESC) = 1 "
            "ORDER BY s.target, s.bar, s.horizon, s.status DESC, s.mase NULLS LAST LIMIT ?", [*params, limit])
        return [{**r, "params": json.loads(r["params"])} for r in _rows(cur)]

    # -- forecasts -----------------------------------------------------------------------------

    def save_forecast(self, key: SeriesKey, horizon: int, model: str, version: int | None, as_of: datetime,
                      points: pd.DataFrame, coverage: float) -> str:
        """Store an issued forecast; ``points`` has columns step, ts, value, median, lower, upper."""
        forecast_id = uuid.uuid4().hex
        frame = points.assign(
            forecast_id=forecast_id, exchange=key.exchange, market=key.market, symbol=key.symbol,
            target=key.target, bar=key.bar, horizon=horizon, model=model, version=version,
            issued_ts=_now(), as_of=as_of, coverage=coverage)
        cols = ["forecast_id", "exchange", "market", "symbol", "target", "bar", "horizon", "model", "version",
                "issued_ts", "as_of", "step", "ts", "value", "median", "lower", "upper", "coverage"]
        self.con.register("_forecast_rows", frame[cols])
        try:
            self.con.execute("INSERT INTO forecasts BY NAME SELECT * FROM _forecast_rows")
        finally:
            self.con.unregister("_forecast_rows")
        return forecast_id

    def latest_forecast(self, symbol: str, target: str | None = None, bar: str | None = None,
                        exchange: str | None = None) -> list[dict[str, Any]]:
        where, params = ["symbol = ?"], [symbol]
        for col, val in (("target", target), ("bar", bar), ("exchange", exchange)):
            if val is not None:
                where.append(f"{col} = ?")
                params.append(val)
        cond = " AND ".join(where)
        cur = self.con.execute(
            f"SELECT * FROM forecasts WHERE forecast_id = (SELECT forecast_id FROM forecasts WHERE {cond} "
            "ORDER BY issued_ts DESC LIMIT 1) ORDER BY step", params)
        return _rows(cur)

    def resolved_errors(self, key: SeriesKey, actual: pd.Series, step: int = 1) -> pd.Series:
        """Errors (actual - forecast) of stored ``step``-ahead forecasts whose bar is in ``actual``
        (indexed by bar open time), oldest first; one per bar, from the newest forecast for it."""
        rows = self.con.execute(
            f"SELECT ts, value FROM forecasts WHERE {_KEY} AND step = ? "
            "QUALIFY row_number() OVER (PARTITION BY ts ORDER BY issued_ts DESC) = 1 ORDER BY ts",
            [*_key(key), step]).df()
        if rows.empty:
            return pd.Series(dtype=float)
        joined = rows.set_index("ts")["value"].to_frame().join(actual.rename("actual"), how="inner")
        return joined["actual"] - joined["value"]

    # -- drift and tuning ----------------------------------------------------------------------

    def record_drift(self, key: SeriesKey, findings: list[dict[str, Any]]) -> None:
        now = _now()
        for f in findings:
            self.con.execute(
                "INSERT INTO forecast_drift VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [*_key(key), f["detector"], f["input"], f["statistic"], f["threshold"], f["drift"], now,
                 f["detail"]])

    def record_tuning(self, key: SeriesKey, horizon: int, model: str, summary: dict[str, Any]) -> None:
        self.con.execute(
            "INSERT INTO forecast_tuning VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [*_key(key), horizon, model, summary["trials"], summary["complete"], summary["pruned"],
             summary["failed"], summary["best_value"], canonical_params(summary["best_params"] or {}),
             summary["metric"], summary["budget_s"], summary["elapsed_s"], _now()])
