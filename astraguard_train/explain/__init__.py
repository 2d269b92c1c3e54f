"""Per-alarm explanations: which features (or forecast inputs) drove a row's score.

An explainer (a plugin kind, :func:`~astraguard_train.plugins.hookspecs.register_explainers`)
is fitted per chain at training time; what it learnt travels in the bundle as
``explainer.json`` (no pickle, covered by the manifest's checksums). Scoring asks it for the
rows it flags (or chosen rows) and writes the top K contributions beside them.
"""
