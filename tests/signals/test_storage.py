"""Models and versioned submissions in the store: supersede, history, idempotence, atomicity,
and each upload's status against the round calendar (on time, late and queued, refused, backfill).

The fixture store's days are 2024-01-01 to 2024-01-10; its weekly rounds are Friday 2024-01-05
(``ROUND``: opens Saturday 12:00 UTC, deadline Sunday 2024-01-07 14:00 UTC) and Wednesday
2024-01-10 (``NEXT_ROUND``, the last store day of its week). ``round_store`` is the store on a
replay clock an hour into ``ROUND``; ``submission_store`` has the live (wall) clock, at which
every round has closed: its tests upload research history (``backfill``) or record a log of
past uploads (``uploaded_at``).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from submission_fixtures import DAYS, securities, submission_csv, universe_members

from metasignal.data import Clock, ClockError
from metasignal.errors import DataValidationError
from metasignal.signals import RoundCalendar, RoundError, storage
from metasignal.signals.storage import (
    ModelExistsError,
    SubmissionNotFoundError,
    UnknownModelError,
    create_model,
    latest_submissions,
    list_models,
    list_submissions,
    late_submissions,
    on_time_submissions,
    store_submission,
    stored_submission,
    submissions_for_date,
    submit,
)
from metasignal.signals.submission import SubmissionError, parse_submission, validate_submission

SECURITIES = securities()
MEMBERS = list(universe_members(DAYS[-1]))  # members on every day
ROUND, NEXT_ROUND = DAYS[4], DAYS[7]
WEEKLY = RoundCalendar("weekly")
ON_TIME = {day: WEEKLY.round_of(day).opens + pd.Timedelta(hours=1) for day in (ROUND, NEXT_ROUND)}


def _counts(store) -> tuple[int, int, int]:
    storage.ensure_tables(store)
    return tuple(
        store.con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in ("models", "submissions", "submission_values")
    )


def _csv(values=None, tickers=None, **kwargs) -> bytes:
    return submission_csv(MEMBERS[:120] if tickers is None else tickers, values, **kwargs)


# --------------------------------------------------------------------------- models
def test_create_and_list_models(submission_store):
    record = create_model(submission_store, "alpha", owner="ann")
    create_model(submission_store, "beta-2.v1")
    models = list_models(submission_store)
    assert models["name"].tolist() == ["alpha", "beta-2.v1"]
    assert models["owner"].iloc[0] == "ann" and record.owner == "ann"
    assert models["n_dates"].tolist() == [0, 0]


def test_duplicate_model_is_rejected(submission_store):
    create_model(submission_store, "alpha")
    with pytest.raises(ModelExistsError, match="'alpha' already exists"):
        create_model(submission_store, "alpha")
    assert _counts(submission_store)[0] == 1


@pytest.mark.parametrize("name", ["", " x", "a b", "-lead", "x" * 65, "drop;table"])
def test_invalid_model_names(submission_store, name):
    with pytest.raises(DataValidationError, match="invalid model name"):
        create_model(submission_store, name)


def test_submitting_to_an_unknown_model_fails_before_reading(submission_store):
    with pytest.raises(UnknownModelError, match="unknown model 'ghost'"):
        submit(submission_store, "ghost", _csv())
    assert _counts(submission_store) == (0, 0, 0)


# --------------------------------------------------------------------------- store and read
def test_stored_signal_reads_back_exactly(round_store):
    submission_store = round_store
    create_model(submission_store, "alpha")
    values = np.random.default_rng(1).random(120)
    receipt = submit(submission_store, "alpha", _csv(values, MEMBERS[:118] + ["NOPE US", "ZZZZ US"]), date=ROUND,
                     filename="mine.csv")
    assert receipt.n_accepted == 118 and receipt.n_dropped == 2
    assert receipt.dropped_ids == ("NOPE US", "ZZZZ US")
    (entry,) = receipt.entries
    assert (entry.date, entry.version, entry.new_version, entry.status) == (ROUND, 1, True, "on_time")
    stored = stored_submission(submission_store, "alpha", ROUND)
    expected = pd.Series(values[:118], index=MEMBERS[:118]).sort_index()
    assert stored.name == "alpha" and stored.index.name == "ticker"
    np.testing.assert_array_equal(stored.to_numpy(), expected.to_numpy())
    assert list(stored.index) == list(expected.index)
    row = list_submissions(submission_store, "alpha").iloc[0]
    assert (row["source"], row["id_column"], row["n_accepted"], row["n_dropped"]) == ("mine.csv", "numerai_ticker", 118, 2)


def test_reupload_supersedes_and_keeps_history(round_store):
    submission_store = round_store
    create_model(submission_store, "alpha")
    first, second = np.linspace(0, 1, 120), np.linspace(1, 0, 120)
    submit(submission_store, "alpha", _csv(first), date=ROUND)
    receipt = submit(submission_store, "alpha", _csv(second), date=ROUND)
    assert receipt.entries[0].version == 2 and receipt.entries[0].new_version
    current = stored_submission(submission_store, "alpha", ROUND)
    old = stored_submission(submission_store, "alpha", ROUND, version=1)
    by_ticker = dict(zip(MEMBERS[:120], second))
    assert np.allclose(current.to_numpy(), [by_ticker[t] for t in current.index])
    by_ticker = dict(zip(MEMBERS[:120], first))
    assert np.allclose(old.to_numpy(), [by_ticker[t] for t in old.index])
    listed = list_submissions(submission_store)
    assert listed[["version", "current"]].values.tolist() == [[1, False], [2, True]]
    assert list_submissions(submission_store, current_only=True)["version"].tolist() == [2]
    # the old content again is a change from the current version: a third version
    assert submit(submission_store, "alpha", _csv(first), date=ROUND).entries[0].version == 3


def test_identical_reupload_adds_no_version_even_with_another_id_column(round_store):
    submission_store = round_store
    create_model(submission_store, "alpha")
    values = np.linspace(0, 1, 120)
    submit(submission_store, "alpha", _csv(values), date=ROUND)
    before = _counts(submission_store)
    bloomberg = SECURITIES.loc[MEMBERS[:120], "bloomberg_ticker"]
    receipt = submit(submission_store, "alpha", _csv(values, bloomberg, column="bloomberg_ticker"), date=ROUND)
    assert receipt.entries[0].version == 1 and not receipt.entries[0].new_version
    assert _counts(submission_store) == before


def test_multi_date_file_versions_each_date(submission_store):
    create_model(submission_store, "alpha")
    submit(submission_store, "alpha", _csv(np.linspace(0, 1, 120), date=DAYS[1]), backfill=True)
    data = _csv(np.linspace(0, 1, 120), date=DAYS[1]) + _csv(np.linspace(1, 0, 120), date=DAYS[2]).split(b"\n", 1)[1]
    receipt = submit(submission_store, "alpha", data, backfill=True)
    assert [(e.date, e.version, e.new_version) for e in receipt.entries] == [(DAYS[1], 1, False), (DAYS[2], 1, True)]
    assert receipt.to_dict()["dates"][1] == {"date": "2024-01-03", "version": 1, "new_version": True,
                                             "n_accepted": 120, "n_dropped": 0, "status": "backfill",
                                             "deadline": None, "queued_for": None}


def test_submissions_for_date_is_ticker_by_model_of_current_versions(round_store):
    submission_store = round_store
    for name in ("b_model", "a_model"):
        create_model(submission_store, name)
    submit(submission_store, "a_model", _csv(np.linspace(0, 1, 120)), date=DAYS[4])
    submit(submission_store, "a_model", _csv(np.linspace(1, 0, 120)), date=DAYS[4])
    submit(submission_store, "b_model", _csv(np.linspace(0, 1, 110), MEMBERS[10:120]), date=DAYS[4])
    wide = submissions_for_date(submission_store, DAYS[4])
    assert list(wide.columns) == ["a_model", "b_model"]
    assert list(wide.index) == sorted(MEMBERS[:120])
    pd.testing.assert_series_equal(wide["a_model"], stored_submission(submission_store, "a_model", DAYS[4]), check_names=False)
    assert wide["b_model"].isna().sum() == 10
    assert submissions_for_date(submission_store, DAYS[5]).empty


def test_as_of_sees_only_versions_uploaded_by_then(submission_store):
    # two past uploads to ROUND (opened 2024-01-06 12:00 UTC), recorded at their times
    create_model(submission_store, "alpha")
    t1, t2 = pd.Timestamp("2024-01-06 13:00"), pd.Timestamp("2024-01-06 15:00")
    submit(submission_store, "alpha", _csv(np.linspace(0, 1, 120)), date=ROUND, uploaded_at=t1)
    submit(submission_store, "alpha", _csv(np.linspace(1, 0, 120)), date=ROUND, uploaded_at=t2)
    assert list_submissions(submission_store)["uploaded_at"].tolist() == [t1, t2]
    noon_minus = pd.Timestamp("2024-01-06 14:00")
    pd.testing.assert_series_equal(
        stored_submission(submission_store, "alpha", ROUND, as_of=noon_minus),
        stored_submission(submission_store, "alpha", ROUND, version=1),
    )
    wide = submissions_for_date(submission_store, ROUND, as_of=noon_minus)
    pd.testing.assert_series_equal(wide["alpha"], stored_submission(submission_store, "alpha", ROUND, version=1),
                                   check_names=False)
    with pytest.raises(SubmissionNotFoundError):
        stored_submission(submission_store, "alpha", ROUND, as_of="2024-01-06 12:30")
    # a time-zone-aware as_of is converted to UTC
    tz = pd.Timestamp("2024-01-06 16:00", tz="Europe/Paris")  # 15:00 UTC
    assert stored_submission(submission_store, "alpha", ROUND, as_of=tz).equals(stored_submission(submission_store, "alpha", ROUND))


def test_latest_submissions_returns_the_last_n_dates_before(submission_store):
    create_model(submission_store, "alpha")
    for i, day in enumerate(DAYS[:7]):
        values = np.roll(np.linspace(0, 1, 120), i)
        submit(submission_store, "alpha", _csv(values), date=day, backfill=True)  # research history
    recent = latest_submissions(submission_store, "alpha", before=DAYS[6], n=3)
    assert list(recent.columns) == list(DAYS[3:6])
    pd.testing.assert_series_equal(recent[DAYS[5]], stored_submission(submission_store, "alpha", DAYS[5]), check_names=False)
    assert latest_submissions(submission_store, "alpha", before=DAYS[0]).empty


def test_reading_missing_submissions_is_a_clear_error(submission_store):
    create_model(submission_store, "alpha")
    with pytest.raises(SubmissionNotFoundError, match="'alpha' has no submission for 2024-01-02"):
        stored_submission(submission_store, "alpha", DAYS[1])
    with pytest.raises(UnknownModelError):
        stored_submission(submission_store, "ghost", DAYS[1])
    with pytest.raises(UnknownModelError):
        list_submissions(submission_store, "ghost")


def test_storage_reads_leave_no_open_result_on_the_connection(round_store):
    # duckdb 2: a half-fetched result blocks the connection's next register/query
    submission_store = round_store
    create_model(submission_store, "alpha")
    submit(submission_store, "alpha", _csv(), date=ROUND)
    tickers = MEMBERS[:3]
    assert len(stored_submission(submission_store, "alpha", ROUND)) == 120
    assert list(submission_store.panel("close", tickers=tickers).columns) == tickers
    with pytest.raises(SubmissionNotFoundError):
        stored_submission(submission_store, "alpha", DAYS[1])
    assert list(submission_store.panel("close", tickers=tickers).columns) == tickers
    with pytest.raises(ModelExistsError):
        create_model(submission_store, "alpha")
    assert list(submission_store.panel("close", tickers=tickers).columns) == tickers


# --------------------------------------------------------------------------- round statuses
def _at(store, time) -> None:
    store.set_clock(Clock("replay", pd.Timestamp(time)))


def test_an_upload_in_the_open_round_is_on_time_up_to_its_deadline(round_store):
    create_model(round_store, "alpha")
    deadline = pd.Timestamp("2024-01-07 14:00")
    receipt = submit(round_store, "alpha", _csv())  # no date: the open round's
    (entry,) = receipt.entries
    assert receipt.uploaded_at == round_store.now() == pd.Timestamp("2024-01-06 13:00")
    assert (entry.date, entry.status, entry.deadline, entry.queued_for) == (ROUND, "on_time", deadline, None)
    assert receipt.to_dict()["dates"][0]["deadline"] == "2024-01-07T14:00:00Z"
    _at(round_store, deadline)  # an upload at the deadline itself is on time
    at_deadline = submit(round_store, "alpha", _csv(np.linspace(1, 0, 120)), date=ROUND).entries[0]
    assert (at_deadline.version, at_deadline.status) == (2, "on_time")
    listed = list_submissions(round_store, "alpha")
    assert listed["status"].tolist() == ["on_time", "on_time"] and (listed["deadline"] == deadline).all()
    assert listed["uploaded_at"].tolist() == [pd.Timestamp("2024-01-06 13:00"), deadline]
    pd.testing.assert_series_equal(on_time_submissions(round_store, ROUND)["alpha"],
                                   stored_submission(round_store, "alpha", ROUND), check_names=False)
    assert late_submissions(round_store, ROUND).empty


def test_a_late_upload_is_queued_for_the_next_round_unless_the_model_has_its_own(round_store):
    for name in ("tardy", "diligent"):
        create_model(round_store, name)
    late, own = np.linspace(1, 0, 120), np.roll(np.linspace(0, 1, 120), 9)
    _at(round_store, "2024-01-07 14:00:01")  # a second after the deadline
    following = RoundCalendar.of(round_store).following_round(round_store, ROUND)
    for name in ("tardy", "diligent"):
        (entry,) = submit(round_store, name, _csv(late), date=ROUND).entries
        assert (entry.status, entry.deadline) == ("late", pd.Timestamp("2024-01-07 14:00"))
        # the next round's data date, projected: the store does not know its week ends on Wednesday yet
        assert entry.queued_for == following.data_date == pd.Timestamp("2024-01-12")
    assert list_submissions(round_store)["status"].tolist() == ["late", "late"]
    assert on_time_submissions(round_store, ROUND).empty  # not staked for its own round
    assert list(late_submissions(round_store, ROUND).columns) == ["diligent", "tardy"]  # scored without stake
    _at(round_store, ON_TIME[NEXT_ROUND])  # the next round (Wednesday 2024-01-10) is open
    assert RoundCalendar.of(round_store).open_round(round_store).data_date == NEXT_ROUND
    assert submit(round_store, "diligent", _csv(own)).entries[0].status == "on_time"
    staked = on_time_submissions(round_store, NEXT_ROUND)
    pd.testing.assert_series_equal(staked["tardy"], stored_submission(round_store, "tardy", ROUND), check_names=False)
    pd.testing.assert_series_equal(staked["diligent"], stored_submission(round_store, "diligent", NEXT_ROUND),
                                   check_names=False)  # its own upload, not the queued one
    assert not np.allclose(staked["diligent"], staked["tardy"])


def test_an_upload_after_the_next_rounds_deadline_is_refused_naming_the_open_round(submission_store):
    RoundCalendar("daily").save(submission_store)  # a round every store day, deadline 13:00 UTC the next day
    create_model(submission_store, "alpha")
    _at(submission_store, "2024-01-04 12:59")  # round 2024-01-03 open: round 2024-01-02 takes late uploads
    assert submit(submission_store, "alpha", _csv(), date=DAYS[1]).entries[0].status == "late"
    _at(submission_store, "2024-01-05 12:30")  # round 2024-01-04 open, past round 2024-01-03's deadline
    before = _counts(submission_store)
    with pytest.raises(RoundError, match=r"round 2024-01-02 is closed.*the open round is 2024-01-04"):
        submit(submission_store, "alpha", _csv(np.linspace(1, 0, 120)), date=DAYS[1])
    assert _counts(submission_store) == before


def test_a_date_that_is_not_an_open_round_is_refused(round_store):
    create_model(round_store, "alpha")
    with pytest.raises(RoundError, match="2024-01-04 is not a round of the weekly calendar that has opened: "
                                         "the open round is 2024-01-05"):
        submit(round_store, "alpha", _csv(), date=DAYS[3])  # a Thursday
    _at(round_store, "2024-01-06 11:59")  # Friday's data are known, its round opens at noon
    with pytest.raises(RoundError, match="the next round opens 2024-01-06 12:00 UTC"):
        submit(round_store, "alpha", _csv(), date=ROUND)
    assert _counts(round_store) == (1, 0, 0)


def test_a_multi_date_live_upload_is_refused_naming_backfill(submission_store):
    create_model(submission_store, "alpha")
    data = _csv(date=ROUND) + _csv(np.linspace(1, 0, 120), date=NEXT_ROUND).split(b"\n", 1)[1]
    with pytest.raises(RoundError, match=r"holds 2 dates \(2024-01-05 to 2024-01-10\).*submit --backfill"):
        submit(submission_store, "alpha", data)
    assert _counts(submission_store) == (1, 0, 0)
    # a log of past uploads, one time per date, is a history of live uploads
    receipt = submit(submission_store, "alpha", data, uploaded_at=pd.Series(ON_TIME))
    assert [e.status for e in receipt.entries] == ["on_time", "on_time"]
    assert list_submissions(submission_store)["uploaded_at"].tolist() == [ON_TIME[ROUND], ON_TIME[NEXT_ROUND]]


def test_a_backfill_is_research_history_never_staked(submission_store):
    create_model(submission_store, "alpha")
    data = _csv(np.linspace(0, 1, 120), date=DAYS[0]) + b"".join(  # every store day, rounds or not
        _csv(np.roll(np.linspace(0, 1, 120), i), date=day).split(b"\n", 1)[1] for i, day in enumerate(DAYS) if i)
    receipt = submit(submission_store, "alpha", data, backfill=True)
    assert [(e.date, e.status, e.deadline, e.queued_for) for e in receipt.entries] == [
        (day, "backfill", None, None) for day in DAYS]
    assert (list_submissions(submission_store)["status"] == "backfill").all()
    for day in (ROUND, NEXT_ROUND):
        assert on_time_submissions(submission_store, day).empty and late_submissions(submission_store, day).empty
    assert len(submissions_for_date(submission_store, ROUND).columns) == 1  # readable as research data
    # the same content uploaded on time for the round is a new, staked version
    round_content = stored_submission(submission_store, "alpha", ROUND)
    entry = submit(submission_store, "alpha", _csv(np.roll(np.linspace(0, 1, 120), 4)), date=ROUND,
                   uploaded_at=ON_TIME[ROUND]).entries[0]
    assert (entry.version, entry.new_version, entry.status) == (2, True, "on_time")
    pd.testing.assert_series_equal(on_time_submissions(submission_store, ROUND)["alpha"], round_content,
                                   check_names=False)


def test_an_upload_time_after_the_clock_is_refused(round_store):
    create_model(round_store, "alpha")
    later = round_store.now() + pd.Timedelta(minutes=1)
    with pytest.raises(ClockError, match="is after the store clock"):
        submit(round_store, "alpha", _csv(), date=ROUND, uploaded_at=later)
    with pytest.raises(ClockError, match="is after the store clock"):
        submit(round_store, "alpha", _csv(), date=ROUND, uploaded_at=pd.Series({ROUND: later}))
    assert _counts(round_store) == (1, 0, 0)
    assert submit(round_store, "alpha", _csv(), date=ROUND, uploaded_at=round_store.now()).entries[0].status == "on_time"


# --------------------------------------------------------------------------- atomicity
@pytest.mark.parametrize(
    "data, rule",
    [
        (b"ticker,signal\nA,0.5\nB,x\n", "non_numeric"),
        (submission_csv(MEMBERS[:50]), "too_few_tickers"),
        (submission_csv(MEMBERS[:120], np.full(120, 0.3)), "constant_signal"),
        (submission_csv(MEMBERS[:120] + MEMBERS[:1]), "duplicate_ticker"),
        (submission_csv(MEMBERS[:120], date="2024-01-06"), "not_trading_day"),
        (b"", "empty_file"),
    ],
    ids=["non_numeric", "too_few_tickers", "constant_signal", "duplicate_ticker", "not_trading_day", "empty_file"],
)
def test_bad_input_leaves_the_store_unchanged(round_store, data, rule):
    submission_store = round_store
    create_model(submission_store, "alpha")
    submit(submission_store, "alpha", _csv(), date=ROUND)
    before = _counts(submission_store)
    with pytest.raises(SubmissionError) as caught:
        submit(submission_store, "alpha", data, date=ROUND)
    assert caught.value.rule == rule
    assert _counts(submission_store) == before


def test_failure_mid_write_leaves_no_partial_submission(submission_store, monkeypatch):
    create_model(submission_store, "alpha")
    submit(submission_store, "alpha", _csv(np.linspace(0, 1, 120)), date=DAYS[0], backfill=True)
    before = _counts(submission_store)
    real_insert = storage._insert_values

    def crash_halfway(con, model, values, versions):
        real_insert(con, model, values.slice(0, len(values) // 2), versions)  # half the rows really reach the table
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(storage, "_insert_values", crash_halfway)
    data = _csv(np.linspace(0, 1, 120), date=DAYS[1]) + _csv(np.linspace(1, 0, 120), date=DAYS[0]).split(b"\n", 1)[1]
    with pytest.raises(RuntimeError, match="disk on fire"):
        submit(submission_store, "alpha", data, backfill=True)
    assert _counts(submission_store) == before
    assert list_submissions(submission_store)["version"].tolist() == [1]
    monkeypatch.setattr(storage, "_insert_values", real_insert)
    receipt = submit(submission_store, "alpha", data, backfill=True)
    assert [(e.date, e.version) for e in receipt.entries] == [(DAYS[0], 2), (DAYS[1], 1)]
    assert _counts(submission_store)[2] == before[2] + 240


def test_a_store_transaction_around_it_rolls_back_too(round_store):
    submission_store = round_store
    create_model(submission_store, "alpha")
    before = _counts(submission_store)
    with pytest.raises(KeyError):
        with submission_store.transaction():
            submit(submission_store, "alpha", _csv(), date=ROUND)
            raise KeyError("caller failed after the upload")
    assert _counts(submission_store) == before


# --------------------------------------------------------------------------- properties
_contents = [np.linspace(0, 1, 120), np.linspace(1, 0, 120), np.roll(np.linspace(0, 1, 120), 7)]
_names = itertools.count()
_validated = {
    (content, day): validate_submission(
        parse_submission(_csv(_contents[content])), tickers=SECURITIES, universe=universe_members,
        date=(ROUND, NEXT_ROUND)[day],
    )
    for content in range(3)
    for day in range(2)
}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(uploads=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 1)), min_size=1, max_size=5))
def test_versions_count_content_changes_and_identical_reuploads_are_idempotent(submission_store, uploads):
    """uploads: (content index, round index) pairs, each recorded as uploaded on time for its
    round. A version is added exactly when a round's content differs from its current one;
    re-uploading the current content changes nothing."""
    model = f"m{next(_names)}"
    create_model(submission_store, model)
    expected_versions: dict[int, list[int]] = {0: [], 1: []}
    for content, day in uploads:
        validated = _validated[content, day]
        uploaded_at = ON_TIME[(ROUND, NEXT_ROUND)[day]]
        receipt = store_submission(submission_store, model, validated, uploaded_at)
        assert receipt.entries[0].status == "on_time"
        history = expected_versions[day]
        changed = not history or history[-1] != content
        if changed:
            history.append(content)
        assert receipt.entries[0].new_version == changed
        assert receipt.entries[0].version == len(history)
        before = _counts(submission_store)
        again = store_submission(submission_store, model, validated, uploaded_at)  # identical re-upload
        assert not again.entries[0].new_version and again.entries[0].version == len(history)
        assert _counts(submission_store) == before
    listed = list_submissions(submission_store, model)
    for day, history in expected_versions.items():
        of_day = listed[listed["date"] == (ROUND, NEXT_ROUND)[day]]
        assert len(of_day) == len(history)
        if history:
            current = stored_submission(submission_store, model, (ROUND, NEXT_ROUND)[day])
            expected = pd.Series(_contents[history[-1]], index=MEMBERS[:120]).sort_index()
            np.testing.assert_array_equal(current.to_numpy(), expected.to_numpy())
    values = submission_store.con.execute(
        "SELECT count(*) - count(DISTINCT (date, version, ticker)) FROM submission_values WHERE model = ?", [model]
    ).fetchone()[0]
    assert values == 0  # (model, date, version, ticker) is unique
