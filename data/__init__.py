"""Market data: sources (synthetic, yfinance, files), the DuckDB store, and derived tables.

Importing the engine sets single-threaded BLAS unless the environment says otherwise
(``METASIGNAL_BLAS_THREADS``, or ``OPENBLAS_NUM_THREADS`` and friends set by you): its linear
algebra is thousands of small per-era problems, where BLAS threads only contend (measured
10-100x slower under contention). This only takes effect when numpy is not loaded yet.
"""

import os as _os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_variable, _os.environ.get("METASIGNAL_BLAS_THREADS", "1"))
