"""Batched rollouts of a world for the roles being learned, the others driven by policies.

One world step moves every environment and every agent at once; the only Python loop is
over time (and over the handful of roles). A role's *transition* runs from one of its
decisions to its next one, so worlds where a role acts only on some steps
(``world.acting_roles()``, e.g. a planner that sets taxes once per period) are handled:

- rewards the role receives between its decisions are added to the earlier decision
  (and rewards after its episode ended, before its next decision, to none);
- the transition is terminal when the episode ended in between; when it was only
  truncated, ``gamma * V(final_obs)`` is added to its reward (bootstrapping through the
  time limit, with the world's same-step autoreset giving ``final_obs``);
- a rollout ends after ``num_steps`` world steps; a decision whose window is still open
  then is carried into the next rollout with the probabilities it was sampled with.

Everything stays on the world's device; transitions are stored time-major
``[K, num_envs, count, ...]``.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass

import torch

from sandbox.core.errors import ConfigError
from sandbox.core.policy import Policy


@dataclass
class RoleBatch:
    """One role's completed transitions from a rollout (``K`` decisions per agent).

    Attributes:
        obs: ``[K, B, N, obs_dim]`` float32 observations at the decisions.
        actions: ``[K, B, N, *action_shape]`` actions taken.
        log_probs: ``[K, B, N]`` float32 log-probabilities under the behaviour policy.
        values: ``[K, B, N]`` float32 value estimates at the decisions.
        rewards: ``[K, B, N]`` float32 scaled rewards up to the next decision, with the
            truncation bootstrap added.
        dones: ``[K, B]`` bool, the episode ended before the next decision.
        starts: ``[K, B]`` bool, an episode began just before the decision (recurrent
            state was zeroed there).
        masks: ``[K, B, N, mask_size]`` bool action masks, or None.
        hidden: ``[B, N, hidden_size]`` recurrent state before the first decision.
        bootstrap_value: ``[B, N]`` float32 value of the decision after the last one.
    """

    obs: torch.Tensor
    actions: torch.Tensor
    log_probs: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    dones: torch.Tensor
    starts: torch.Tensor
    masks: torch.Tensor | None
    hidden: torch.Tensor
    bootstrap_value: torch.Tensor

    @property
    def num_transitions(self) -> int:
        """Decisions per agent in the batch (``K``)."""
        return int(self.obs.shape[0])


@dataclass
class _Decision:
    """A decision whose reward window is open (tensors ``[B, N, ...]``, flags ``[B]``)."""

    obs: torch.Tensor
    action: torch.Tensor
    log_prob: torch.Tensor
    value: torch.Tensor
    mask: torch.Tensor | None
    start: torch.Tensor
    hidden: torch.Tensor
    reward: torch.Tensor
    ended: torch.Tensor


class _Track:
    """What the collector keeps per learned role between steps."""

    def __init__(self, num_envs: int, count: int, hidden_size: int, device):
        self.hidden = torch.zeros(num_envs, count, hidden_size, device=device)
        self.start = torch.ones(num_envs, dtype=torch.bool, device=device)
        self.pending: _Decision | None = None
        self.closed: list[_Decision] = []


class RolloutCollector:
    """Steps a world with learners for some roles and fixed policies for the others.

    Args:
        world: the world (its device is the rollout's device).
        learners: role name -> learner with ``policy`` (a NeuralPolicy) and ``config``
            (``gamma`` and ``reward_scale``), e.g. :class:`sandbox.solvers.ppo.PPO`.
        others: role name -> policy for every other role of the world.
        history: finished-episode returns kept per role (for "mean of the last n").
    """

    def __init__(self, world, learners: dict, *, others: dict[str, Policy] | None = None,
                 history: int = 100):
        self.world = world
        self.learners = dict(learners)
        self.others = dict(others or {})
        missing = set(world.roles) - set(self.learners) - set(self.others)
        if missing:
            raise ConfigError("policies", sorted(missing),
                              "a learner or a policy for every role of the world")
        self.history = history
        self.obs: dict[str, torch.Tensor] | None = None
        self.masks: dict[str, torch.Tensor] = {}
        self.env_steps = 0
        self.finished: dict[str, deque] = {r: deque(maxlen=history) for r in self.learners}
        self.rollout_returns: dict[str, float] = {}
        self.rollout_metrics: dict[str, float] = {}

    # ------------------------------------------------------------------ set-up
    def reset(self, seed: int | None = None) -> None:
        """Start new episodes everywhere (``seed`` restarts the world's stream)."""
        world = self.world
        self.obs = world.reset(seed)
        self.masks = world.action_masks()
        self.tracks = {
            name: _Track(world.num_envs, world.roles[name].count,
                         learner.policy.module.hidden_size, world.device)
            for name, learner in self.learners.items()
        }
        self.episode_return = {
            name: torch.zeros(world.num_envs, role.count, device=world.device)
            for name, role in world.roles.items()
        }
        for policy in self.others.values():
            if hasattr(policy, "end_episodes"):
                policy.end_episodes(torch.ones(world.num_envs, dtype=torch.bool,
                                               device=world.device))

    # ---------------------------------------------------------------- stepping
    def collect(self, num_steps: int) -> dict[str, RoleBatch]:
        """Step the world ``num_steps`` times; completed transitions per learned role.

        Returns:
            Role name -> :class:`RoleBatch`, for the roles that completed at least one
            transition. ``rollout_returns`` and ``rollout_metrics`` then hold the means
            over the episodes that finished during the rollout.
        """
        if self.obs is None:
            self.reset()
        sums = _EpisodeSums()
        for _ in range(num_steps):
            actions = {name: self._act(name) for name in self.world.acting_roles()}
            result = self.world.step(actions)
            self.env_steps += self.world.num_envs
            self._record(result, sums)
            self.obs, self.masks = result.obs, result.masks
        self.rollout_returns, self.rollout_metrics = sums.means()
        batches = {name: self._finish(name) for name in self.learners}
        return {name: batch for name, batch in batches.items() if batch is not None}

    def _act(self, name: str) -> torch.Tensor:
        obs, mask = self.obs[name], self.masks.get(name)
        if name not in self.learners:
            return self.others[name].act(obs, mask)
        track = self.tracks[name]
        keep = (~track.start).view(-1, 1, 1).to(track.hidden.dtype)
        decision = self.learners[name].policy.decide(obs, mask, track.hidden * keep)
        if track.pending is not None:
            track.closed.append(track.pending)
        track.pending = _Decision(
            obs=obs, action=decision.action, log_prob=decision.log_prob, value=decision.value,
            mask=mask, start=track.start, hidden=track.hidden,
            reward=torch.zeros_like(decision.value),
            ended=torch.zeros_like(track.start),
        )
        track.hidden = decision.hidden
        track.start = torch.zeros_like(track.start)
        return decision.action

    def _record(self, result, sums: _EpisodeSums) -> None:
        done = result.done
        any_done = bool(done.any())
        for name in self.world.roles:
            reward = result.rewards.get(name)
            if reward is not None:
                self.episode_return[name] += reward
            if name in self.tracks:
                self._credit(name, reward, result)
            if any_done:
                finished = self.episode_return[name].mean(-1)
                sums.add_return(name, finished, done)
                if name in self.finished:
                    values = finished[done][-self.history:].tolist()
                    self.finished[name].extend((self.env_steps, v) for v in values)
                self.episode_return[name] = self.episode_return[name] * (~done).unsqueeze(-1)
        if any_done:
            sums.add_episodes(result.final_metrics, done)
            for policy in self.others.values():
                if hasattr(policy, "end_episodes"):
                    policy.end_episodes(done)

    def _credit(self, name: str, reward, result) -> None:
        """Add this step's reward (and truncation bootstrap) to the open decision."""
        track, learner = self.tracks[name], self.learners[name]
        pending = track.pending
        if pending is not None:
            live = ~pending.ended
            if reward is not None:
                pending.reward = pending.reward + learner.config.reward_scale * reward * (
                    live.unsqueeze(-1).to(reward.dtype))
            cut = result.truncated & ~result.terminated & live
            if bool(cut.any()):
                keep = (~track.start).view(-1, 1, 1).to(track.hidden.dtype)
                final = learner.policy.value(result.final_obs[name], track.hidden * keep)
                bonus = learner.config.gamma * final * cut.unsqueeze(-1).to(final.dtype)
                pending.reward = pending.reward + bonus
            pending.ended = pending.ended | result.done
        track.start = track.start | result.done

    def _finish(self, name: str) -> RoleBatch | None:
        """Close what can be closed at the rollout's end and stack the transitions."""
        track, policy = self.tracks[name], self.learners[name].policy
        pending = track.pending
        bootstrap = None
        if pending is not None:
            if bool(pending.ended.all()) or name in self.world.acting_roles():
                track.closed.append(pending)
                track.pending = None
                keep = (~track.start).view(-1, 1, 1).to(track.hidden.dtype)
                bootstrap = policy.value(self.obs[name], track.hidden * keep)
            else:
                bootstrap = pending.value  # the carried decision is the next one
        if not track.closed:
            return None
        closed, track.closed = track.closed, []
        masks = None if closed[0].mask is None else torch.stack([d.mask for d in closed])
        return RoleBatch(
            obs=torch.stack([d.obs for d in closed]),
            actions=torch.stack([d.action for d in closed]),
            log_probs=torch.stack([d.log_prob for d in closed]),
            values=torch.stack([d.value for d in closed]),
            rewards=torch.stack([d.reward for d in closed]),
            dones=torch.stack([d.ended for d in closed]),
            starts=torch.stack([d.start for d in closed]),
            masks=masks,
            hidden=closed[0].hidden,
            bootstrap_value=bootstrap,
        )

    # ------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, torch.Tensor]:
        """Everything needed to continue exactly: world state and stream, open decisions.

        Take it between :meth:`collect` calls. Returns a flat dict of tensors.
        """
        if self.obs is None:
            raise RuntimeError("reset() or collect() before state_dict()")
        state = {"env_steps": torch.tensor(self.env_steps),
                 "world/generator": self.world.generator.get_state()}
        state.update({f"world/state/{k}": v for k, v in self.world.state.fields().items()})
        state.update({f"obs/{k}": v for k, v in self.obs.items()})
        state.update({f"masks/{k}": v for k, v in self.masks.items()})
        state.update({f"return/{k}": v for k, v in self.episode_return.items()})
        for name, track in self.tracks.items():
            state[f"track/{name}/hidden"] = track.hidden
            state[f"track/{name}/start"] = track.start
            if track.pending is not None:
                for field in dataclasses.fields(track.pending):
                    value = getattr(track.pending, field.name)
                    if value is not None:
                        state[f"track/{name}/pending/{field.name}"] = value
        for name, policy in self.others.items():
            state[f"others/{name}/generator"] = policy.generator.get_state()
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Continue from :meth:`state_dict` output (the world must be built the same way)."""
        self.reset()
        world = self.world
        world.generator.set_state(state["world/generator"])
        fields = {k.split("/", 2)[2]: v for k, v in state.items() if k.startswith("world/state/")}
        world.state = world.state.replace(**fields)
        self.env_steps = int(state["env_steps"])
        self.obs = {k: state[f"obs/{k}"] for k in self.obs}
        self.masks = {k: state[f"masks/{k}"] for k in self.masks}
        self.episode_return = {k: state[f"return/{k}"] for k in self.episode_return}
        for name, track in self.tracks.items():
            track.hidden = state[f"track/{name}/hidden"]
            track.start = state[f"track/{name}/start"]
            prefix = f"track/{name}/pending/"
            fields = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            track.pending = _Decision(**{"mask": None, **fields}) if fields else None
        for name, policy in self.others.items():
            policy.generator.set_state(state[f"others/{name}/generator"])


class _EpisodeSums:
    """Running sums of finished episodes' returns and metrics within one rollout."""

    def __init__(self):
        self.returns: dict[str, list[torch.Tensor]] = {}
        self.metrics: dict[str, list[torch.Tensor]] = {}
        self.episodes: list[torch.Tensor] = []

    def add_return(self, name: str, finished: torch.Tensor, done: torch.Tensor) -> None:
        self.returns.setdefault(name, []).append((finished * done).sum())

    def add_episodes(self, metrics: dict[str, torch.Tensor], done: torch.Tensor) -> None:
        self.episodes.append(done.sum())
        for key, value in metrics.items():
            self.metrics.setdefault(key, []).append(torch.nansum(value.float()))

    def means(self) -> tuple[dict[str, float], dict[str, float]]:
        if not self.episodes:
            return {}, {}
        count = float(torch.stack(self.episodes).sum())
        returns = {k: float(torch.stack(v).sum()) / count for k, v in self.returns.items()}
        metrics = {k: float(torch.stack(v).sum()) / count for k, v in self.metrics.items()}
        return returns, metrics
