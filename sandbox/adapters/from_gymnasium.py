"""A Gymnasium vector environment seen as a sandbox World, so the sandbox's solvers train on it.

Model card (the adapter, not a world of its own):

- Roles: one, named ``"agent"`` by default, with ``count == 1``; its observation space
  is the vector env's single observation space (a ``Box``, flattened), its action space
  the single action space (``Discrete``, ``MultiDiscrete`` or a one-dimensional ``Box``).
  No action masks.
- Shapes: observations ``[num_envs, 1, obs_dim]`` float32, rewards ``[num_envs, 1]``
  float32, actions ``[num_envs, 1]`` int64 / ``[num_envs, 1, k]`` / ``[num_envs, 1, d]``.
- ``num_envs`` is the vector env's. The env must reset finished sub-environments in the
  same step (``AutoresetMode.SAME_STEP``); its ``info["final_obs"]`` becomes
  ``StepResult.final_obs``. :meth:`GymnasiumWorld.make` builds such an env from an id.
- Metrics: ``episode_return`` (sum of rewards) and ``episode_length`` (steps).
- Seeding: ``reset(seed)`` seeds the sub-environments with ``seed, seed+1, ...``
  (Gymnasium's rule); the first ``reset()`` uses the world's ``seed``.
- Limits: the simulator's own state lives inside Gymnasium, so ``world.state`` holds only
  the episode counters; a rollout over this adapter cannot be checkpointed mid-episode.

Conversions between numpy and torch happen here only, at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from sandbox.core.errors import ConfigError
from sandbox.core.metrics import MetricSpec
from sandbox.core.roles import Role
from sandbox.core.state import TensorState
from sandbox.core.step import StepResult
from sandbox.core.world import World


@dataclass(frozen=True)
class GymnasiumParams:
    """Parameters of the adapter (descriptive: the env itself is passed in)."""

    env_id: str = ""
    """Gymnasium id of the wrapped environment, when known (for records)."""
    role: str = "agent"
    """Name of the single role."""


@dataclass
class GymnasiumState(TensorState):
    """Episode counters per environment (the simulator's state stays in Gymnasium).

    Attributes:
        episode_return: ``[B]`` float32 sum of rewards so far in the episode.
        episode_length: ``[B]`` int64 steps so far in the episode.
    """

    episode_return: torch.Tensor
    episode_length: torch.Tensor


class GymnasiumWorld(World):
    """A ``gymnasium.vector.VectorEnv`` behind the World contract.

    Args:
        env: a vector env with ``autoreset_mode == AutoresetMode.SAME_STEP``.
        role: name of the single role.
        device: device of the tensors handed to solvers.
        seed: seed of the first reset.
    """

    Params = GymnasiumParams
    metrics = (
        MetricSpec("episode_return", "sum of rewards over the episode", "reward"),
        MetricSpec("episode_length", "steps in the episode", "steps", None),
    )

    def __init__(self, env: gym.vector.VectorEnv, *, role: str = "agent", device="cpu",
                 seed: int = 0):
        mode = env.metadata.get("autoreset_mode")
        if mode != gym.vector.AutoresetMode.SAME_STEP:
            raise ConfigError("env.autoreset_mode", mode,
                              "AutoresetMode.SAME_STEP (build it with GymnasiumWorld.make)")
        if not isinstance(env.single_observation_space, gym.spaces.Box):
            raise ConfigError("env.single_observation_space", env.single_observation_space,
                              "a Box")
        spec_id = env.spec.id if getattr(env, "spec", None) is not None else ""
        super().__init__(GymnasiumParams(env_id=spec_id, role=role), num_envs=env.num_envs,
                         device=device, seed=seed)
        self.env = env
        obs_space = env.single_observation_space
        flat = gym.spaces.Box(obs_space.low.reshape(-1), obs_space.high.reshape(-1),
                              dtype=np.float32)
        self._role = Role(role, 1, flat, env.single_action_space, has_mask=False)
        self._seeded = False

    @classmethod
    def make(cls, env_id: str, *, num_envs: int = 1, device="cpu", seed: int = 0,
             **env_kwargs) -> GymnasiumWorld:
        """Build a synchronous same-step-autoreset vector env of ``env_id`` and wrap it.

        Args:
            env_id: a registered Gymnasium id, e.g. ``"CartPole-v1"``.
            num_envs: sub-environments stepped together.
            device: device of the tensors handed to solvers.
            seed: seed of the first reset.
            **env_kwargs: passed to the environment's constructor.
        """
        try:
            env = gym.make_vec(
                env_id, num_envs=num_envs, vectorization_mode="sync",
                vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
                **env_kwargs,
            )
        except gym.error.Error as exc:
            raise ConfigError("env_id", env_id, f"a registered Gymnasium id ({exc})") from None
        return cls(env, device=device, seed=seed)

    @property
    def roles(self) -> dict[str, Role]:
        """The single role."""
        return {self._role.name: self._role}

    # ------------------------------------------------------------- stepping
    def reset(self, seed: int | None = None) -> dict[str, torch.Tensor]:
        """Reset every sub-environment; ``seed`` (or, the first time, ``self.seed``) seeds them."""
        if seed is not None:
            self.seed = int(seed)
        if seed is not None or not self._seeded:
            obs, _ = self.env.reset(seed=self.seed)
            self._seeded = True
        else:
            obs, _ = self.env.reset()
        self.state = self._initial_state(self.num_envs)
        return self._observe_array(obs)

    def step(self, actions: dict[str, torch.Tensor]) -> StepResult:
        """Step every sub-environment; finished ones restart in the same step."""
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        name = self._role.name
        action = self._check_actions(actions)[name]
        shape = (self.num_envs, *self.env.single_action_space.shape)
        obs, reward, terminated, truncated, info = self.env.step(
            action.detach().cpu().numpy().reshape(shape))
        reward_t = torch.as_tensor(np.asarray(reward, dtype=np.float32), device=self.device)
        state = self.state.replace(episode_return=self.state.episode_return + reward_t,
                                   episode_length=self.state.episode_length + 1)
        term = torch.as_tensor(np.asarray(terminated, dtype=bool), device=self.device)
        trunc = torch.as_tensor(np.asarray(truncated, dtype=bool), device=self.device)
        done = term | trunc
        result = StepResult(obs=self._observe_array(obs), rewards={name: reward_t.unsqueeze(-1)},
                            terminated=term, truncated=trunc, final_state=state)
        if bool(done.any()):
            final = np.array(obs, copy=True)
            ended = np.asarray(info["_final_obs"], dtype=bool)
            final[ended] = np.stack(info["final_obs"][ended])
            result.final_obs = self._observe_array(final)
            nan = torch.full((self.num_envs,), float("nan"), device=self.device)
            result.final_metrics = {
                "episode_return": torch.where(done, state.episode_return, nan),
                "episode_length": torch.where(done, state.episode_length.float(), nan),
            }
            state = self._reset_done(state, done)
        self.state = state
        return result

    def _observe_array(self, obs: np.ndarray) -> dict[str, torch.Tensor]:
        flat = np.asarray(obs, dtype=np.float32).reshape(self.num_envs, 1, -1)
        return {self._role.name: torch.as_tensor(flat, device=self.device)}

    # -------------------------------------------------- kernels of the contract
    def _initial_state(self, num_envs: int) -> GymnasiumState:
        return GymnasiumState(
            episode_return=torch.zeros(num_envs, device=self.device),
            episode_length=torch.zeros(num_envs, dtype=torch.int64, device=self.device),
        )

    def _step_state(self, state, actions):
        raise NotImplementedError("GymnasiumWorld steps the wrapped env in step()")

    def _observe(self, state):
        raise NotImplementedError("observations come from the wrapped env")

    def _episode_metrics(self, state: GymnasiumState) -> dict[str, torch.Tensor]:
        return {"episode_return": state.episode_return,
                "episode_length": state.episode_length.float()}

    def close(self) -> None:
        """Close the wrapped vector env."""
        self.env.close()
