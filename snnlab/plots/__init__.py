"""Plotly figures for the study. Every function returns a ``go.Figure`` (or ``go.FigureWidget``) and never shows it."""

from snnlab.plots.style import METHOD_COLORS, TEMPLATE, method_color

__all__ = ["METHOD_COLORS", "TEMPLATE", "method_color"]
