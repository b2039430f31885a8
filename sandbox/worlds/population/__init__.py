"""The population family: a large-population epidemic economy (world ``epidemic_economy``).

Importing this package registers, by name (``sandbox.core.registry``):

- world ``epidemic_economy`` (:class:`~sandbox.worlds.population.world.EpidemicEconomy`);
- worker policies ``isolate_when_symptomatic``, ``never_isolate``, ``archetype_compliance``
  and planner policies ``no_mandate``, ``threshold_mandate`` (``policies.py``).

Modules: ``data`` (tables from ``data/population/``), ``params``, ``synthetic`` (the
synthetic city), ``groups`` (group indices and listings, counts), ``arrays`` (the sparse
kernels' array functions: NumPy views on the CPU, torch elsewhere), ``sampling`` (sparse
Bernoulli draws), ``contacts`` (infection pressure per group, exposures, testing),
``disease`` (states, tables, a day's progression), ``economics`` (a day's pay),
``metrics`` (state, series, metrics), ``world``, ``policies``, and ``reference`` (the
per-resident Mesa model, imported on demand).
"""

from sandbox.worlds.population import (
    policies,  # noqa: F401  (registers the rule policies)
    world,  # noqa: F401  (registers "epidemic_economy")
)
