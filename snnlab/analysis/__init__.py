"""Analysis of spike trains and results: dropout statistics, sparsity, synaptic operations,
neuron importance, rank stability and the statistics of method comparisons."""

from snnlab.analysis import importance, mask_averaging, narrative, paired, sparsity, statistics
from snnlab.analysis import dropout_stats
from snnlab.analysis.dropout_stats import dropout_stats_over
