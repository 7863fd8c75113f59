"""SVM probe: an RBF support-vector machine on frozen features, C chosen by cross-validation.

The protocol of TS2Vec (Yue et al. 2022) and of most UCR/UEA representation papers, so that
accuracies are comparable with theirs.
"""

from __future__ import annotations

import numpy as np

#: the C values TS2Vec searches (np.inf: a hard margin)
SVM_C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4, np.inf)


def fit_svm(x: np.ndarray, y: np.ndarray, max_samples: int = 10_000, seed: int = 0, max_iter: int = 1_000_000):
    """RBF SVC with ``gamma="scale"``; C by 5-fold grid search over ``SVM_C_GRID`` when every class could
    fill the folds (at least 5 samples per class on average and 50 in all), else C = inf. Training sets
    above ``max_samples`` are subsampled (stratified) for the search.

    ``max_iter`` caps libsvm's iterations: a hard margin (C = inf) on features that no RBF boundary
    separates never converges, and uncapped it ran for over ten minutes on one UCR set here; TS2Vec caps at
    1e7. Fits that hit the cap keep their last solution (scikit-learn's ConvergenceWarning is silenced).
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV, train_test_split
    from sklearn.svm import SVC

    y = np.asarray(y)
    n_classes = len(np.unique(y))
    svc = SVC(kernel="rbf", gamma="scale", C=np.inf, max_iter=max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)  # failed folds are scored NaN and ranked last
        # fallback order when the search cannot run: TS2Vec's hard margin, then ever softer margins
        candidates = [np.inf, *sorted((c for c in SVM_C_GRID if np.isfinite(c)), reverse=True)]
        if len(x) // n_classes >= 5 and len(x) >= 50:
            if len(x) > max_samples:
                x, _, y, _ = train_test_split(x, y, train_size=max_samples, random_state=seed, stratify=y)
            search = GridSearchCV(svc, {"C": list(SVM_C_GRID)}, cv=5, refit=False, error_score=np.nan)
            try:
                search.fit(x, y)
                scores = np.nan_to_num(search.cv_results_["mean_test_score"], nan=-1.0)
                candidates = [SVM_C_GRID[i] for i in np.argsort(-scores, kind="stable")]
            except ValueError:  # a class with fewer members than folds: keep the fallback order
                pass
        # libsvm's dual blows up (non-finite coefficients) for a hard margin on near-constant features,
        # as a collapsed encoder gives; the next candidate C is then the honest answer, not a crash
        for c in candidates:
            try:
                return svc.set_params(C=c).fit(x, y)
            except ValueError as err:
                if "not finite" not in str(err):
                    raise
    raise ValueError("fit_svm: no C gives finite SVM coefficients; the features are probably constant "
                     "(a collapsed encoder): check RankMe/feature std of the embeddings")


def svm_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 seed: int = 0) -> float:
    """Test accuracy of ``fit_svm`` trained on the training features."""
    clf = fit_svm(np.asarray(train_x, dtype=np.float64), train_y, seed=seed)
    return float((clf.predict(np.asarray(test_x, dtype=np.float64)) == np.asarray(test_y)).mean())
