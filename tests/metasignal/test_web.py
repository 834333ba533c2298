"""The web pages (metasignal.web) in process: content, status codes, sign-in and privacy.

The store is the small synthetic market with the example models' on-time history of ~10
weekly rounds, every round resolved (tests/backtest/conftest.py), the fund job's books of the
last three rounds, and three users: ``examples`` (owns the example models), ``bob`` (owns
``bobs_model``) and ``ops`` (an operator).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import numpy as np
import pytest
from fastapi.testclient import TestClient

from metasignal.api import create_app
from metasignal.backtest import leaderboard, resolve_rounds, run_fund_job
from metasignal.data.example_models import example_signals
from metasignal.data.store import Store
from metasignal.signals import RoundCalendar, storage
from metasignal.signals.accounts import audit_log, create_user, ensure_tables
from metasignal.web import install_web
from metasignal.web.layout import Column, Viewer, data_table
from metasignal.web.sessions import COOKIE, WebSessions
from tests.backtest.conftest import csv_bytes, make_tournament

KEYS: dict[str, str] = {}  # user -> API key of the template store
PRIVATE = "Submissions (visible to you only)"


@pytest.fixture(scope="session")
def web_template(small_store_path, tmp_path_factory) -> Path:
    """The tournament store of the module docstring, built once per session."""
    path = tmp_path_factory.mktemp("web") / "web.duckdb"
    shutil.copy(small_store_path, path)
    with Store.open(path) as store:
        days = store.trading_days()
        dates = make_tournament(store, days[260], days[330])
        assert resolve_rounds(store)
        calendar = RoundCalendar.of(store)
        for day in dates[-3:]:
            run_fund_job(store, calendar.round_of(day))
        ensure_tables(store)
        for name, role in (("examples", "participant"), ("bob", "participant"), ("ops", "operator")):
            KEYS[name] = create_user(store, name, role)[1]
        storage.create_model(store, "bobs_model", owner="bob")
    return path


@pytest.fixture
def web_db(web_template, tmp_path) -> Path:
    path = tmp_path / "web.duckdb"
    shutil.copy(web_template, path)
    return path


@pytest.fixture
def client(web_db):
    app = create_app(web_db)
    install_web(app, app.state.service)
    with TestClient(app) as test_client:
        yield test_client


def sign_in(client: TestClient, user: str, next_path: str = "/") -> None:
    reply = client.post("/signin", data={"key": KEYS[user], "next": next_path}, follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == next_path


def _cells(page: str, table_id: str, column: int) -> list[str]:
    """The text of column ``column`` in each body row of table ``table_id``."""
    body = page.split(f'id="{table_id}"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body)
    return [re.sub(r"<[^>]+>", "", re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)[column]) for row in rows]


def test_the_leaderboard_lists_every_scored_model_in_payout_order(client, web_db):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    with Store.open(web_db) as store:
        expected = list(leaderboard(store)["model"])
    assert len(expected) == 7
    assert _cells(page.text, "leaderboard", 1) == expected
    assert _cells(page.text, "leaderboard", 0) == [str(n) for n in range(1, 8)]
    assert '<th scope="col" class="num" data-type="num" aria-sort="none" data-key="stake">' in page.text
    assert page.text.count('<th scope="row"') == 7
    assert 'href="/models/skilled"' in page.text
    assert "Not scored yet" in page.text and 'href="/models/bobs_model"' in page.text
    assert "Content-Security-Policy" in page.headers or "content-security-policy" in page.headers
    assert "default-src 'self'" in page.headers["content-security-policy"]


def _interval_text(board, metric: str) -> list[str]:
    """What the CLI prints for ``metric`` (metasignal leaderboard): mean ±half-width, ~0 when not significant
    (after a no-break space on the page)."""
    from metasignal.backtest.inference import format_interval

    return [format_interval(0.0 if abs(m) < 5e-5 else m, h) + ("\u00a0~0" if ns and np.isfinite(h) else "")
            for m, h, ns in zip(board[metric], board[f"{metric}_ci"], board[f"{metric}_ns"])]


def test_leaderboard_and_model_page_show_the_hac_intervals_and_the_zero_marks(client, web_db):
    page = client.get("/").text
    with Store.open(web_db) as store:
        board = leaderboard(store)
    header = re.findall(r'data-key="([^"]+)"', page.split('id="leaderboard"', 1)[1].split("</thead>", 1)[0])
    for metric in ("corr", "mmc", "fnc", "alpha", "mpc"):
        cells = _cells(page, "leaderboard", header.index(metric))
        assert cells == _interval_text(board, metric), metric
    assert any(c.endswith("\u00a0~0") for c in _cells(page, "leaderboard", header.index("corr")))  # noise is ~0
    assert all("±" in c for c in _cells(page, "leaderboard", header.index("corr")))
    assert "not distinguishable from zero at 5 %" in page
    # the cell still sorts by the mean
    assert f'data-value="{float(board["corr"].iloc[0])!r}"' in page
    model = client.get("/models/noise").text
    row = board[board["model"] == "noise"].iloc[0]
    assert _cells(model, "model-means", 0) == ["corr", "mmc", "fnc", "alpha", "mpc"]
    assert _cells(model, "model-means", 1)[0] == _interval_text(board[board["model"] == "noise"], "corr")[0]
    assert _cells(model, "model-means", 2)[0] == f"{row['corr_t']:.2f}"
    assert _cells(model, "model-means", 3)[0] == ("no (~0)" if row["corr_ns"] else "yes")


def test_pages_name_no_outside_url_and_their_assets_are_served(client):
    for path in ("/", "/models/skilled", "/rounds", "/fund", "/signin"):
        page = client.get(path).text
        outside = [u for u in re.findall(r"https?://[^\s\"'<>]+", page) if not u.startswith("http://www.w3.org/")]
        assert outside == [], path
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page):
            assert client.get(asset).status_code == 200, asset
    script = client.get("/static/plotly.min.js")
    assert script.status_code == 200 and len(script.content) > 1_000_000 and b"plotly" in script.content[:2000].lower()
    again = client.get("/static/plotly.min.js", headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304


def test_a_model_page_shows_its_rounds_scores_and_stake_history(client, web_db):
    page = client.get("/models/skilled")
    assert page.status_code == 200
    with Store.open(web_db) as store:
        from metasignal.backtest import round_results
        results = round_results(store, model="skilled")
    assert _cells(page.text, "model-rounds", 0) == [d.date().isoformat() for d in results["round_date"]]
    assert "Cumulative scores of skilled" in page.text and "Plotly.newPlot" in page.text
    for header in ("corr", "mmc", "fnc", "alpha", "mpc", "churn &lt; 0.15", "turnover &lt;", "Eligible", "Percentile"):
        assert header in page.text
    assert "Stake ledger of skilled" in page.text and "deposit" in page.text and "payout" in page.text
    assert client.get("/models/nobody").status_code == 404


def test_the_private_section_is_for_the_owner_and_operators_only(client):
    anonymous = client.get("/models/skilled").text
    assert PRIVATE not in anonymous and "model-submissions" not in anonymous
    assert "submissions are private" in anonymous and "/signin?next=/models/skilled" in anonymous

    sign_in(client, "bob", "/models/skilled")
    other = client.get("/models/skilled").text
    assert "Signed in as <strong>bob</strong>" in other
    assert PRIVATE not in other and "model-submissions" not in other and ".csv" not in other

    sign_in(client, "examples", "/models/skilled")
    owner = client.get("/models/skilled").text
    assert PRIVATE in owner and 'id="model-submissions"' in owner and "skilled.csv" in owner
    assert len(_cells(owner, "model-submissions", 0)) > 5

    sign_in(client, "ops")
    assert PRIVATE in client.get("/models/skilled").text


def test_sign_in_keeps_a_random_session_id_not_the_key(client):
    wrong = client.post("/signin", data={"key": "msk_0000000000000000_" + "x" * 43})
    assert wrong.status_code == 401 and "Sign in" in wrong.text and COOKIE not in client.cookies
    reply = client.post("/signin", data={"key": KEYS["bob"], "next": "//evil.example/"}, follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == "/"  # no open redirect
    cookie = reply.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    session_id = client.cookies[COOKIE]
    assert KEYS["bob"] not in cookie and KEYS["bob"].split("_")[2] not in cookie and len(session_id) >= 40
    assert client.app.state.web.sessions.get(session_id).user.name == "bob"

    page = client.get("/").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert client.post("/signout", data={"csrf": "forged"}).status_code == 403
    assert client.app.state.web.sessions.get(session_id) is not None
    out = client.post("/signout", data={"csrf": token}, follow_redirects=False)
    assert out.status_code == 303 and client.app.state.web.sessions.get(session_id) is None
    client.cookies.set(COOKIE, session_id)  # a stolen cookie of an ended session reads nothing private
    assert "Signed in as" not in client.get("/").text


def test_sessions_expire_and_are_bounded():
    sessions = WebSessions(ttl=0.0, max_sessions=2)
    from metasignal.signals.accounts import User
    first = sessions.create(User("a", "participant"))
    assert sessions.get(first.id) is None  # expired at once
    bounded = WebSessions(max_sessions=2)
    made = [bounded.create(User(n, "participant")) for n in "abc"]
    assert bounded.get(made[0].id) is None and bounded.get(made[2].id).user.name == "c" and len(bounded) == 2
    assert made[2].form_token_ok(made[2].csrf) and not made[2].form_token_ok(made[1].csrf)


def test_round_pages_show_status_deadline_factor_and_results(client, web_db):
    with Store.open(web_db) as store:
        from metasignal.backtest import rounds_table, round_results
        paid = rounds_table(store).iloc[-1]
        results = round_results(store, paid["round_date"])
    day = paid["round_date"].date().isoformat()
    index = client.get("/rounds").text
    assert f'href="/rounds/{day}"' in index and "paid" in index
    page = client.get(f"/rounds/{day}")
    assert page.status_code == 200 and f"Round {day}" in page.text
    assert "payout factor" in page.text and f"{paid['payout_factor']:.4f}" in page.text
    assert "deadline" in page.text and "Sunday" not in page.text
    shown = _cells(page.text, "round-results", 0)
    assert sorted(shown) == sorted(results["model"])
    payouts = [float(cell.replace(",", "")) for cell in _cells(page.text, "round-results", -1)]
    assert payouts == sorted(payouts, reverse=True) and max(payouts) == pytest.approx(results["payout"].max(), abs=0.01)
    assert client.get("/rounds/2021-04-03").status_code == 404  # a Saturday: no round
    assert client.get("/rounds/not-a-date").status_code == 404


def test_the_fund_page_shows_the_stored_books_and_says_what_it_does_not_show(client, web_db):
    page = client.get("/fund")
    assert page.status_code == 200
    with Store.open(web_db) as store:
        books = store.con.execute("SELECT date FROM portfolio_runs ORDER BY date").fetch_df()["date"]
    last = pd.Timestamp(books.iloc[-1]).date().isoformat()
    assert f"Latest stored book ({last})" in page.text
    assert _cells(page.text, "fund-books", 0) == [pd.Timestamp(d).date().isoformat() for d in books[::-1]]
    for part in ("Net weight by sector", "Net weight by country", "Largest longs", "Largest shorts",
                 "Largest drawdowns", "before costs", "It computes no book", "not shown here", "Executions of round"):
        assert part in page.text, part
    assert page.text.count("Plotly.newPlot") == 2


def test_the_fund_page_of_a_store_without_books_says_so(tmp_path, small_store_path):
    path = tmp_path / "bare.duckdb"
    shutil.copy(small_store_path, path)
    app = create_app(path)
    install_web(app, app.state.service)
    with TestClient(app) as client:
        assert "No book is stored yet" in client.get("/fund").text
        board = client.get("/")
        assert board.status_code == 200 and "no round has been paid yet" in board.text


def test_submit_needs_a_session_and_uses_the_api_upload(client, web_db):
    assert client.get("/submit", follow_redirects=False).headers["location"] == "/signin?next=/submit"
    sign_in(client, "bob")
    form = client.get("/submit").text
    assert '<option value="bobs_model">' in form and "skilled" not in form  # only bob's models
    token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    once = re.search(r'name="idempotency" value="([^"]+)"', form).group(1)
    with Store.open(web_db) as store:
        day = store.trading_days()[300]
        data = csv_bytes(example_signals(store, day, models=("skilled",))["skilled"], date=day)
    fields = {"model": "bobs_model", "backfill": "true", "csrf": token, "idempotency": once}
    stored = client.post("/submit", data=fields, files={"file": ("mine.csv", data, "text/csv")})
    assert stored.status_code == 200 and "Stored for" in stored.text and "backfill" in stored.text
    assert _cells(stored.text, "receipt", 0) == [day.date().isoformat()]
    again = client.post("/submit", data=fields, files={"file": ("mine.csv", data, "text/csv")})
    assert "the original receipt" in again.text  # the same form twice: one upload
    refused = client.post("/submit", data={**fields, "model": "skilled", "idempotency": "other"},
                          files={"file": ("mine.csv", data, "text/csv")})
    assert refused.status_code == 403 and "Not stored" in refused.text
    forged = client.post("/submit", data={**fields, "csrf": "nope"}, files={"file": ("mine.csv", data, "text/csv")})
    assert forged.status_code == 403
    bad = client.post("/submit", data={**fields, "idempotency": "x2"}, files={"file": ("bad.csv", b"a,b\n1,2\n", "text/csv")})
    assert bad.status_code == 422 and "Not stored" in bad.text
    store = client.app.state.service.session()
    uploads = storage.list_submissions(store, "bobs_model")
    assert len(uploads) == 1 and uploads["source"].iloc[0] == "mine.csv"
    assert (audit_log(store)["action"] == "upload").sum() == 1  # audited by the API's own handler


def test_tables_escape_text_and_carry_sort_values():
    viewer = Viewer()
    html = data_table([Column("name", "Name"), Column("x", "X", "num", more=True)],
                      [{"name": "<b>&", "x": 0.5}, {"name": "n", "x": float("nan")}],
                      caption="T", viewer=viewer, table_id="t")
    assert "&lt;b&gt;&amp;" in html and "<b>&" not in html
    assert 'data-value="0.5"' in html and 'data-value=""' in html and "–" in html
    assert 'data-wide-for="t"' in html and 'class="num more"' in html


def test_install_web_twice_adds_nothing(web_db):
    app = create_app(web_db)
    first = install_web(app, app.state.service)
    count = len(app.routes)
    assert install_web(app, app.state.service) is first and len(app.routes) == count
    with TestClient(app) as client:
        assert client.get("/health").json()["status"] == "ok"  # the API is untouched
        assert "/fund" not in client.get("/openapi.json").json()["paths"]
