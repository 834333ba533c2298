"""The stake ledger: releases stay at risk of the rounds that staked them, and no balance goes below 0."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metasignal.data.store import Store
from metasignal.errors import DataValidationError
from metasignal.signals import deposit_stake, release_stake, stake_balances, stakes, storage

DAY0 = pd.Timestamp("2024-01-01")
MODELS = ("a", "b")


def _open(directory: str) -> Store:
    store = Store.open(Path(directory) / "ledger.duckdb", create=True)
    for model in MODELS:
        storage.create_model(store, model)
    return store


def _round(store: Store, payouts: dict, deadline, resolution) -> tuple[pd.Series, pd.DataFrame]:
    """What round resolution does with a round's payouts: cap, then write them."""
    paid, burns = stakes.settle_burns(store, pd.Series(payouts, dtype=float), deadline, resolution)
    with store.transaction():
        stakes.insert_payouts(store, paid, burns, pd.Timestamp(deadline) - pd.Timedelta(days=2), resolution)
    return paid, burns


def _running_balances(store: Store) -> pd.DataFrame:
    return store.con.execute(
        "SELECT model, effective, sum(sum(amount)) OVER (PARTITION BY model ORDER BY effective) AS balance "
        "FROM stake_events GROUP BY model, effective").fetch_df()


def test_a_release_after_the_deadline_is_burned_by_the_round_and_returns_the_rest():
    with tempfile.TemporaryDirectory() as directory, _open(directory) as store:
        for model in MODELS:
            deposit_stake(store, model, 1000.0, DAY0)
        deadline = DAY0 + pd.Timedelta(days=7)  # the round stakes 1000 each
        release_stake(store, "b", 1000.0, deadline + pd.Timedelta(days=1))  # the day after its deadline
        assert stake_balances(store, deadline)["b"] == 1000.0  # still staked in the round
        assert stake_balances(store, deadline + pd.Timedelta(days=2))["b"] == 0.0  # not in later rounds
        resolution = deadline + pd.Timedelta(days=30)
        paid, burns = _round(store, {"a": -6.44, "b": -6.44}, deadline, resolution)
        assert paid.to_dict() == {"a": -6.44, "b": -6.44}  # the same burn for the stayer and the escaper
        assert burns[["model", "amount"]].values.tolist() == [["b", 6.44]]  # taken from the pending release
        later = resolution + pd.Timedelta(days=1)
        assert stake_balances(store, later).to_dict() == pytest.approx({"a": 993.56, "b": 0.0})
        assert _running_balances(store)["balance"].min() >= -1e-9
        # a gain of a round that staked the release is paid on its stake at risk, into the balance
        paid, burns = _round(store, {"a": 5.0, "b": 5.0}, deadline, resolution)
        assert paid.to_dict() == {"a": 5.0, "b": 5.0} and burns.empty


def test_a_burn_is_taken_from_the_remaining_stake_before_a_pending_release():
    with tempfile.TemporaryDirectory() as directory, _open(directory) as store:
        deposit_stake(store, "a", 1000.0, DAY0)
        deadline = DAY0 + pd.Timedelta(days=7)
        release_stake(store, "a", 400.0, deadline)  # on the deadline's date: still in the round
        paid, burns = _round(store, {"a": -700.0}, deadline, deadline + pd.Timedelta(days=30))
        assert paid["a"] == -700.0
        assert burns["amount"].tolist() == [pytest.approx(100.0)]  # 600 left in the stake, 100 from the release
        assert stake_balances(store, deadline + pd.Timedelta(days=31))["a"] == pytest.approx(0.0)
        # a burn larger than everything the round staked (stake and pending release) is capped
        paid, _ = _round(store, {"a": -5000.0}, deadline, deadline + pd.Timedelta(days=31))
        assert paid["a"] == pytest.approx(-300.0)  # what is left of the release
        assert _running_balances(store)["balance"].min() >= -1e-9


def test_a_release_larger_than_the_stake_is_refused():
    with tempfile.TemporaryDirectory() as directory, _open(directory) as store:
        deposit_stake(store, "a", 1000.0, DAY0)
        with pytest.raises(DataValidationError, match="cannot release 1000.5 from 'a': its stake is 1000"):
            release_stake(store, "a", 1000.5, DAY0 + pd.Timedelta(days=3))
        _round(store, {"a": -300.0}, DAY0 + pd.Timedelta(days=7), DAY0 + pd.Timedelta(days=20))
        # a back-dated release may not take what a later burn already took
        with pytest.raises(DataValidationError, match="its stake is 700"):
            release_stake(store, "a", 800.0, DAY0 + pd.Timedelta(days=3))
        release_stake(store, "a", 700.0, DAY0 + pd.Timedelta(days=3))
        assert _running_balances(store)["balance"].min() >= -1e-9


_OPERATION = st.one_of(
    st.tuples(st.just("deposit"), st.sampled_from(MODELS), st.integers(0, 60), st.floats(1.0, 2000.0)),
    st.tuples(st.just("release"), st.sampled_from(MODELS), st.integers(0, 60), st.floats(1.0, 2000.0)),
    st.tuples(st.just("round"), st.sampled_from(MODELS), st.integers(0, 60), st.floats(-3000.0, 500.0)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_OPERATION, min_size=1, max_size=14))
def test_no_sequence_of_deposits_releases_and_payouts_makes_a_balance_negative(operations):
    with tempfile.TemporaryDirectory() as directory, _open(directory) as store:
        for kind, model, day, amount in operations:
            date = DAY0 + pd.Timedelta(days=day)
            if kind == "deposit":
                deposit_stake(store, model, amount, date)
            elif kind == "release":
                available = stakes._releasable(store, model, date)
                if amount > available + 1e-9:
                    with pytest.raises(DataValidationError, match="cannot release"):
                        release_stake(store, model, amount, date)
                else:
                    release_stake(store, model, amount, date)
            else:
                paid, burns = _round(store, {model: amount}, date, date + pd.Timedelta(days=22))
                assert paid[model] >= amount - 1e-9 if amount < 0 else paid[model] == amount  # a burn only shrinks
                assert (burns["amount"] > 0).all()
            balances = _running_balances(store)["balance"]
            assert (balances >= -1e-6).all()
        # no release gave back more than was requested
        taken = store.con.execute(
            "SELECT r.model, r.effective, -sum(r.amount) AS requested, (SELECT coalesce(sum(b.amount), 0) FROM "
            "stake_events b WHERE b.kind = 'release_burn' AND b.model = r.model AND b.released = r.effective) AS burned "
            "FROM stake_events r WHERE r.kind = 'release' GROUP BY ALL").fetch_df()
        assert (taken["burned"] <= taken["requested"] + 1e-9).all()
