"""Rescoring on a cluster equals what round resolution stored, and leaves the ledger alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metasignal.backtest import PayoutPolicy, payout_policy, round_results, round_scores
from metasignal.backtest.rescore import largest_difference, rescore
from metasignal.data.store import Store
from tests.backtest.test_sweep import replayed_tournament

LEDGER = ("stake_events", "round_results", "round_scores", "rounds", "round_windows")


@pytest.fixture(scope="module")
def store_path(small_store_path, tmp_path_factory):
    return replayed_tournament(small_store_path, tmp_path_factory.mktemp("rescore"))[0]


def _tables(store: Store) -> dict[str, pd.DataFrame]:
    return {name: store.con.execute(f"SELECT * FROM {name} ORDER BY ALL").fetch_df() for name in LEDGER}


def test_rescoring_on_two_workers_equals_the_stored_scores_and_payouts(store_path):
    from distributed import Client, LocalCluster

    with Store.open(store_path) as store:
        before = _tables(store)
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            result = rescore(store, client=client, chunk_size=2)
        stored, paid = round_scores(store), round_results(store)
        after = _tables(store)
    assert result.chunks > 1
    gap, compared = largest_difference(result.scores, stored)
    assert compared == len(stored) == len(result.scores) and compared > 0
    assert gap <= 1e-12
    assert set(stored["window"]) == {"20D2L", "60D2L"}  # both windows of the default policy compared
    joined = result.payouts.merge(paid, on=["round_date", "model"], suffixes=("", "_stored"))
    assert len(joined) == len(paid) > 0
    for column in ("payout", "at_risk", "stake", "payout_score"):
        assert np.abs(joined[column] - joined[f"{column}_stored"]).max() <= 1e-12
    assert (joined["eligible"] == joined["eligible_stored"]).all()
    for name in LEDGER:  # nothing written
        pd.testing.assert_frame_equal(before[name], after[name])


def test_another_policy_scores_its_own_windows_and_pays_by_its_own_formula(store_path):
    rule = payout_policy("fnc_mmc")
    with Store.open(store_path) as store:
        assert PayoutPolicy.of(store).name != rule.name
        result = rescore(store, rule, chunk_size=3)  # serially: the same function as on workers
        stored = round_scores(store, window="20D2L")
    assert set(result.scores["window"]) == {"20D2L"}
    gap, compared = largest_difference(result.scores, stored)
    assert compared == len(stored) and gap <= 1e-12  # the 20D2L scores do not depend on the policy
    paid = result.payouts
    expected = (paid["fnc"].fillna(0.0) + 2.0 * paid["mmc"].fillna(0.0)).to_numpy()
    assert np.allclose(paid["payout_score"].to_numpy(), expected, rtol=0, atol=1e-15)
    bound = rule.clip * paid["at_risk"]
    assert (paid["payout"].abs() <= bound + 1e-12).all() and (paid.loc[paid["at_risk"] == 0, "payout"] == 0).all()
