"""Shadow-mode A/B test of two bundles: score the same rows with both, compare, decide."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from .comparison import Comparison, compare
from .decisions import Decision

#: The rule an A/B test decides with unless told otherwise.
DEFAULT_RULE = "confidently_better"


@attrs.frozen(eq=False)
class ABResult:
    """Both bundles' figures on the same rows, and the rule's decision."""

    champion: str
    challenger: str
    comparison: Comparison
    decision: Decision

    def to_dict(self, level: float = 0.95) -> dict[str, Any]:
        return {
            "champion_bundle": self.champion,
            "challenger_bundle": self.challenger,
            **self.comparison.to_dict(level),
            "decision": self.decision.to_dict(),
        }


def _bundle(which: Any, registry: Any, key: Any, trusted: bool) -> Any:
    from ..bundle.scoring import BundleDetector, load_bundle

    if isinstance(which, BundleDetector):
        return which
    return load_bundle(which, registry, key=key, trusted=trusted)


def ab_test(
    champion: Any,
    challenger: Any,
    data: Any,
    *,
    rule: str = DEFAULT_RULE,
    rule_params: Mapping[str, Any] | None = None,
    labels: np.ndarray | None = None,
    key_metric: str | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    registry: Any = None,
    key: Any = None,
    trusted: bool = False,
    **loader_params: Any,
) -> ABResult:
    """Score ``data`` with both bundles and decide whether the challenger should replace the
    champion. Nothing is promoted here: the caller acts on :attr:`ABResult.decision`.

    :param champion: a bundle path (``OUTPUT/NAME`` or a version directory) or a loaded
        :class:`~astraguard_train.bundle.scoring.BundleDetector`.
    :param challenger: the same, for the challenger.
    :param data: a path or in-memory data both can score.
    :param rule: the decision rule's registered name; ``rule_params`` its parameters.
    :param labels: per input row ``1``/``0``/``-1`` (unknown), e.g. joined from verdicts;
        None: the data's label column where present.
    :param key_metric: see :func:`~astraguard_train.retraining.comparison.compare`.
    :raises PluginError: for an unknown rule or parameters it refuses (before any scoring).
    """
    if registry is None:
        from ..plugins.manager import build_registry

        registry = build_registry()
    decider = registry.create("decision_rule", rule, dict(rule_params or {}), where="ab")
    a = _bundle(champion, registry, key, trusted)
    b = _bundle(challenger, registry, key, trusted)
    comparison = compare(
        a.score(data, **loader_params), b.score(data, **loader_params),
        labels=labels, key_metric=key_metric, n_boot=n_boot, seed=seed,
    )
    return ABResult(champion=str(Path(a.path)), challenger=str(Path(b.path)),
                    comparison=comparison, decision=decider.decide(comparison))
