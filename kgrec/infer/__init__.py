"""Inference on a trained run: `Recommender.load(run_dir).recommend(...)`, with graph-path explanations."""

from kgrec.infer.recommender import Recommendation, Recommender

__all__ = ["Recommendation", "Recommender"]
