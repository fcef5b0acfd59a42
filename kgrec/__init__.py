"""kgrec: recommend the long tail with LLM-embedded heterogeneous knowledge-graph GNNs."""

__version__ = "0.1.0"
