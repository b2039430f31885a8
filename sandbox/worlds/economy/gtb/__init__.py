"""Gather-Trade-Build: the AI Economist's spatial economy as a batched torch world.

Importing this package registers the world ``gather_trade_build``
(:class:`~sandbox.worlds.economy.gtb.world.GatherTradeBuild`). Modules: ``params``,
``layout`` (maps and layout files), ``setup`` (episode start), ``state``, ``actions``
(the action index), one module per mechanic (``movement``, ``building``, ``auction``,
``regeneration``, ``taxes``), ``dynamics`` (the order of processing in a step),
``masks``, ``observations``, ``world``; ``mesa_reference`` (the per-agent Mesa model)
and ``figures`` (plotly pictures of an episode), both imported on demand.
"""

from sandbox.worlds.economy.gtb.params import GTBParams
from sandbox.worlds.economy.gtb.world import GatherTradeBuild

__all__ = ["GTBParams", "GatherTradeBuild"]
