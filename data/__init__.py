"""Market data: the DuckDB store, its sources and the point-in-time tables derived from it.

The ground floor of the engine. Everything lives in one DuckDB file (:class:`Store`); the
synthetic market is the embedded default source (:func:`generate_store`), real bars come
from yfinance (:func:`fetch`) or files (:func:`import_file`). Derived tables (returns, ADV,
market cap, style exposures, universe, sample weights, binned targets) are computed from
stored bars with data known at each date only.

    from metasignal.data import Store, SyntheticConfig, generate_store

    with Store("market.duckdb") as store:
        generate_store(store, SyntheticConfig(n_tickers=500, years=2))
        targets = store.targets(store.trading_days()[-30])

Constants: ``DEFAULT_DB`` (the store file used when none is given, ``metasignal.duckdb``),
``DB_ENV`` (the environment variable naming it, ``METASIGNAL_DB``), ``STYLE_FACTORS`` (the
style exposures stored per name and date), ``EXAMPLE_MODELS`` and ``EXAMPLE_STAKES`` (the
example models' names and starting stakes), ``TRADING_DAYS_PER_YEAR`` (252, the
annualization convention). ``CLOCK_MODES`` (``live``, ``replay``: the store clock's modes),
``MARKET_CLOSE_UTC`` (each country's close as a UTC time of day) and ``DATA_READY_UTC``
(22:00, when a store day's data are known), see :mod:`metasignal.data.markets`.
``DEFAULT_WINDOW`` (``20D2L``), ``LONG_WINDOW`` (``60D2L``) and ``TARGET_WINDOWS`` (both: the
target windows a store derives), see :mod:`metasignal.data.targets`. ``DateLike``: the type of every date argument (a string such as
``"2024-06-28"``, a ``datetime.date``, a ``numpy.datetime64`` or a ``pandas.Timestamp``).
"""

from metasignal.data._atomic_write import atomic_write
from metasignal.data.blas import blas_threads, default_blas_threads, limits_blas_threads
from metasignal.data.calendar import TRADING_DAYS_PER_YEAR, DateLike, read_day
from metasignal.data.clock import CLOCK_MODES, Clock, utc_naive
from metasignal.data.derive import derive_store
from metasignal.data.example_models import EXAMPLE_MODELS, EXAMPLE_STAKES, example_signals
from metasignal.data.file_loader import import_file, read_table, validate_bars, validate_securities
from metasignal.data.generate import generate_store
from metasignal.data.markets import DATA_READY_UTC, MARKET_CLOSE_UTC, close_times, data_known_at, first_close_after
from metasignal.data.neutralizers import exposure_matrix, neutralizer_matrix
from metasignal.data.schema import STYLE_FACTORS
from metasignal.data.store import DB_ENV, DEFAULT_DB, Store, resolve_db_path
from metasignal.data.synthetic import SyntheticConfig, SyntheticMarket
from metasignal.data.targets import (
    DEFAULT_WINDOW,
    LONG_WINDOW,
    TARGET_WINDOWS,
    bin_targets,
    parse_window,
    window_length,
    window_returns,
)
from metasignal.data.yfinance_loader import FetchReport, fetch
from metasignal.errors import ClockError, DataValidationError, NetworkError, StoreError, UnknownTickerError

__all__ = [
    "CLOCK_MODES",
    "DATA_READY_UTC",
    "DB_ENV",
    "DEFAULT_DB",
    "EXAMPLE_MODELS",
    "EXAMPLE_STAKES",
    "MARKET_CLOSE_UTC",
    "STYLE_FACTORS",
    "TRADING_DAYS_PER_YEAR",
    "Clock",
    "ClockError",
    "DEFAULT_WINDOW",
    "LONG_WINDOW",
    "TARGET_WINDOWS",
    "DataValidationError",
    "DateLike",
    "FetchReport",
    "NetworkError",
    "Store",
    "StoreError",
    "SyntheticConfig",
    "SyntheticMarket",
    "UnknownTickerError",
    "atomic_write",
    "bin_targets",
    "blas_threads",
    "close_times",
    "data_known_at",
    "default_blas_threads",
    "derive_store",
    "example_signals",
    "exposure_matrix",
    "fetch",
    "first_close_after",
    "generate_store",
    "import_file",
    "limits_blas_threads",
    "neutralizer_matrix",
    "parse_window",
    "read_day",
    "read_table",
    "resolve_db_path",
    "utc_naive",
    "validate_bars",
    "validate_securities",
    "window_length",
    "window_returns",
]
