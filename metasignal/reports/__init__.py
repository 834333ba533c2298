"""Presentation: plotly figures and self-contained HTML pages built from the engine's results."""
