"""Market data: sources (synthetic, yfinance, files), the DuckDB store, and derived tables."""
