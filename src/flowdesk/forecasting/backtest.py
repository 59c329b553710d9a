"""A forecast-driven strategy backtest with fees and slippage.

At every bar ``t`` of the test span the model, fitted only on bars before ``t`` (walk-forward,
refitted every ``refit_every`` bars), forecasts the log returns of the next ``horizon`` bars.
The signal is their sum. The position for bar ``t`` is ``+1`` (long) when the signal exceeds
the cost of entering and leaving (``2 * (fee_bps + slippage_bps)``), ``-1`` (short, when
allowed) when it is below minus that cost, else flat. A position change of size ``d`` costs
``d * (fee_bps + slippage_bps) / 10^4`` of equity. The bar's P&L is ``position * (e^r - 1)``
minus that cost.

Reported: total return, annualized Sharpe (mean over standard deviation of bar P&L, times
``sqrt(bars per year)``, 24/7 markets), hit rate (share of bars in the market whose P&L before
costs was positive), maximum drawdown of the equity curve, turnover (mean absolute position
change per bar), trades, exposure, and buy-and-hold over the same span for comparison.

Grade thresholds (the first row that holds; the span must hold at least ``MIN_TRADES`` trades,
else the grade is ``n/a``):

====== ================================================================
grade  rule
====== ================================================================
A      Sharpe >= 2.0, max drawdown <= 20%, and Sharpe above buy-and-hold
B      Sharpe >= 1.0 and max drawdown <= 30%
C      Sharpe >= 0.5
D      Sharpe > 0
F      otherwise
====== ================================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from flowdesk.forecasting.errors import ForecastError
from flowdesk.forecasting.series import TargetSeries, bar_minutes
from flowdesk.forecasting.validation import CVConfig, CVResult, run_cv

MIN_TRADES = 10
GRADES: tuple[tuple[str, str], ...] = (
    ("A", "Sharpe >= 2.0, max drawdown <= 20% and Sharpe above buy-and-hold"),
    ("B", "Sharpe >= 1.0 and max drawdown <= 30%"),
    ("C", "Sharpe >= 0.5"),
    ("D", "Sharpe > 0"),
    ("F", "otherwise"),
)


@dataclass(frozen=True)
class BacktestConfig:
    n_bars: int = 500
    horizon: int = 1
    fee_bps: float = 5.0
    slippage_bps: float = 2.0
    refit_every: int = 24
    allow_short: bool = True

    def check(self) -> None:
        if self.n_bars < 20 or self.horizon < 1 or self.refit_every < 1:
            raise ForecastError("backtest needs n_bars >= 20, horizon >= 1 and refit_every >= 1")
        if self.fee_bps < 0 or self.slippage_bps < 0:
            raise ForecastError("fees and slippage cannot be negative")


def positions(signal: np.ndarray, cost: float, allow_short: bool) -> np.ndarray:
    """+1/-1/0 positions from the forecast return ``signal`` and the per-side ``cost``."""
    hurdle = 2 * cost
    pos = np.where(signal > hurdle, 1.0, np.where(signal < -hurdle, -1.0, 0.0))
    return pos if allow_short else np.maximum(pos, 0.0)


def max_drawdown(equity: np.ndarray) -> float:
    peak = np.maximum.accumulate(np.concatenate([[1.0], equity]))[1:]
    return float(np.max(1.0 - equity / peak)) if len(equity) else 0.0


def sharpe(pnl: np.ndarray, bars_per_year: float) -> float | None:
    sd = float(np.std(pnl, ddof=1)) if len(pnl) > 1 else 0.0
    return None if sd == 0 else float(np.mean(pnl) / sd * math.sqrt(bars_per_year))


def grade(s: float | None, dd: float, bh: float | None, trades: int) -> str:
    if trades < MIN_TRADES or s is None:
        return "n/a"
    if s >= 2.0 and dd <= 0.20 and (bh is None or s > bh):
        return "A"
    if s >= 1.0 and dd <= 0.30:
        return "B"
    if s >= 0.5:
        return "C"
    return "D" if s > 0 else "F"


def evaluate_positions(pos: np.ndarray, returns: np.ndarray, cost: float, bars_per_year: float) -> dict[str, Any]:
    """Metrics of holding ``pos[i]`` over the bar with log return ``returns[i]``."""
    simple = np.expm1(returns)
    change = np.abs(np.diff(np.concatenate([[0.0], pos])))
    gross = pos * simple
    pnl = gross - change * cost
    equity = np.cumprod(1.0 + pnl)
    in_market = pos != 0
    s = sharpe(pnl, bars_per_year)
    bh = sharpe(simple, bars_per_year)
    dd = max_drawdown(equity)
    trades = int(np.count_nonzero(change))
    return {
        "total_return": float(equity[-1] - 1.0),
        "sharpe": s,
        "hit_rate": float(np.mean(gross[in_market] > 0)) if in_market.any() else None,
        "max_drawdown": dd,
        "turnover_per_bar": float(change.mean()),
        "trades": trades,
        "exposure": float(in_market.mean()),
        "costs_paid": float(np.sum(change * cost)),
        "buy_and_hold": {"total_return": float(np.prod(1 + simple) - 1), "sharpe": bh,
                         "max_drawdown": max_drawdown(np.cumprod(1 + simple))},
        "grade": grade(s, dd, bh, trades),
    }


def backtest(series: TargetSeries, forecaster: Any, cfg: BacktestConfig,
             on_fold: Callable[[int, CVResult], None] | None = None) -> dict[str, Any]:
    """Walk-forward backtest of ``forecaster`` on a ``log_return`` series (see module doc);
    ``on_fold(k, result)`` runs after each bar (progress)."""
    cfg.check()
    if series.target != "log_return":
        raise ForecastError("the backtest trades on forecast log returns: build the series with target log_return")
    cv = CVConfig(horizon=cfg.horizon, scheme="walk_forward", folds=cfg.n_bars, step=1,
                  refit_every=cfg.refit_every)
    res = run_cv(series, forecaster, cv, on_fold=on_fold)
    if not res.ok:
        raise ForecastError(f"{forecaster.name} failed during the backtest: {res.error}")
    signal = res.forecasts.sum(axis=1)
    realized = res.actuals[:, 0]  # the bar the position is held over
    cost = (cfg.fee_bps + cfg.slippage_bps) / 1e4
    pos = positions(signal, cost, cfg.allow_short)
    bars_per_year = 365 * 24 * 60 / bar_minutes(series.bar)
    out = evaluate_positions(pos, realized, cost, bars_per_year)
    first, last = res.folds[0].origin, res.folds[-1].origin
    out.update({
        "bars": len(pos),
        "from": series.index[first].isoformat(), "to": series.index[last].isoformat(),
        "forecast_mae": res.metrics(1)["mae"],
        "directional_accuracy": res.metrics(1)["directional_accuracy"],
        "fit_s": round(res.fit_s, 3), "predict_s": round(res.predict_s, 3),
        "config": cfg.__dict__,
        "grade_rules": [{"grade": g, "rule": r} for g, r in GRADES] + [
            {"grade": "n/a", "rule": f"fewer than {MIN_TRADES} trades"}],
    })
    return out
