import numpy as np
import pandas as pd

from metasignal.data.synthetic import SyntheticConfig, generate, true_residual_returns

CONFIG = SyntheticConfig(n_tickers=80, years=0.5, seed=3)


def test_same_seed_same_market():
    first, second = generate(CONFIG), generate(CONFIG)
    pd.testing.assert_frame_equal(first.bars, second.bars)
    pd.testing.assert_frame_equal(first.securities, second.securities)


def test_other_seed_other_market():
    other = generate(SyntheticConfig(n_tickers=80, years=0.5, seed=4))
    assert not np.allclose(generate(CONFIG).bars["close"].to_numpy()[:100], other.bars["close"].to_numpy()[:100])


def test_tickers_look_like_numerai_and_bloomberg_ids():
    securities = generate(SyntheticConfig(n_tickers=400, years=0.3, seed=1)).securities
    assert securities["ticker"].is_unique
    assert securities["ticker"].str.fullmatch(r"[A-Z0-9]{2,6} [A-Z]{2}").all()
    assert (securities["ticker"].str[-2:] == securities["country"]).all()
    assert securities["bloomberg_ticker"].str.fullmatch(r"[A-Z0-9]{2,6} [A-Z]{2}").all()
    assert securities["country"].nunique() == 20
    assert securities["sector"].nunique() == 11


def test_listings_and_delistings_happen_inside_the_history():
    market = generate(SyntheticConfig(n_tickers=500, years=2, seed=5))
    first_bar = market.bars.groupby("ticker")["date"].min()
    last_bar = market.bars.groupby("ticker")["date"].max()
    assert (first_bar > market.dates[0]).sum() > 10
    assert (last_bar < market.dates[-1]).sum() > 10


def test_returns_have_fat_tails_and_volatility_clustering():
    market = generate(SyntheticConfig(n_tickers=300, years=2, seed=9))
    e = market.residuals
    z = (e - e.mean(0)) / e.std(0)
    kurtosis = (z**4).mean()
    assert kurtosis > 4.0  # a normal gives 3
    a = np.abs(e[1:]).ravel()
    b = np.abs(e[:-1]).ravel()
    assert np.corrcoef(a, b)[0, 1] > 0.02  # |e| autocorrelation from GARCH


def test_adjusted_close_ratio_is_the_total_return_and_close_drops_by_dividends():
    market = generate(CONFIG)
    bars = market.bars.pivot(index="date", columns="ticker")
    adj, close = bars["adj_close"], bars["close"]
    assert np.all((adj / close).round(12).nunique() >= 1)
    price_ret = close.pct_change().to_numpy()[1:]
    total_ret = adj.pct_change().to_numpy()[1:]
    finite = np.isfinite(price_ret) & np.isfinite(total_ret)
    assert np.all(total_ret[finite] >= price_ret[finite] - 1e-12)  # dividends only add


def test_true_residual_returns_sum_the_hidden_noise_over_the_target_window():
    market = generate(CONFIG)
    date = market.dates[10]
    truth = true_residual_returns(CONFIG, date, days=20, lag=2)
    expected = market.residuals[13:33].sum(axis=0)
    np.testing.assert_allclose(truth.to_numpy(), expected)


def test_same_seed_same_hidden_truth_bit_for_bit():
    first, second = generate(CONFIG), generate(CONFIG)
    assert first.residuals.tobytes() == second.residuals.tobytes()
    assert first.alphas.tobytes() == second.alphas.tobytes()
    numeric = first.bars.select_dtypes("number").columns
    assert first.bars[numeric].to_numpy().tobytes() == second.bars[numeric].to_numpy().tobytes()


def test_generating_a_store_logs_step_times_and_totals(tmp_path, caplog):
    import logging

    from metasignal.data.generate import generate_store
    from metasignal.data.store import Store

    messages = []
    with caplog.at_level(logging.DEBUG, logger="metasignal.data"), \
            Store.open(tmp_path / "tiny.duckdb", create=True) as store:
        counts = generate_store(store, SyntheticConfig(n_tickers=30, years=0.2, seed=2), progress=messages.append)
    records = {(r.name, r.levelno): r.getMessage() for r in caplog.records}
    steps = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(steps) == len(messages)  # one timing per announced step
    assert all(step.startswith(message) for step, message in zip(steps, messages))
    assert f"{counts['daily']} daily rows" in records["metasignal.data.derive", logging.INFO]
    assert f"{counts['bars']} bars" in records["metasignal.data.generate", logging.INFO]
