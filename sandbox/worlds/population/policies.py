"""Rule policies of the epidemic economy, registered in ``POLICIES`` by name.

Workers (actions ``[B, M]`` int8: 0 go out, 1 isolate):

- ``never_isolate``: everyone goes out every day.
- ``isolate_when_symptomatic``: isolate while symptomatic or while a positive test is known.
- ``archetype_compliance``: each resident-day one uniform ``u`` (drawn by the policy, one
  ``[B, M]`` float32 tensor per call); isolate if ``u < p``, where ``p`` is the
  archetype's ``isolate_if_symptomatic`` when symptomatic or positive, its
  ``comply_with_mandate + stimulus_gain * stimulus`` (capped at one) when asked home by
  the mandate, the larger of the two when both, and 0 otherwise. Probabilities default to
  ``data/population/archetypes.csv`` and are rounded to float32.

Planner (actions ``[B, 1, 3]`` int64 menu indices of mandate, testing, stimulus):

- ``no_mandate``: mandate level 0, with fixed ``testing_level`` and ``stimulus_level``.
- ``threshold_mandate``: mandate ``mandate_level`` (default: the strongest) while the
  observed prevalence (share infected) exceeds ``threshold``, else level 0.
"""

from __future__ import annotations

import torch

from sandbox.core.errors import ConfigError
from sandbox.core.policy import Policy
from sandbox.core.registry import POLICIES
from sandbox.worlds.population.data import load_archetypes
from sandbox.worlds.population.world import PLANNER_FEATURES, WORKER_FEATURES, EpidemicEconomy

_SYMPTOMATIC = WORKER_FEATURES.index("symptomatic")
_POSITIVE = WORKER_FEATURES.index("tested_positive")
_ASKED = WORKER_FEATURES.index("asked_home")
_STIMULUS = WORKER_FEATURES.index("stimulus_percent")
_ARCHETYPE = WORKER_FEATURES.index("archetype")
_PREVALENCE = PLANNER_FEATURES.index("prevalence")


def isolation_probabilities(
    isolate_if_symptomatic, comply_with_mandate, stimulus_gain, stimulus: float
) -> list[list[float]]:
    """Per archetype, ``[p_neither, p_asked, p_sick, p_both]`` at a stimulus share.

    Args:
        isolate_if_symptomatic: per archetype, probability when symptomatic or positive.
        comply_with_mandate: per archetype, probability when asked home.
        stimulus_gain: per archetype, compliance added at full wage replacement.
        stimulus: the stimulus share of the wage in force, in [0, 1].
    """
    table = []
    for sick, comply, gain in zip(isolate_if_symptomatic, comply_with_mandate, stimulus_gain):
        asked = min(1.0, comply + gain * stimulus)
        table.append([0.0, asked, sick, max(sick, asked)])
    return table


class NeverIsolate(Policy):
    """Every resident goes out every day."""

    name = "never_isolate"

    def act(self, obs, mask=None, deterministic=False):
        """``[B, M]`` int8 zeros. ``obs``: ``[B, M, 7]`` uint8 (only its shape is read)."""
        return torch.zeros(obs.shape[:2], dtype=torch.int8, device=obs.device)


class IsolateWhenSymptomatic(Policy):
    """Isolate while symptomatic or while a positive test is known; otherwise go out."""

    name = "isolate_when_symptomatic"

    def act(self, obs, mask=None, deterministic=False):
        """``[B, M]`` int8 (1 = isolate) from ``obs`` ``[B, M, 7]`` uint8."""
        return (obs[..., _SYMPTOMATIC] | obs[..., _POSITIVE]).view(torch.int8)


class ArchetypeCompliance(Policy):
    """Isolation by behavioural archetype, with compliance rising with the stimulus.

    Args:
        role: the workers role.
        isolate_if_symptomatic, comply_with_mandate, stimulus_gain: per-archetype
            probabilities (module doc).
        device: device of the tensors.
    """

    name = "archetype_compliance"

    def __init__(self, role, *, isolate_if_symptomatic, comply_with_mandate, stimulus_gain,
                 device="cpu"):
        super().__init__(role, device=device)
        self.isolate_if_symptomatic = tuple(isolate_if_symptomatic)
        self.comply_with_mandate = tuple(comply_with_mandate)
        self.stimulus_gain = tuple(stimulus_gain)

    def act(self, obs, mask=None, deterministic=False):
        """``[B, M]`` int8 (1 = isolate); draws ``[B, M]`` float32 uniforms per call.

        With ``deterministic`` a resident isolates when its probability is at least 1/2.
        """
        batch, residents = obs.shape[:2]
        stimulus = (obs[:, 0, _STIMULUS].double() / 100.0).tolist()
        tables = [isolation_probabilities(self.isolate_if_symptomatic, self.comply_with_mandate,
                                          self.stimulus_gain, s) for s in stimulus]
        probs = torch.tensor(tables, dtype=torch.float32, device=obs.device).reshape(-1)
        sick = obs[..., _SYMPTOMATIC] | obs[..., _POSITIVE]
        key = obs[..., _ARCHETYPE].to(torch.int32).mul_(4).add_(sick * 2).add_(obs[..., _ASKED])
        per_env = probs.numel() // batch
        key.add_(torch.arange(batch, dtype=torch.int32, device=obs.device).mul_(per_env)[:, None])
        p = probs.index_select(0, key.reshape(-1)).view(batch, residents)
        if deterministic:
            return (p >= 0.5).to(torch.int8)
        u = torch.rand(batch, residents, generator=self.generator, device=obs.device)
        return (u < p).to(torch.int8)

    def describe(self) -> dict:
        """The policy's name and its archetype probabilities."""
        return {"policy": self.name, "isolate_if_symptomatic": list(self.isolate_if_symptomatic),
                "comply_with_mandate": list(self.comply_with_mandate),
                "stimulus_gain": list(self.stimulus_gain)}


class PlannerRule(Policy):
    """Fixed testing and stimulus, and a mandate by prevalence threshold (inf: never).

    Args:
        role: the planner role.
        threshold: prevalence (share infected) above which the mandate is imposed.
        mandate_level, testing_level, stimulus_level: menu indices.
        device: device of the tensors.
    """

    name = "threshold_mandate"

    def __init__(self, role, *, threshold: float, mandate_level: int, testing_level: int,
                 stimulus_level: int, device="cpu"):
        super().__init__(role, device=device)
        self.threshold = float(threshold)
        self.levels = (int(mandate_level), int(testing_level), int(stimulus_level))

    def act(self, obs, mask=None, deterministic=False):
        """``[B, 1, 3]`` int64 menu indices from ``obs`` ``[B, 1, 12]`` float32."""
        above = obs[..., _PREVALENCE] > self.threshold
        mandate, testing, stimulus = self.levels
        action = torch.empty(*obs.shape[:2], 3, dtype=torch.int64, device=obs.device)
        action[..., 0] = torch.where(above, mandate, 0)
        action[..., 1] = testing
        action[..., 2] = stimulus
        return action

    def describe(self) -> dict:
        """The rule's threshold and menu indices."""
        return {"policy": self.name, "threshold": self.threshold,
                "mandate_level": self.levels[0], "testing_level": self.levels[1],
                "stimulus_level": self.levels[2]}


# ------------------------------------------------------------------ factories
def _check_world(world, role: str, expected: str, name: str) -> None:
    if not isinstance(world, EpidemicEconomy):
        raise ConfigError("policy", name, "a policy of the world it drives: "
                          f"{name!r} drives epidemic_economy's {expected}")
    if role != expected:
        raise ConfigError(f"policies.{role}", name, f"a policy for the {role} role; "
                          f"{name!r} drives the {expected}")


def _check_index(world, role: str, name: str, value, menu: int) -> int:
    size = world.params.planner.action_sizes[menu]
    if isinstance(value, bool) or not isinstance(value, int) or not -size <= value < size:
        raise ConfigError(f"policies.{role}.{name}", value,
                          f"a menu index in [0, {size}) (negative counts from the end)")
    return value % size


def _check_probabilities(role: str, name: str, values, default) -> tuple[float, ...]:
    values = default if values is None else tuple(values)
    if len(values) != len(default) or any(not 0.0 <= float(v) <= 1.0 for v in values):
        raise ConfigError(f"policies.{role}.{name}", values,
                          f"{len(default)} probabilities in [0, 1], one per archetype")
    return tuple(float(v) for v in values)


def _no_params(name: str, role: str, params: dict) -> None:
    if params:
        raise ConfigError(f"policies.{role}.params", sorted(params), f"no parameters for {name!r}")


def never_isolate(world, role: str, **params) -> NeverIsolate:
    """Factory of ``"never_isolate"`` (no parameters)."""
    _check_world(world, role, "workers", "never_isolate")
    _no_params("never_isolate", role, params)
    return NeverIsolate(world.roles[role], device=world.device)


def isolate_when_symptomatic(world, role: str, **params) -> IsolateWhenSymptomatic:
    """Factory of ``"isolate_when_symptomatic"`` (no parameters)."""
    _check_world(world, role, "workers", "isolate_when_symptomatic")
    _no_params("isolate_when_symptomatic", role, params)
    return IsolateWhenSymptomatic(world.roles[role], device=world.device)


def archetype_compliance(world, role: str, *, isolate_if_symptomatic=None,
                         comply_with_mandate=None, stimulus_gain=None, **params):
    """Factory of ``"archetype_compliance"``; probabilities default to the data file's."""
    _check_world(world, role, "workers", "archetype_compliance")
    _no_params("archetype_compliance", role, params)
    table = load_archetypes()
    return ArchetypeCompliance(
        world.roles[role],
        isolate_if_symptomatic=_check_probabilities(
            role, "isolate_if_symptomatic", isolate_if_symptomatic, table.isolate_if_symptomatic),
        comply_with_mandate=_check_probabilities(
            role, "comply_with_mandate", comply_with_mandate, table.comply_with_mandate),
        stimulus_gain=_check_probabilities(role, "stimulus_gain", stimulus_gain,
                                           table.stimulus_gain),
        device=world.device,
    )


def no_mandate(world, role: str, *, testing_level: int = 0, stimulus_level: int = 0, **params):
    """Factory of ``"no_mandate"``: never a mandate; fixed testing and stimulus indices."""
    _check_world(world, role, "planner", "no_mandate")
    _no_params("no_mandate", role, params)
    policy = PlannerRule(world.roles[role], threshold=float("inf"), mandate_level=0,
                         testing_level=_check_index(world, role, "testing_level", testing_level, 1),
                         stimulus_level=_check_index(world, role, "stimulus_level",
                                                     stimulus_level, 2),
                         device=world.device)
    policy.name = "no_mandate"
    return policy


def threshold_mandate(world, role: str, *, threshold: float = 0.01, mandate_level: int = -1,
                      testing_level: int = 0, stimulus_level: int = 0, **params):
    """Factory of ``"threshold_mandate"``: mandate while prevalence exceeds ``threshold``."""
    _check_world(world, role, "planner", "threshold_mandate")
    _no_params("threshold_mandate", role, params)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not (
        0.0 <= threshold <= 1.0
    ):
        raise ConfigError(f"policies.{role}.threshold", threshold, "a prevalence share in [0, 1]")
    return PlannerRule(world.roles[role], threshold=threshold,
                       mandate_level=_check_index(world, role, "mandate_level", mandate_level, 0),
                       testing_level=_check_index(world, role, "testing_level", testing_level, 1),
                       stimulus_level=_check_index(world, role, "stimulus_level",
                                                   stimulus_level, 2),
                       device=world.device)


POLICIES.register("never_isolate", never_isolate)
POLICIES.register("isolate_when_symptomatic", isolate_when_symptomatic)
POLICIES.register("archetype_compliance", archetype_compliance)
POLICIES.register("no_mandate", no_mandate)
POLICIES.register("threshold_mandate", threshold_mandate)
