"""The economy family: tax schedules, utility, social metrics and the one-step economy.

Importing this package registers its entries by name (``sandbox.core.registry``):

- world ``onestep_economy`` (:class:`~sandbox.worlds.economy.onestep.OneStepEconomy`);
- world ``gather_trade_build`` (:class:`~sandbox.worlds.economy.gtb.world.GatherTradeBuild`,
  the subpackage ``gtb``).

Modules: ``tax_schedule`` (bracket schedules), ``utility`` (worker utility), ``labor``
(settling a period), ``social`` (metrics and planner objectives), ``skills`` (worker
skills), ``onestep`` (the batched world), ``mesa_reference`` (the per-agent Mesa reference
model, imported on demand: not needed to run the world).
"""

# Importing the modules registers their entries: the world, then the analytic policies
# that drive it.
from sandbox.worlds.economy import (  # noqa: F401
    best_response,
    gtb,
    onestep,
    optimum,
    planners,
    saez,
)
