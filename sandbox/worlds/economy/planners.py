"""Fixed-schedule planner policies for the one-step economy: free market, US federal, fixed.

Each sets the same bracket rates in every environment, capped at the world's current
rate cap and converted to the planner's action space by the world
(``world.action_from_rates``: nearest level for discrete actions, clipped for
continuous ones). :func:`planner_action` is the shared conversion, also used by the
Saez and search-optimum planners.
"""

from __future__ import annotations

import torch

from sandbox.core.errors import ConfigError
from sandbox.core.policy import Policy
from sandbox.core.registry import POLICIES
from sandbox.worlds.economy.tax_schedule import (
    BRACKET_SETS,
    us_federal_brackets,
    validate_rates,
)


def check_role(role: str, expected: str, policy: str) -> None:
    """Raise ConfigError unless a policy meant for ``expected`` drives that role."""
    if role != expected:
        raise ConfigError("role", role, f"{expected!r}: policy {policy!r} drives the {expected}")


def check_params(params: dict, known: tuple[str, ...], policy: str) -> None:
    """Raise ConfigError naming the first parameter a policy does not take."""
    for name in params:
        if name not in known:
            accepted = ", ".join(known) or "no parameters"
            raise ConfigError(f"{policy}.{name}", params[name], f"one of: {accepted}")


def allowed_rates(world, rates: torch.Tensor) -> torch.Tensor:
    """Rates ``[..., K]`` capped where the world accepts them.

    The cap is ``world.rate_cap``; with discrete actions it is the largest level under
    the cap, so that nearest-level rounding never lands on a masked level.
    """
    cap = float(world.rate_cap)
    levels = getattr(world, "rate_levels", None)
    if world.params.rate_actions == "discrete" and levels is not None:
        under = levels[levels <= cap + 1e-6]
        cap = float(under.max()) if under.numel() else 0.0
    return rates.clamp(0.0, cap)


def world_key(world) -> tuple:
    """Hashable identity of what fixes a planner's answer: params, rate cap and skills."""
    skills = world.skills.detach().cpu().numpy().tobytes()
    return (type(world).__name__, world.params, float(world.rate_cap), skills)


def planner_action(world, rates: torch.Tensor, num_envs: int) -> torch.Tensor:
    """The planner's action for bracket ``rates`` in every environment.

    Args:
        world: a one-step economy.
        rates: ``[K]`` (same schedule everywhere) or ``[num_envs, K]`` marginal rates.
        num_envs: environments in the batch.

    Returns:
        ``[num_envs, 1, K]`` action of the planner role's dtype.
    """
    rates = rates.to(device=world.device, dtype=torch.float32)
    rates = allowed_rates(world, rates.expand(num_envs, -1))
    action = world.action_from_rates(rates)
    return action.unsqueeze(1) if action.dim() == 2 else action


class FixedSchedulePlanner(Policy):
    """A planner that always sets the same bracket rates.

    Args:
        world: the one-step economy it plans for.
        rates: ``[K]`` marginal rates in [0, 1].
        name: registry name recorded in :meth:`describe`.
    """

    def __init__(self, world, rates: torch.Tensor, *, name: str = "fixed_rates"):
        super().__init__(world.roles["planner"], device=world.device)
        self.world = world
        self.rates = rates.to(torch.float32)
        self.name = name

    def act(self, obs: torch.Tensor, mask: torch.Tensor | None = None,
            deterministic: bool = False) -> torch.Tensor:
        """``[B, 1, K]`` actions setting :attr:`rates` (capped) in all ``B = obs.shape[0]``."""
        return planner_action(self.world, self.rates, obs.shape[0])

    def describe(self) -> dict:
        """Policy name and the rates it sets."""
        return {"policy": self.name, "rates": [round(float(r), 6) for r in self.rates]}


def free_market(world, role: str = "planner", **params) -> FixedSchedulePlanner:
    """Factory of the ``"free_market"`` planner: every rate 0 (no tax, no transfer)."""
    check_role(role, "planner", "free_market")
    check_params(params, (), "free_market")
    return FixedSchedulePlanner(world, torch.zeros(world.cutoffs.numel()), name="free_market")


def us_federal(world, role: str = "planner", *, brackets: str | None = None,
               year: int | None = None, **params) -> FixedSchedulePlanner:
    """Factory of the ``"us_federal"`` planner: statutory single-filer rates.

    Args:
        world: the one-step economy.
        role: must be ``"planner"``.
        brackets: a name in ``tax_schedule.BRACKET_SETS``; default the world's set.
        year: alternatively a tax year with a bracket set (2018, 2019, 2025, 2026).
        **params: anything else is rejected with a ConfigError.
    """
    check_role(role, "planner", "us_federal")
    check_params(params, ("brackets", "year"), "us_federal")
    if brackets is not None and year is not None:
        raise ConfigError("us_federal.year", year, "either brackets or year, not both")
    if year is not None:
        names = {y: name for name, y in BRACKET_SETS.items() if name.startswith("us")}
        if year not in names:
            raise ConfigError("us_federal.year", year, f"one of {sorted(names)}")
        brackets = names[year]
    _, rates = us_federal_brackets(brackets or world.params.brackets)
    if len(rates) != world.cutoffs.numel():
        raise ConfigError("us_federal.brackets", brackets or world.params.brackets,
                          f"a bracket set with the world's {world.cutoffs.numel()} brackets")
    return FixedSchedulePlanner(world, torch.tensor(rates), name="us_federal")


def fixed_rates(world, role: str = "planner", *, rates=None, **params) -> FixedSchedulePlanner:
    """Factory of the ``"fixed_rates"`` planner: ``rates``, one in [0, 1] per bracket."""
    check_role(role, "planner", "fixed_rates")
    check_params(params, ("rates",), "fixed_rates")
    expected = f"a list of {world.cutoffs.numel()} rates in [0, 1], one per bracket"
    if rates is None or isinstance(rates, str | bytes):
        raise ConfigError("fixed_rates.rates", rates, expected)
    try:
        values = validate_rates(list(rates), world.cutoffs.numel(), field="fixed_rates.rates")
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError("fixed_rates.rates", rates, expected) from None
    return FixedSchedulePlanner(world, torch.tensor(values), name="fixed_rates")


POLICIES.register("free_market", free_market)
POLICIES.register("us_federal", us_federal)
POLICIES.register("fixed_rates", fixed_rates)
