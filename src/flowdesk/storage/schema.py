"""The canonical DuckDB schema and its versioned migrations.

One table per record type, every table carrying ``exchange, market, symbol``. Times are
``TIMESTAMP`` in UTC: ``ts`` is the exchange's event time, ``recv_ts`` our receive time.
A migration is applied once, inside a transaction, and recorded in ``schema_migrations``;
never edit a released migration, append a new one.
"""

from __future__ import annotations

from typing import NamedTuple

from flowdesk import records as r


class Migration(NamedTuple):
    version: int
    name: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "canonical tables",
        """
        CREATE TABLE trades (
            exchange VARCHAR NOT NULL, market VARCHAR NOT NULL, symbol VARCHAR NOT NULL,
            trade_id BIGINT NOT NULL, price DOUBLE NOT NULL, qty DOUBLE NOT NULL,
            side VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, recv_ts TIMESTAMP NOT NULL,
            first_id BIGINT, last_id BIGINT, source VARCHAR NOT NULL
        );
        CREATE TABLE quotes (
            exchange VARCHAR NOT NULL, market VARCHAR NOT NULL, symbol VARCHAR NOT NULL,
            bid DOUBLE, bid_qty DOUBLE, ask DOUBLE, ask_qty DOUBLE, update_id BIGINT,
            ts TIMESTAMP NOT NULL, recv_ts TIMESTAMP NOT NULL
        );
        CREATE TABLE mark_funding (
            exchange VARCHAR NOT NULL, market VARCHAR NOT NULL, symbol VARCHAR NOT NULL,
            mark_price DOUBLE NOT NULL, index_price DOUBLE, funding_rate DOUBLE,
            next_funding_ts TIMESTAMP, ts TIMESTAMP NOT NULL, recv_ts TIMESTAMP NOT NULL
        );
        CREATE TABLE open_interest (
            exchange VARCHAR NOT NULL, market VARCHAR NOT NULL, symbol VARCHAR NOT NULL,
            open_interest DOUBLE NOT NULL, open_interest_value DOUBLE,
            ts TIMESTAMP NOT NULL, recv_ts TIMESTAMP NOT NULL
        );
        CREATE TABLE liquidations (
            exchange VARCHAR NOT NULL, market VARCHAR NOT NULL, symbol VARCHAR NOT NULL,
            side VARCHAR NOT NULL, price DOUBLE NOT NULL, avg_price DOUBLE, qty DOUBLE NOT NULL,
            filled_qty DOUBLE, status VARCHAR, ts TIMESTAMP NOT NULL, recv_ts TIMESTAMP NOT NULL
        );
        CREATE TABLE tickers_24h (
            exchange VARCHAR NOT NULL, market VARCHAR NOT NULL, symbol VARCHAR NOT NULL,
            last DOUBLE, open DOUBLE, high DOUBLE, low DOUBLE, volume DOUBLE,
            quote_volume DOUBLE, price_change_pct DOUBLE, trade_count BIGINT,
            ts TIMESTAMP NOT NULL, recv_ts TIMESTAMP NOT NULL
        );
        CREATE TABLE candles (
            exchange VARCHAR NOT NULL, market VARCHAR NOT NULL, symbol VARCHAR NOT NULL,
            interval VARCHAR NOT NULL, open_ts TIMESTAMP NOT NULL, close_ts TIMESTAMP NOT NULL,
            open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, volume DOUBLE,
            quote_volume DOUBLE, trade_count BIGINT, taker_buy_volume DOUBLE,
            closed BOOLEAN NOT NULL, ts TIMESTAMP NOT NULL, recv_ts TIMESTAMP NOT NULL
        );
        CREATE TABLE book_snapshots (
            exchange VARCHAR NOT NULL, market VARCHAR NOT NULL, symbol VARCHAR NOT NULL,
            ts TIMESTAMP NOT NULL, update_id BIGINT, side VARCHAR NOT NULL,
            level INTEGER NOT NULL, price DOUBLE NOT NULL, qty DOUBLE NOT NULL
        );
        CREATE TABLE depth_bands (
            exchange VARCHAR NOT NULL, market VARCHAR NOT NULL, symbol VARCHAR NOT NULL,
            ts TIMESTAMP NOT NULL, mid DOUBLE NOT NULL, band_pct DOUBLE NOT NULL,
            bid_qty DOUBLE NOT NULL, ask_qty DOUBLE NOT NULL,
            bid_notional DOUBLE NOT NULL, ask_notional DOUBLE NOT NULL
        );
        CREATE TABLE trade_gaps (
            exchange VARCHAR NOT NULL, market VARCHAR NOT NULL, symbol VARCHAR NOT NULL,
            from_id BIGINT NOT NULL, to_id BIGINT NOT NULL, detected_ts TIMESTAMP NOT NULL,
            filled_ts TIMESTAMP, filled_count BIGINT, status VARCHAR NOT NULL, detail VARCHAR
        );
        """,
    ),
    Migration(
        2,
        "instruments",
        """
        CREATE TABLE instruments (
            exchange VARCHAR NOT NULL, market VARCHAR NOT NULL, symbol VARCHAR NOT NULL,
            venue_symbol VARCHAR NOT NULL, tick_size DOUBLE NOT NULL, step_size DOUBLE,
            status VARCHAR, updated_ts TIMESTAMP NOT NULL,
            PRIMARY KEY (exchange, market, symbol)
        );
        """,
    ),
    Migration(
        3,
        "forecasting registry",
        """
        CREATE TABLE forecast_models (
            exchange VARCHAR NOT NULL, market VARCHAR NOT NULL, symbol VARCHAR NOT NULL,
            target VARCHAR NOT NULL, bar VARCHAR NOT NULL, horizon INTEGER NOT NULL,
            model VARCHAR NOT NULL, version INTEGER NOT NULL, family VARCHAR NOT NULL,
            params VARCHAR NOT NULL, role VARCHAR NOT NULL,
            artifact_path VARCHAR, artifact_sha256 VARCHAR,
            created_ts TIMESTAMP NOT NULL, updated_ts TIMESTAMP NOT NULL,
            PRIMARY KEY (exchange, market, symbol, target, bar, horizon, model, version)
        );
        CREATE TABLE forecast_scores (
            exchange VARCHAR NOT NULL, market VARCHAR NOT NULL, symbol VARCHAR NOT NULL,
            target VARCHAR NOT NULL, bar VARCHAR NOT NULL, horizon INTEGER NOT NULL,
            model VARCHAR NOT NULL, version INTEGER NOT NULL,
            scheme VARCHAR NOT NULL, folds INTEGER NOT NULL, purge INTEGER NOT NULL,
            embargo INTEGER NOT NULL, status VARCHAR NOT NULL, error VARCHAR,
            mae DOUBLE, rmse DOUBLE, mase DOUBLE, smape DOUBLE, directional_accuracy DOUBLE,
            rel_mae DOUBLE, coverage_nominal DOUBLE, coverage_measured DOUBLE,
            fit_s DOUBLE, predict_s DOUBLE, n_errors INTEGER,
            data_start TIMESTAMP, data_end TIMESTAMP, scored_ts TIMESTAMP NOT NULL
        );
        CREATE TABLE forecasts (
            forecast_id VARCHAR NOT NULL, exchange VARCHAR NOT NULL, market VARCHAR NOT NULL,
            symbol VARCHAR NOT NULL, target VARCHAR NOT NULL, bar VARCHAR NOT NULL,
            horizon INTEGER NOT NULL, model VARCHAR NOT NULL, version INTEGER,
            issued_ts TIMESTAMP NOT NULL, as_of TIMESTAMP NOT NULL, step INTEGER NOT NULL,
            ts TIMESTAMP NOT NULL, value DOUBLE NOT NULL, median DOUBLE, lower DOUBLE,
            upper DOUBLE, coverage DOUBLE
        );
        CREATE TABLE forecast_drift (
            exchange VARCHAR NOT NULL, market VARCHAR NOT NULL, symbol VARCHAR NOT NULL,
            target VARCHAR NOT NULL, bar VARCHAR NOT NULL, detector VARCHAR NOT NULL,
            kind VARCHAR NOT NULL, statistic DOUBLE, threshold DOUBLE, drift BOOLEAN NOT NULL,
            checked_ts TIMESTAMP NOT NULL, detail VARCHAR
        );
        CREATE TABLE forecast_tuning (
            exchange VARCHAR NOT NULL, market VARCHAR NOT NULL, symbol VARCHAR NOT NULL,
            target VARCHAR NOT NULL, bar VARCHAR NOT NULL, horizon INTEGER NOT NULL,
            model VARCHAR NOT NULL, trials INTEGER NOT NULL, complete INTEGER NOT NULL,
            pruned INTEGER NOT NULL, failed INTEGER NOT NULL, best_value DOUBLE,
            best_params VARCHAR, metric VARCHAR NOT NULL, budget_s DOUBLE, elapsed_s DOUBLE,
            tuned_ts TIMESTAMP NOT NULL
        );
        """,
    ),
    Migration(
        4,
        "data quality and crews",
        """
        CREATE TABLE quality_issues (
            issue_id VARCHAR NOT NULL, fingerprint VARCHAR NOT NULL, kind VARCHAR NOT NULL,
            severity VARCHAR NOT NULL, exchange VARCHAR, market VARCHAR, symbol VARCHAR,
            stream VARCHAR, status VARCHAR NOT NULL, summary VARCHAR NOT NULL,
            evidence VARCHAR NOT NULL, first_seen_ts TIMESTAMP NOT NULL,
            last_seen_ts TIMESTAMP NOT NULL, closed_ts TIMESTAMP, seen_count INTEGER NOT NULL,
            run_id VARCHAR NOT NULL
        );
        CREATE TABLE agent_actions (
            action_id VARCHAR NOT NULL, run_id VARCHAR NOT NULL, workflow VARCHAR NOT NULL,
            kind VARCHAR NOT NULL, issue_id VARCHAR, exchange VARCHAR, market VARCHAR,
            symbol VARCHAR, mode VARCHAR NOT NULL, status VARCHAR NOT NULL,
            params VARCHAR NOT NULL, evidence VARCHAR NOT NULL, outcome VARCHAR,
            proposed_count INTEGER NOT NULL, created_ts TIMESTAMP NOT NULL,
            updated_ts TIMESTAMP NOT NULL
        );
        CREATE TABLE escalations (
            escalation_id VARCHAR NOT NULL, run_id VARCHAR NOT NULL, issue_id VARCHAR,
            kind VARCHAR NOT NULL, severity VARCHAR NOT NULL, exchange VARCHAR, market VARCHAR,
            symbol VARCHAR, reason VARCHAR NOT NULL, evidence VARCHAR NOT NULL,
            status VARCHAR NOT NULL, created_ts TIMESTAMP NOT NULL, updated_ts TIMESTAMP NOT NULL
        );
        CREATE TABLE interpolations (
            exchange VARCHAR NOT NULL, market VARCHAR NOT NULL, symbol VARCHAR NOT NULL,
            table_name VARCHAR NOT NULL, key_ts TIMESTAMP NOT NULL, method VARCHAR NOT NULL,
            row_values VARCHAR NOT NULL, reason VARCHAR NOT NULL, run_id VARCHAR NOT NULL,
            action_id VARCHAR, created_ts TIMESTAMP NOT NULL
        );
        CREATE TABLE crew_runs (
            run_id VARCHAR NOT NULL, crew VARCHAR NOT NULL, workflow VARCHAR,
            mode VARCHAR NOT NULL, trigger VARCHAR NOT NULL, llm VARCHAR NOT NULL,
            inputs VARCHAR NOT NULL, status VARCHAR NOT NULL, started_ts TIMESTAMP NOT NULL,
            finished_ts TIMESTAMP, summary VARCHAR, output VARCHAR, error VARCHAR
        );
        CREATE TABLE interpolated_candles (
            exchange VARCHAR NOT NULL, market VARCHAR NOT NULL, symbol VARCHAR NOT NULL,
            interval VARCHAR NOT NULL, open_ts TIMESTAMP NOT NULL, close_ts TIMESTAMP NOT NULL,
            open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, volume DOUBLE,
            quote_volume DOUBLE, trade_count BIGINT, taker_buy_volume DOUBLE,
            closed BOOLEAN NOT NULL, ts TIMESTAMP NOT NULL, recv_ts TIMESTAMP NOT NULL,
            method VARCHAR NOT NULL, run_id VARCHAR NOT NULL
        );
        CREATE VIEW candles_filled AS
            SELECT exchange, market, symbol, interval, open_ts, close_ts, open, high, low, close,
                   volume, quote_volume, trade_count, taker_buy_volume, closed, ts, recv_ts,
                   false AS interpolated
            FROM candles
            UNION ALL
            SELECT i.exchange, i.market, i.symbol, i.interval, i.open_ts, i.close_ts, i.open,
                   i.high, i.low, i.close, i.volume, i.quote_volume, i.trade_count,
                   i.taker_buy_volume, i.closed, i.ts, i.recv_ts, true AS interpolated
            FROM interpolated_candles i ANTI JOIN candles c
                USING (exchange, market, symbol, interval, open_ts);
        """,
    ),
    Migration(
        5,
        "features",
        """
        CREATE TABLE features (
            exchange VARCHAR NOT NULL, market VARCHAR NOT NULL, symbol VARCHAR NOT NULL,
            ts TIMESTAMP NOT NULL, name VARCHAR NOT NULL, value DOUBLE NOT NULL
        );
        """,
    ),
)

#: stored record type -> table name
TABLE_OF: dict[type, str] = {
    r.Trade: "trades",
    r.Quote: "quotes",
    r.MarkFunding: "mark_funding",
    r.OpenInterest: "open_interest",
    r.Liquidation: "liquidations",
    r.Ticker24h: "tickers_24h",
    r.Candle: "candles",
    r.BookLevel: "book_snapshots",
    r.DepthBand: "depth_bands",
}

#: tables the retention job prunes, with the time column it prunes on
RETENTION_COLUMNS: dict[str, str] = {
    "trades": "ts",
    "quotes": "ts",
    "mark_funding": "ts",
    "open_interest": "ts",
    "liquidations": "ts",
    "tickers_24h": "ts",
    "candles": "open_ts",
    "book_snapshots": "ts",
    "depth_bands": "ts",
    "features": "ts",
}
