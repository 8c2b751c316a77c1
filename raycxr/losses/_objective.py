"""A guarded objective: a search may rank trials by their loss only when every trial's loss is one function.

A loss value compares two models only under the same loss function. When the search space
varies something that changes the loss's value for the same predictions, the objective
can be met without a better model: the attention loss's ``n`` scales it linearly, so
minimising ``best_val_loss`` over a searched ``n`` picks the smallest ``n``. What changes
the loss's value between trials:

* a searched loss parameter that the registry flags (:attr:`ParamSpec.scales`): today every
  declared parameter is one (``n`` and the focal ``α`` scale the loss, ``q``, ``β``, ``γ``,
  ``cb_beta``, ``alpha`` reweight it, ``focal_gamma`` shrinks it);
* the loss itself (the space searches ``loss``): different losses have different scales;
* the class statistics behind the attention loss's weights (``stats_samples``,
  ``stats_size``), should a space ever vary them.

:func:`check_loss_objective` refuses such an objective before a trial runs; metrics that are
not losses (F1, AUC, …) are untouched by any of this.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from raycxr.losses._registry import loss_spec

#: Settings that change a ``needs_stats`` loss's class weights through its class statistics.
STATISTICS_SETTINGS = {
    "stats_samples": "changes the class statistics behind every class weight of the {loss} loss, so a lower loss "
    "would mean other weights",
    "stats_size": "changes the class statistics behind every class weight of the {loss} loss, so a lower loss "
    "would mean other weights",
}
#: What to rank by instead, in the message.
DEFAULT_ALTERNATIVE = "best_val_f1_macro"


def is_loss_metric(metric: str) -> bool:
    """Whether ``metric`` is the value of a loss (``train_loss``, ``val_loss``, ``best_val_loss``…)."""
    return metric == "loss" or metric.endswith("_loss")


def scale_parameters(loss: str) -> tuple[str, ...]:
    """The parameters of ``loss`` that change its value for the same predictions (flagged in the registry).

    Raises:
        ValueError: ``loss`` is not a registered loss.
    """
    return tuple(p.name for p in loss_spec(loss).params if p.scales)


def _reasons(loss: str) -> dict[str, str]:
    """Setting → why searching it changes ``loss``'s value (registry flags, then class statistics)."""
    spec = loss_spec(loss)
    reasons = {p.name: p.scales for p in spec.params if p.scales}
    if spec.needs_stats:
        reasons.update({name: text.format(loss=loss) for name, text in STATISTICS_SETTINGS.items()})
    return reasons


def check_loss_objective(
    metric: str,
    searched: Mapping[str, Collection[str]],
    *,
    option: str = "--metric",
    alternative: str = DEFAULT_ALTERNATIVE,
) -> None:
    """Refuse to rank trials by a loss that the search space changes from trial to trial.

    Args:
        metric: The objective's (or a constraint's) metric, e.g. ``best_val_loss``. A metric
            that is not a loss (:func:`is_loss_metric`) always passes.
        searched: For every loss a trial may train with, the settings that may differ
            between trials training with it (searched parameters and the settings of
            preset choices); a fixed loss is one key. Two or more keys mean the space
            searches ``loss`` itself.
        option: Where the metric was given, for the message (``--metric``,
            ``--objectives``, ``search.metric`` of a space file).
        alternative: The metric the message suggests instead.

    Raises:
        ValueError: One line: the space searches ``loss`` (different losses have different
            scales), or a setting that changes the loss's value (naming the setting, how it
            changes the loss and what to do); or an unknown loss name in ``searched``.
    """
    if not is_loss_metric(metric):
        return
    losses = list(searched)
    for loss in losses:
        loss_spec(loss)  # an unknown name is a ValueError listing the known ones
    where = f"{option} {metric}"
    if len(losses) > 1:
        raise ValueError(
            f"{where}: the space searches loss ({', '.join(losses)}), and different losses have different scales, "
            f"so a lower loss would mean another loss function, not a better model; use {alternative} or fix loss."
        )
    for loss in losses:
        reasons = _reasons(loss)
        varied = [name for name in reasons if name in searched[loss]]
        if varied:
            first, others = varied[0], varied[1:]
            also = f" (it also searches {', '.join(others)})" if others else ""
            raise ValueError(
                f"{where}: the space searches {first}, which {reasons[first]}, not a better model{also}; "
                f"use {alternative} or fix {first}."
            )
