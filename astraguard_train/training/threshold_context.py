"""What a threshold strategy sees when it chooses: :class:`ThresholdContext`.

Built in whichever process fitted the chain (a worker, for per-group training in parallel).
"""

from __future__ import annotations

import attrs
import numpy as np

from ..data.frame import Frame
from .detector import Chain


@attrs.frozen(eq=False)
class ThresholdContext:
    """What a threshold strategy may look at: never the test part.

    :param train_scores: the detector's scores on its training rows; None when the
        strategy declared ``needs_train_scores = False``
        (:class:`~astraguard_train.plugins.contracts.DeclaresTrainScoreNeed`) and the detector
        keeps none.
    :param validation_scores: scores on the validation part (None when there is none).
    :param validation_labels: the validation part's labels, when it has them.
    :param validation_frame: the scored validation rows (timestamps, channels).
    :param train_frame: the training features the detector was fitted on.
    """

    train_scores: np.ndarray | None
    validation_scores: np.ndarray | None = None
    validation_labels: np.ndarray | None = None
    validation_frame: Frame | None = None
    train_frame: Frame | None = None


def threshold_context(
    chain: Chain, features: Frame, validation: Frame | None
) -> ThresholdContext:
    """What the threshold strategy sees for ``chain``: its training scores, and its scores on
    the validation part when there is one."""
    if validation is None or validation.n_rows == 0:
        return ThresholdContext(train_scores=chain.train_scores_, train_frame=features)
    scored, scores = chain.score(validation)
    return ThresholdContext(
        train_scores=chain.train_scores_,
        validation_scores=scores,
        validation_labels=scored.labels,
        validation_frame=scored,
        train_frame=features,
    )
