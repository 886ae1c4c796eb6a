"""Plotly figures for the study. Every function returns a ``go.Figure`` (or ``go.FigureWidget``) and never shows it."""

from snnlab.plots.style import TEMPLATE, method_color, method_colors
from snnlab.plots.neurons import (
    ann_vs_snn_figure,
    hh_lif_figure,
    image_figure,
    kernel_figure,
    lif_compare_figure,
    lif_trace_figure,
    penalty_trace_figure,
    raster_grid_figure,
    rate_histogram_figure,
)
from snnlab.plots.dropout import (
    mask_raster_figure,
    mask_snapshot_figure,
    mask_stats_figure,
    next_layer_effect_figure,
    output_values_figure,
    sparsity_figure,
)

from snnlab.plots.mask_averaging import equivalent_p_figure, noise_vs_T_figure, training_vs_p_figure
from snnlab.plots.uncertainty import pareto_figure, reliability_figure
from snnlab.plots.results import (
    bars_figure,
    curves_figure,
    importance_scatter_figure,
    mean_std,
    membership_heatmap,
    metric_vs_p_figure,
    paired_forest_figure,
    probability_map_figure,
    stability_figure,
    top_ids_figure,
)

__all__ = [
    "equivalent_p_figure",
    "noise_vs_T_figure",
    "training_vs_p_figure",
    "pareto_figure",
    "reliability_figure",
    "TEMPLATE",
    "method_color",
    "method_colors",
    "ann_vs_snn_figure",
    "hh_lif_figure",
    "image_figure",
    "kernel_figure",
    "lif_compare_figure",
    "lif_trace_figure",
    "penalty_trace_figure",
    "raster_grid_figure",
    "rate_histogram_figure",
    "mask_raster_figure",
    "mask_snapshot_figure",
    "mask_stats_figure",
    "next_layer_effect_figure",
    "output_values_figure",
    "sparsity_figure",
    "bars_figure",
    "curves_figure",
    "importance_scatter_figure",
    "mean_std",
    "membership_heatmap",
    "metric_vs_p_figure",
    "paired_forest_figure",
    "probability_map_figure",
    "stability_figure",
    "top_ids_figure",
]
