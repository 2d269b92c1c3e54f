"""The PyOD detectors astraguard-train registers: class, module, one-line description,
constructor parameters with PyOD's defaults, and the optional packages each needs; and the
row type, :class:`PyODSpec`.

Read from PyOD 3.6 (its classes deriving from ``BaseDetector`` that pass the rules of
:mod:`astraguard_train.models.pyod`); ``tests/test_pyod.py`` compares it with the installed
PyOD. Kept as data so that building the registry imports neither PyOD nor torch.
"""

from __future__ import annotations

from typing import Any

import attrs

PREFIX = "pyod."


class _PyODDefault:
    """Stands for a PyOD default that is not a plain value; PyOD applies its own."""

    def __repr__(self) -> str:
        return "<pyod default>"

    def __reduce__(self) -> str:
        return "PYOD_DEFAULT"


PYOD_DEFAULT = _PyODDefault()


@attrs.frozen
class PyODSpec:
    """One PyOD detector: a row of the table."""

    cls: str
    module: str
    summary: str
    params: tuple[tuple[str, Any], ...]
    #: top-level packages beyond PyOD's own requirements that its module imports
    requires: tuple[str, ...] = ()
    #: its ``fit`` learns from anomaly labels (``fit(X, y)``)
    uses_labels: bool = False

    @property
    def name(self) -> str:
        return PREFIX + self.cls.lower()

    @property
    def wrapper_name(self) -> str:
        return f"PyOD_{self.cls}"

    @property
    def description(self) -> str:
        return f"PyOD {self.cls}: {self.summary}"


def _spec(
    cls: str,
    stem: str,
    summary: str,
    params: tuple[tuple[str, Any], ...],
    requires: tuple[str, ...] = (),
    uses_labels: bool = False,
) -> PyODSpec:
    return PyODSpec(cls, f"pyod.models.{stem}", summary, params, requires, uses_labels)


DETECTORS: tuple[PyODSpec, ...] = (
    _spec(
        "ABOD", "abod",
        "ABOD class for Angle-base Outlier Detection",
        (("contamination", 0.1), ("n_neighbors", 5), ("method", "fast"), ("algorithm", "auto"),
         ("leaf_size", 30), ("metric", "minkowski"), ("p", 2), ("metric_params", None),
         ("n_jobs", 1)),
    ),
    _spec(
        "AE1SVM", "ae1svm",
        "Auto Encoder with One-class SVM for anomaly detection",
        (("hidden_neurons", None), ("hidden_activation", "relu"), ("batch_norm", True),
         ("learning_rate", 0.001), ("epochs", 50), ("batch_size", 32), ("dropout_rate", 0.2),
         ("weight_decay", 1e-05), ("preprocessing", True), ("loss_fn", None),
         ("contamination", 0.1), ("alpha", 1.0), ("sigma", 1.0), ("nu", 0.1),
         ("kernel_approx_features", 1000)),
        requires=("torch",),
    ),
    _spec(
        "ANOMALOUS", "pyg_anomalous",
        "ANOMALOUS: Joint Modeling for Anomaly Detection",
        (("alpha", 1.0), ("gamma", 1.0), ("lambda_r", 0.01), ("max_iter", 100),
         ("contamination", 0.1)),
        requires=("torch", "torch_geometric"),
    ),
    _spec(
        "AnomalyDAE", "pyg_anomalydae",
        "AnomalyDAE: Dual Autoencoder for Anomaly Detection",
        (("embed_dim", 64), ("num_heads", 4), ("alpha", 0.5), ("dropout", 0.3), ("epochs", 100),
         ("lr", 0.005), ("contamination", 0.1)),
        requires=("torch", "torch_geometric"),
    ),
    _spec(
        "AudioAE", "audio_ae",
        "Log-mel reconstruction autoencoder for audio anomaly detection",
        (("n_mels", 64), ("context", 5), ("hop_length", 512), ("sr", PYOD_DEFAULT),
         ("contamination", 0.1), ("epoch_num", 40), ("batch_size", 1024), ("lr", 0.001),
         ("hidden_neuron_list", None), ("device", None), ("random_state", 42), ("verbose", 0)),
        requires=("librosa", "soundfile", "torch", "tqdm"),
    ),
    _spec(
        "AutoEncoder", "auto_encoder",
        "Auto Encoder (AE): the reconstruction error of a fully connected autoencoder",
        (("contamination", 0.1), ("preprocessing", True), ("lr", 0.001), ("epoch_num", 10),
         ("batch_size", 32), ("optimizer_name", "adam"), ("device", None), ("random_state", 42),
         ("use_compile", False), ("compile_mode", "default"), ("verbose", 1),
         ("optimizer_params", {'weight_decay': 1e-05}), ("hidden_neuron_list", [64, 32]),
         ("hidden_activation_name", "relu"), ("batch_norm", True), ("dropout_rate", 0.2)),
        requires=("torch", "tqdm"),
    ),
    _spec(
        "CBLOF", "cblof",
        "Cluster-based local outlier factor",
        (("n_clusters", 8), ("contamination", 0.1), ("clustering_estimator", None),
         ("alpha", 0.9), ("beta", 5), ("use_weights", False), ("check_estimator", False),
         ("random_state", None), ("n_jobs", 1)),
    ),
    _spec(
        "CD", "cd",
        "Cook's distance can be used to identify points that negatively affect a regression model",
        (("contamination", 0.1), ("model", None)),
    ),
    _spec(
        "COF", "cof",
        "Connectivity-Based Outlier Factor: a ratio of average chaining distances",
        (("contamination", 0.1), ("n_neighbors", 20), ("method", "fast")),
    ),
    _spec(
        "CONAD", "pyg_conad",
        "CONAD: Contrastive + Reconstruction Anomaly Detection",
        (("hidden_dim", 64), ("num_layers", 2), ("aug_ratio", 0.2), ("alpha", 0.5),
         ("dropout", 0.3), ("epochs", 100), ("lr", 0.001), ("contamination", 0.1)),
        requires=("torch", "torch_geometric"),
    ),
    _spec(
        "COPOD", "copod",
        "Copula-based outlier detection, parameter-free",
        (("contamination", 0.1), ("n_jobs", 1)),
    ),
    _spec(
        "CoLA", "pyg_cola",
        "CoLA: Contrastive Anomaly Detection on Attributed Networks",
        (("hidden_dim", 64), ("num_layers", 2), ("epochs", 100), ("lr", 0.001),
         ("contamination", 0.1)),
        requires=("torch", "torch_geometric"),
    ),
    _spec(
        "DIF", "dif",
        "Deep Isolation Forest (DIF) is an extension of iForest",
        (("batch_size", 1000), ("representation_dim", 20), ("hidden_neurons", None),
         ("hidden_activation", "tanh"), ("skip_connection", False), ("n_ensemble", 50),
         ("n_estimators", 6), ("max_samples", 256), ("contamination", 0.1),
         ("random_state", None), ("device", None)),
        requires=("torch",),
    ),
    _spec(
        "DOMINANT", "pyg_dominant",
        "DOMINANT: Deep Anomaly Detection on Attributed Networks",
        (("hidden_dim", 64), ("num_layers", 2), ("dropout", 0.3), ("alpha", 0.5), ("epochs", 100),
         ("lr", 0.005), ("contamination", 0.1)),
        requires=("torch", "torch_geometric"),
    ),
    _spec(
        "ECOD", "ecod",
        "Outlier detection from empirical cumulative distributions, parameter-free",
        (("contamination", 0.1), ("n_jobs", 1)),
    ),
    _spec(
        "FeatureBagging", "feature_bagging",
        "A feature bagging detector is a meta estimator that fits a number of base detectors on...",
        (("base_estimator", None), ("n_estimators", 10), ("contamination", 0.1),
         ("max_features", 1.0), ("bootstrap_features", False), ("check_detector", True),
         ("check_estimator", False), ("n_jobs", 1), ("random_state", None),
         ("combination", "average"), ("verbose", 0), ("estimator_params", None)),
        requires=("combo",),
    ),
    _spec(
        "GMM", "gmm",
        "Wrapper of scikit-learn Gaussian Mixture Model with more functionalities",
        (("n_components", 1), ("covariance_type", "full"), ("tol", 0.001), ("reg_covar", 1e-06),
         ("max_iter", 100), ("n_init", 1), ("init_params", "kmeans"), ("weights_init", None),
         ("means_init", None), ("precisions_init", None), ("random_state", None),
         ("warm_start", False), ("contamination", 0.1)),
    ),
    _spec(
        "GUIDE", "pyg_guide",
        "GUIDE: Higher-order Structure Based Anomaly Detection",
        (("hidden_dim", 64), ("num_layers", 2), ("alpha", 0.5), ("dropout", 0.3), ("epochs", 100),
         ("lr", 0.005), ("contamination", 0.1)),
        requires=("torch", "torch_geometric"),
    ),
    _spec(
        "HBOS", "hbos",
        "Histogram- based outlier detection (HBOS) is an efficient unsupervised method",
        (("n_bins", 10), ("alpha", 0.1), ("tol", 0.5), ("contamination", 0.1)),
    ),
    _spec(
        "IForest", "iforest",
        "Wrapper of scikit-learn Isolation Forest with more functionalities",
        (("n_estimators", 100), ("max_samples", "auto"), ("contamination", 0.1),
         ("max_features", 1.0), ("bootstrap", False), ("n_jobs", 1), ("behaviour", "old"),
         ("random_state", None), ("verbose", 0)),
    ),
    _spec(
        "INNE", "inne",
        "Isolation-based anomaly detection using nearest-neighbor ensembles",
        (("n_estimators", 200), ("max_samples", "auto"), ("contamination", 0.1),
         ("random_state", None)),
    ),
    _spec(
        "KDE", "kde",
        "KDE class for outlier detection",
        (("contamination", 0.1), ("bandwidth", 1.0), ("algorithm", "auto"), ("leaf_size", 30),
         ("metric", "minkowski"), ("metric_params", None)),
    ),
    _spec(
        "KNN", "knn",
        "kNN class for outlier detection",
        (("contamination", 0.1), ("n_neighbors", 5), ("method", "largest"), ("radius", 1.0),
         ("algorithm", "auto"), ("leaf_size", 30), ("metric", "minkowski"), ("p", 2),
         ("metric_params", None), ("n_jobs", 1)),
    ),
    _spec(
        "LMDD", "lmdd",
        "Linear Method for Deviation-based Outlier Detection",
        (("contamination", 0.1), ("n_iter", 50), ("dis_measure", "aad"), ("random_state", None)),
    ),
    _spec(
        "LOCI", "loci",
        "Local Correlation Integral",
        (("contamination", 0.1), ("alpha", 0.5), ("k", 3)),
    ),
    _spec(
        "LODA", "loda",
        "Loda: Lightweight on-line detector of anomalies",
        (("contamination", 0.1), ("n_bins", 10), ("n_random_cuts", 100), ("random_state", None)),
    ),
    _spec(
        "LOF", "lof",
        "Wrapper of scikit-learn LOF Class with more functionalities",
        (("n_neighbors", 20), ("algorithm", "auto"), ("leaf_size", 30), ("metric", "minkowski"),
         ("p", 2), ("metric_params", None), ("contamination", 0.1), ("n_jobs", 1),
         ("novelty", True)),
    ),
    _spec(
        "LUNAR", "lunar",
        "LUNAR class for outlier detection",
        (("model_type", "WEIGHT"), ("n_neighbours", 5), ("negative_sampling", "MIXED"),
         ("val_size", 0.1), ("scaler", None), ("epsilon", 0.1), ("proportion", 1.0),
         ("n_epochs", 200), ("lr", 0.001), ("wd", 0.1), ("verbose", 0), ("contamination", 0.1),
         ("algorithm", "auto"), ("leaf_size", 30), ("metric", "minkowski"), ("p", 2),
         ("metric_params", None), ("n_jobs", 1), ("random_state", None)),
        requires=("torch",),
    ),
    _spec(
        "MCD", "mcd",
        "Minimum Covariance Determinant: outliers of a Gaussian distributed dataset",
        (("contamination", 0.1), ("store_precision", True), ("assume_centered", False),
         ("support_fraction", None), ("random_state", None)),
    ),
    _spec(
        "OCSVM", "ocsvm",
        "Wrapper of scikit-learn one-class SVM Class with more functionalities",
        (("kernel", "rbf"), ("degree", 3), ("gamma", "auto"), ("coef0", 0.0), ("tol", 0.001),
         ("nu", 0.5), ("shrinking", True), ("cache_size", 200), ("verbose", False),
         ("max_iter", -1), ("contamination", 0.1)),
    ),
    _spec(
        "PCA", "pca",
        "Principal component analysis (PCA) can be used in detecting outliers",
        (("n_components", None), ("n_selected_components", None), ("contamination", 0.1),
         ("copy", True), ("whiten", False), ("svd_solver", "auto"), ("tol", 0.0),
         ("iterated_power", "auto"), ("random_state", None), ("weighted", True),
         ("standardization", True)),
    ),
    _spec(
        "ROD", "rod",
        "Rotation-based Outlier Detection, parameter-free",
        (("contamination", 0.1), ("parallel_execution", False)),
    ),
    _spec(
        "Radar", "pyg_radar",
        "Radar: Residual Analysis for Anomaly Detection",
        (("alpha", 1.0), ("gamma", 0.01), ("max_iter", 100), ("contamination", 0.1)),
        requires=("torch", "torch_geometric"),
    ),
    _spec(
        "SCAN", "pyg_scan",
        "SCAN: Structural Clustering Algorithm for Networks",
        (("epsilon", 0.5), ("mu", 2), ("contamination", 0.1)),
        requires=("torch", "torch_geometric"),
    ),
    _spec(
        "SOD", "sod",
        "Subspace outlier detection (SOD) schema aims to detect outlier in varying subspaces of...",
        (("contamination", 0.1), ("n_neighbors", 20), ("ref_set", 10), ("alpha", 0.8),
         ("algorithm", "auto"), ("leaf_size", 30), ("metric", "minkowski"), ("p", 2),
         ("metric_params", None), ("n_jobs", 1)),
    ),
    _spec(
        "SOS", "sos",
        "Stochastic Outlier Selection",
        (("contamination", 0.1), ("perplexity", 4.5), ("metric", "euclidean"), ("eps", 1e-05)),
    ),
    _spec(
        "SO_GAAL", "so_gaal_new",
        "Single-Objective Generative Adversarial Active Learning",
        (("contamination", 0.1), ("preprocessing", True), ("epoch_num", 100),
         ("criterion_name", "bce"), ("device", None), ("random_state", 42),
         ("use_compile", False), ("compile_mode", "default"), ("verbose", 1), ("lr_d", 0.01),
         ("lr_g", 0.0001), ("momentum", 0.9)),
        requires=("torch", "tqdm"),
    ),
    _spec(
        "SUOD", "suod",
        "Scalable Unsupervised Outlier Detection: runs many detectors faster",
        (("base_estimators", None), ("contamination", 0.1), ("combination", "average"),
         ("n_jobs", None), ("rp_clf_list", None), ("rp_ng_clf_list", None),
         ("rp_flag_global", True), ("target_dim_frac", 0.5), ("jl_method", "basic"),
         ("bps_flag", True), ("approx_clf_list", None), ("approx_ng_clf_list", None),
         ("approx_flag_global", True), ("approx_clf", None), ("verbose", False)),
        requires=("combo", "suod"),
    ),
    _spec(
        "Sampling", "sampling",
        "Sampling class for outlier detection",
        (("contamination", 0.1), ("subset_size", 20), ("metric", "minkowski"),
         ("metric_params", None), ("random_state", None)),
    ),
    _spec(
        "XGBOD", "xgbod",
        "XGBOD class for outlier detection",
        (("estimator_list", None), ("standardization_flag_list", None), ("max_depth", 3),
         ("learning_rate", 0.1), ("n_estimators", 100), ("silent", True),
         ("objective", "binary:logistic"), ("booster", "gbtree"), ("n_jobs", 1),
         ("nthread", None), ("gamma", 0), ("min_child_weight", 1), ("max_delta_step", 0),
         ("subsample", 1), ("colsample_bytree", 1), ("colsample_bylevel", 1), ("reg_alpha", 0),
         ("reg_lambda", 1), ("scale_pos_weight", 1), ("base_score", 0.5), ("random_state", 0)),
        requires=("xgboost",),
        uses_labels=True,
    ),
)
