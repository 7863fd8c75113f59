"""Linear probe: multinomial logistic regression on standardised frozen features."""

from __future__ import annotations

import warnings

import numpy as np


def linear_probe_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                          c: float = 1.0, max_iter: int = 1000) -> float:
    """Fit scikit-learn's L-BFGS logistic regression on standardised features; return test accuracy.

    Standardisation uses the training features' mean and std only.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train_x)
    clf = LogisticRegression(C=c, max_iter=max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(scaler.transform(train_x), train_y)
    return float((clf.predict(scaler.transform(test_x)) == np.asarray(test_y)).mean())
