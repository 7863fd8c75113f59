"""Evaluation of frozen encoders: reads embeddings and labels, never a modality's raw data."""

from selfsup.evaluate.knn import knn_accuracy, knn_predict
from selfsup.evaluate.linear import linear_probe_accuracy
from selfsup.evaluate.protocol import PROTOCOLS, balanced_subset, evaluate_embeddings, format_results

__all__ = ["PROTOCOLS", "balanced_subset", "evaluate_embeddings", "format_results", "knn_accuracy", "knn_predict",
           "linear_probe_accuracy"]
