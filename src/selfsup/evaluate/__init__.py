"""Evaluation of frozen encoders: reads embeddings and labels, never a modality's raw data."""

from selfsup.evaluate.diagnostics import CollapseMonitor, alignment, diagnose, embedding_std, rankme, uniformity
from selfsup.evaluate.embed import embed_source
from selfsup.evaluate.knn import knn_accuracy, knn_predict
from selfsup.evaluate.linear import linear_probe_accuracy
from selfsup.evaluate.online import MonitorConfig, OnlineLinearProbe, PeriodicKNN, build_monitors
from selfsup.evaluate.protocol import (
    PROTOCOLS,
    balanced_subset,
    cross_validate_embeddings,
    evaluate_embeddings,
    format_results,
)
from selfsup.evaluate.retrieval import anomaly_auroc, kmeans_scores, map_at_r, misclassified, recall_at_k

__all__ = [
           "PROTOCOLS",
           "CollapseMonitor",
           "MonitorConfig",
           "OnlineLinearProbe",
           "PeriodicKNN",
           "alignment",
           "anomaly_auroc",
           "balanced_subset",
           "build_monitors",
           "cross_validate_embeddings",
           "diagnose",
           "embed_source",
           "embedding_std",
           "evaluate_embeddings",
           "format_results",
           "kmeans_scores",
           "knn_accuracy",
           "knn_predict",
           "linear_probe_accuracy",
           "map_at_r",
           "misclassified",
           "rankme",
           "recall_at_k",
           "uniformity",
]
