"""``NeuralPolicy``: a learned actor-critic behind the core Policy contract.

The policy drives every agent of one role with one shared network (see
:mod:`sandbox.policies.networks`); it samples from its own ``torch.Generator`` and,
for recurrent networks, carries each agent's hidden state from one ``act`` call to the
next until :meth:`NeuralPolicy.reset` or :meth:`NeuralPolicy.end_episodes`.

Checkpoints (:meth:`NeuralPolicy.save` / :meth:`NeuralPolicy.load`) hold the state dict
and JSON metadata: format version, package version, the role's name, count and spaces,
and the architecture. Loading checks the spaces against the role it is meant to drive.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from typing import Any

import torch

from sandbox.core.errors import CheckpointError, ConfigError
from sandbox.core.policy import Policy
from sandbox.core.roles import Role, spaces_match
from sandbox.core.seeding import make_generator
from sandbox.policies.checkpoint import (
    atomic_torch_save,
    decode_metadata,
    encode_metadata,
    read_torch_file,
    space_from_json,
    space_to_json,
)
from sandbox.policies.networks import ActorCritic, NetworkConfig

#: Tag of neural-policy checkpoint files, and the version of their layout.
FORMAT = "sandbox.neural_policy"
FORMAT_VERSION = 1


def package_version() -> str:
    """The installed sandbox package's version (``"unknown"`` when not installed)."""
    try:
        return importlib_metadata.version("policy-sandbox")
    except importlib_metadata.PackageNotFoundError:
        return "unknown"


@dataclass
class Decision:
    """One batched decision of a role, with what PPO needs to learn from it.

    Attributes:
        action: ``[..., *action_shape]`` actions (int64 or float32).
        log_prob: ``[...]`` float32 log-probability of the action.
        value: ``[...]`` float32 value estimate of the observation.
        hidden: ``[..., hidden_size]`` recurrent state after the decision.
    """

    action: torch.Tensor
    log_prob: torch.Tensor
    value: torch.Tensor
    hidden: torch.Tensor


class NeuralPolicy(Policy):
    """A role's policy given by an :class:`ActorCritic` network.

    Args:
        role: the role it drives.
        config: the network architecture.
        device: device of the network and of the tensors it receives.
        seed: seed of the initial weights and of the policy's random stream
            (``reset(seed)`` restarts the stream).
    """

    name = "neural"

    def __init__(self, role: Role, *, config: NetworkConfig | None = None, device="cpu",
                 seed: int = 0):
        super().__init__(role, device=device)
        self.config = config if config is not None else NetworkConfig()
        self.module = ActorCritic(role.observation_space, role.action_space, count=role.count,
                                  config=self.config,
                                  generator=make_generator(seed, "init")).to(self.device)
        self.hidden: torch.Tensor | None = None
        self.reset(seed)

    # ------------------------------------------------------------------ acting
    def agent_index(self, count: int | None = None) -> torch.Tensor:
        """``[count]`` int64 indices of the role's agents (for the agent embedding)."""
        return torch.arange(self.role.count if count is None else count, device=self.device)

    def decide(self, obs, mask=None, hidden=None, *, deterministic: bool = False) -> Decision:
        """Sample (or take the mode of) actions, with log-probabilities and values.

        Args:
            obs: ``[B, count, obs_dim]`` float32 observations.
            mask: ``[B, count, mask_size]`` bool (True = valid) or None.
            hidden: ``[B, count, hidden_size]`` recurrent state, or None for zeros.
            deterministic: take the most likely action.

        Returns:
            A :class:`Decision` with tensors shaped ``[B, count, ...]``. Gradients are off.
        """
        with torch.no_grad():
            if hidden is None:
                hidden = self.module.initial_hidden(*obs.shape[:-1], device=self.device)
            head, value, hidden = self.module.step(obs, self.agent_index(obs.shape[-2]), hidden)
            dist = self.module.distribution(head, mask)
            action = dist.mode() if deterministic else dist.sample(self.generator)
            return Decision(action, dist.log_prob(action), value, hidden)

    def value(self, obs: torch.Tensor, hidden: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, count]`` value estimates of observations ``[B, count, obs_dim]`` (no gradient).

        Args:
            obs: ``[B, count, obs_dim]`` float32 observations.
            hidden: ``[B, count, hidden_size]`` recurrent state, or None for zeros.
        """
        with torch.no_grad():
            if hidden is None:
                hidden = self.module.initial_hidden(*obs.shape[:-1], device=self.device)
            return self.module.step(obs, self.agent_index(obs.shape[-2]), hidden)[1]

    def act(self, obs, mask=None, deterministic=False):
        """Actions ``[B, count, *action_shape]`` for observations ``[B, count, obs_dim]``."""
        if self.hidden is not None and self.hidden.shape[:-1] != obs.shape[:-1]:
            self.hidden = None
        decision = self.decide(obs, mask, self.hidden, deterministic=deterministic)
        if self.module.hidden_size:
            self.hidden = decision.hidden
        return decision.action

    def reset(self, seed: int | None = None) -> None:
        """Restart the random stream from ``seed`` and forget recurrent state."""
        super().reset(seed)
        self.hidden = None

    def end_episodes(self, done: torch.Tensor) -> None:
        """Forget the recurrent state of environments whose episode ended.

        Args:
            done: ``[B]`` bool, True where an episode ended.
        """
        if self.hidden is not None:
            self.hidden = self.hidden * (~done).view(-1, 1, 1).to(self.hidden.dtype)

    def describe(self) -> dict:
        """The policy's name and architecture (JSON-serialisable)."""
        return {"policy": self.name, "network": _config_json(self.config)}

    # ------------------------------------------------------------ checkpoints
    def metadata(self) -> dict[str, Any]:
        """JSON metadata saved beside the weights."""
        return {
            "format_version": FORMAT_VERSION,
            "sandbox_version": package_version(),
            "role": self.role.name,
            "count": self.role.count,
            "has_mask": self.role.has_mask,
            "observation_space": space_to_json(self.role.observation_space),
            "action_space": space_to_json(self.role.action_space),
            "network": _config_json(self.config),
        }

    def save(self, path: str | os.PathLike, *, extra: dict[str, Any] | None = None) -> None:
        """Write the weights and metadata to ``path`` atomically.

        Args:
            path: the checkpoint file (conventionally ``*.pt``).
            extra: JSON-serialisable facts to keep beside it (world name, training run).
        """
        meta = self.metadata()
        meta["extra"] = dict(extra or {})
        state = {k: v.detach().cpu() for k, v in self.module.state_dict().items()}
        atomic_torch_save({"format": FORMAT, "metadata": encode_metadata(meta),
                           "state_dict": state}, path)

    @classmethod
    def load(cls, path: str | os.PathLike, *, role: Role | None = None, device="cpu",
             seed: int = 0) -> NeuralPolicy:
        """A policy rebuilt from a checkpoint file.

        Args:
            path: a file written by :meth:`save`.
            role: the role it will drive; its spaces must match the checkpoint's. None
                rebuilds the role recorded in the checkpoint.
            device: device for the network.
            seed: seed of the policy's random stream.

        Raises:
            CheckpointError: the file is missing, corrupt or truncated, of another
                format version, or its spaces do not fit ``role``.
        """
        payload = read_torch_file(path, kind=FORMAT, device="cpu")
        meta = read_policy_metadata(payload, path=path)
        saved = _saved_role(meta, path)
        if role is not None:
            check_fits(saved, role, path=path, embedding=meta["network"]["agent_embedding"])
        config = _config_from_json(meta["network"], path)
        policy = cls(role or saved, config=config, device=device, seed=seed)
        try:
            policy.module.load_state_dict(payload.get("state_dict", {}))
        except (RuntimeError, TypeError, AttributeError) as exc:
            raise CheckpointError(
                f"checkpoint {str(path)!r} has weights that do not fit its own architecture: {exc}"
            ) from None
        return policy


def read_policy_metadata(payload: dict[str, Any], *, path) -> dict[str, Any]:
    """Validated metadata of a neural-policy checkpoint payload."""
    meta = decode_metadata(payload.get("metadata"), path=path)
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has format version {meta.get('format_version')!r}; "
            f"this sandbox reads version {FORMAT_VERSION}"
        )
    missing = {"role", "count", "observation_space", "action_space", "network"} - set(meta)
    if missing:
        raise CheckpointError(f"checkpoint {str(path)!r} metadata lacks {sorted(missing)}")
    return meta


def check_fits(saved: Role, role: Role, *, path, embedding: int = 0) -> None:
    """Raise CheckpointError unless a checkpoint trained for ``saved`` can drive ``role``."""
    for what in ("observation_space", "action_space"):
        if not spaces_match(getattr(saved, what), getattr(role, what)):
            raise CheckpointError(
                f"checkpoint {str(path)!r} was trained for role {saved.name!r} with "
                f"{what} {getattr(saved, what)}, which does not fit role {role.name!r} "
                f"with {what} {getattr(role, what)}"
            )
    if embedding and saved.count != role.count:
        raise CheckpointError(
            f"checkpoint {str(path)!r} embeds {saved.count} agent indices but role "
            f"{role.name!r} has {role.count} agents"
        )


def _saved_role(meta: dict[str, Any], path) -> Role:
    return Role(
        name=str(meta["role"]),
        count=int(meta["count"]),
        observation_space=space_from_json(meta["observation_space"]),
        action_space=space_from_json(meta["action_space"]),
        has_mask=bool(meta.get("has_mask", False)),
    )


def _config_json(config: NetworkConfig) -> dict[str, Any]:
    data = dataclasses.asdict(config)
    data["hidden_sizes"] = list(config.hidden_sizes)
    return data


def _config_from_json(data: dict[str, Any], path) -> NetworkConfig:
    try:
        return NetworkConfig(**{**data, "hidden_sizes": tuple(data["hidden_sizes"])})
    except (TypeError, KeyError, ConfigError) as exc:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has an unknown architecture: {exc}") from None
