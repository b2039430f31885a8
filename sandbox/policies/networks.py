"""Actor-critic networks for one role, parameters shared across the role's agents.

Each agent feeds its own observation (plus, optionally, a learned embedding of its index
within the role, so agents that see the same features can still specialise) through
the same network. Two torsos:

- ``"mlp"``: separate actor and critic multilayer perceptrons (or one shared torso).
- ``"gru"``: an encoder layer, a GRU cell carrying a hidden state across the role's
  decisions, and actor and critic heads on the GRU output.

Heads follow the role's action space: ``Discrete`` -> masked categorical logits,
``MultiDiscrete`` -> one categorical block per component, ``Box`` -> squashed Gaussian
(state-independent log std) or Beta. Initialisation is orthogonal with gain sqrt(2) in
the torso, 0.01 for the policy head and 1 for the value head (the usual PPO choice,
Andrychowicz et al. 2021, "What matters in on-policy RL").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.nn.utils import skip_init

from sandbox.core.errors import ConfigError, check_range
from sandbox.policies.distributions import (
    BetaBox,
    MaskedCategorical,
    MultiCategorical,
    SquashedGaussian,
)

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}
KINDS = ("mlp", "gru")
CONTINUOUS = ("gaussian", "beta")


@dataclass(frozen=True)
class NetworkConfig:
    """Architecture of an actor-critic network (saved in checkpoints' metadata)."""

    kind: str = "mlp"
    """Torso: ``"mlp"`` (feed-forward) or ``"gru"`` (recurrent over the role's decisions)."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Widths of the hidden layers; for ``"gru"`` the last one is the GRU's state size."""
    activation: str = "tanh"
    """Hidden-layer nonlinearity: ``"tanh"`` or ``"relu"``."""
    shared_torso: bool = False
    """MLP only: actor and critic share their hidden layers (a GRU torso is always shared)."""
    agent_embedding: int = 0
    """Width of a learned per-agent-index embedding appended to the features; 0 = none."""
    continuous: str = "gaussian"
    """Box actions: ``"gaussian"`` (tanh-squashed) or ``"beta"``."""
    log_std_init: float = 0.0
    """Gaussian head: initial log standard deviation before squashing."""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ConfigError("network.kind", self.kind, f"one of {KINDS}")
        sizes = tuple(self.hidden_sizes)
        if not sizes or any(int(h) != h or h < 1 for h in sizes):
            raise ConfigError("network.hidden_sizes", self.hidden_sizes,
                              "a non-empty list of positive integers")
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in sizes))
        if self.activation not in ACTIVATIONS:
            raise ConfigError("network.activation", self.activation, f"one of {tuple(ACTIVATIONS)}")
        if self.continuous not in CONTINUOUS:
            raise ConfigError("network.continuous", self.continuous, f"one of {CONTINUOUS}")
        check_range("network.agent_embedding", self.agent_embedding, low=0, high=4096)
        check_range("network.log_std_init", self.log_std_init, low=-20, high=5)


def head_size(action_space: gym.spaces.Space, continuous: str = "gaussian") -> int:
    """Outputs of the policy head for ``action_space``.

    Args:
        action_space: one agent's ``Discrete``, ``MultiDiscrete`` or ``Box`` space.
        continuous: ``"gaussian"`` (d means) or ``"beta"`` (2 d concentrations).
    """
    if isinstance(action_space, gym.spaces.Discrete):
        return int(action_space.n)
    if isinstance(action_space, gym.spaces.MultiDiscrete):
        return int(np.sum(action_space.nvec))
    if isinstance(action_space, gym.spaces.Box):
        if not (np.all(np.isfinite(action_space.low)) and np.all(np.isfinite(action_space.high))):
            raise ConfigError("action_space", action_space, "a Box with finite bounds")
        if len(action_space.shape) != 1:
            raise ConfigError("action_space", action_space, "a one-dimensional Box")
        dims = int(action_space.shape[0])
        return 2 * dims if continuous == "beta" else dims
    raise ConfigError("action_space", action_space, "Discrete, MultiDiscrete or Box")


# Layers are built uninitialised (``skip_init``) and initialised from the policy's own
# generator: torch's default initialisers would draw from the global random stream.
def _layer(inputs: int, outputs: int, gain: float, generator: torch.Generator) -> nn.Linear:
    layer = skip_init(nn.Linear, inputs, outputs)
    nn.init.orthogonal_(layer.weight, gain, generator=generator)
    nn.init.zeros_(layer.bias)
    return layer


def _mlp(inputs: int, sizes: tuple[int, ...], activation: str, generator) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in sizes:
        layers += [_layer(inputs, width, math.sqrt(2), generator), ACTIVATIONS[activation]()]
        inputs = width
    return nn.Sequential(*layers)


def _gru(inputs: int, size: int, generator: torch.Generator) -> nn.GRUCell:
    cell = skip_init(nn.GRUCell, inputs, size)
    bound = 1.0 / math.sqrt(size)  # torch's own GRU initialisation, from our generator
    for weight in cell.parameters():
        nn.init.uniform_(weight, -bound, bound, generator=generator)
    return cell


class ActorCritic(nn.Module):
    """Policy and value networks for one agent of a role, applied to all its agents.

    Args:
        observation_space: one agent's observation space (a ``Box``).
        action_space: one agent's action space.
        count: agents in the role (size of the agent-index embedding table).
        config: the architecture.
        generator: the random stream of the initial weights (None: seed 0).
    """

    def __init__(self, observation_space, action_space, *, count: int, config: NetworkConfig,
                 generator: torch.Generator | None = None):
        super().__init__()
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        self.config = config
        self.action_space = action_space
        obs_dim = int(np.prod(observation_space.shape))
        self.embedding = None
        if config.agent_embedding:
            self.embedding = skip_init(nn.Embedding, count, config.agent_embedding)
            nn.init.normal_(self.embedding.weight, generator=g)
        features = obs_dim + config.agent_embedding
        sizes = config.hidden_sizes
        outputs = head_size(action_space, config.continuous)
        if config.kind == "gru":
            self.encoder = _mlp(features, sizes[:-1] or sizes, config.activation, g)
            self.gru = _gru((sizes[:-1] or sizes)[-1], sizes[-1], g)
            self.actor_torso = self.critic_torso = None
        else:
            self.encoder = self.gru = None
            self.actor_torso = _mlp(features, sizes, config.activation, g)
            self.critic_torso = (
                self.actor_torso if config.shared_torso
                else _mlp(features, sizes, config.activation, g)
            )
        self.actor_head = _layer(sizes[-1], outputs, 0.01, g)
        self.critic_head = _layer(sizes[-1], 1, 1.0, g)
        box = isinstance(action_space, gym.spaces.Box)
        if box and config.continuous == "gaussian":
            self.log_std = nn.Parameter(torch.full((outputs,), float(config.log_std_init)))
        else:
            self.log_std = None
        if box:
            self.register_buffer("low", torch.as_tensor(action_space.low, dtype=torch.float32))
            self.register_buffer("high", torch.as_tensor(action_space.high, dtype=torch.float32))

    @property
    def hidden_size(self) -> int:
        """Size of the recurrent state per agent (0 for feed-forward networks)."""
        return self.config.hidden_sizes[-1] if self.gru is not None else 0

    def initial_hidden(self, *shape: int, device=None) -> torch.Tensor:
        """Zero recurrent state ``[*shape, hidden_size]`` float32 (hidden_size may be 0)."""
        return torch.zeros(*shape, self.hidden_size, device=device)

    def _features(self, obs: torch.Tensor, agent_index: torch.Tensor) -> torch.Tensor:
        obs = obs.float()
        if self.embedding is None:
            return obs
        embedded = self.embedding(agent_index).expand(*obs.shape[:-1], -1)
        return torch.cat([obs, embedded], dim=-1)

    def step(self, obs, agent_index, hidden):
        """One decision for any batch of agents.

        Args:
            obs: ``[..., obs_dim]`` float observations.
            agent_index: int64 index of each agent within the role, broadcastable to
                ``obs.shape[:-1]``.
            hidden: ``[..., hidden_size]`` recurrent state (ignored when feed-forward).

        Returns:
            ``(head, value, hidden)``: ``[..., head_size]`` policy-head outputs,
            ``[...]`` value estimates and the next ``[..., hidden_size]`` state.
        """
        x = self._features(obs, agent_index)
        if self.gru is None:
            actor = self.actor_torso(x)
            critic = actor if self.config.shared_torso else self.critic_torso(x)
            return self.actor_head(actor), self.critic_head(critic).squeeze(-1), hidden
        encoded = self.encoder(x)
        lead = encoded.shape[:-1]
        new_hidden = self.gru(encoded.reshape(-1, encoded.shape[-1]),
                              hidden.reshape(-1, hidden.shape[-1])).reshape(*lead, -1)
        return self.actor_head(new_hidden), self.critic_head(new_hidden).squeeze(-1), new_hidden

    def evaluate_sequence(self, obs, agent_index, hidden, starts):
        """Policy heads and values over a time-major sequence, re-running the GRU.

        Args:
            obs: ``[T, M, obs_dim]`` float observations of ``M`` agent streams.
            agent_index: ``[M]`` int64 agent index of each stream.
            hidden: ``[M, hidden_size]`` state before the first step.
            starts: ``[T, M]`` bool, True where an episode began before that step (the
                state is zeroed there, as it was when acting).

        Returns:
            ``(head [T, M, head_size], value [T, M])``.
        """
        if self.gru is None:
            head, value, _ = self.step(obs, agent_index, hidden)
            return head, value
        heads, values = [], []
        for t in range(obs.shape[0]):
            hidden = hidden * (~starts[t]).unsqueeze(-1).to(hidden.dtype)
            head, value, hidden = self.step(obs[t], agent_index, hidden)
            heads.append(head)
            values.append(value)
        return torch.stack(heads), torch.stack(values)

    def distribution(self, head: torch.Tensor, mask: torch.Tensor | None = None):
        """The action distribution for policy-head outputs ``head`` ``[..., head_size]``.

        Args:
            head: outputs of :meth:`step`.
            mask: ``[..., mask_size]`` bool validity mask for discrete spaces, or None.
        """
        space = self.action_space
        if isinstance(space, gym.spaces.Discrete):
            return MaskedCategorical(head, mask)
        if isinstance(space, gym.spaces.MultiDiscrete):
            return MultiCategorical(head, mask, tuple(int(n) for n in space.nvec))
        if self.log_std is not None:
            return SquashedGaussian(head, self.log_std, self.low, self.high)
        alpha, beta = (1.0 + nn.functional.softplus(head)).chunk(2, dim=-1)
        return BetaBox(alpha, beta, self.low, self.high)
