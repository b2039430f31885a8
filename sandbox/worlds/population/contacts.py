"""Contacts: the day's infection pressure per group, the exposures it causes, random tests.

Exposure comes through three independent channels, each a Bernoulli draw per resident:
home (probability ``1 - exp(-w_h * sum_{j in home} x_j)``), workplace or class
(``1 - exp(-w_p * sum_{j in place} present_j x_j)``, only if present) and community
(``1 - exp(-out_i * w_c * sum_{j in community} out_j x_j)``, ``out`` 1, or
``isolated_contact`` when isolating). A susceptible is exposed if
any channel hits, so with probability ``1 - exp(-lambda_i)``, ``lambda_i`` the sum of the
three (the force of infection in ``disease.py``). Random tests are a fourth channel over
everyone at the day's testing rate.

Each channel's draw is a set of *hits* (resident, uniform ``u``) with ``u`` below the
channel's probability for the resident's group (for the community, the probability of a
member who goes out): drawn sparsely over the groups with infectious members
(:func:`draw_hits`), or read from dense uniforms (:func:`read_hits`, rows 1-4 of the day's
``[5, B, M]`` uniforms). A hit exposes a susceptible at home always, at its place if it
goes out, in the community if it goes out or if ``u`` is also below the isolating
member's probability (:func:`expose`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sandbox.worlds.population.groups import flat_indices
from sandbox.worlds.population.sampling import geometric_hits

#: Channels of the day's draws (row ``channel + 1`` of the dense uniforms).
HOME, PLACE, COMMUNITY, TESTING = range(4)
_SUSCEPTIBLE, _EXPOSED, _SYMPTOMATIC, _RECOVERED = 0, 1, 4, 5


@dataclass
class ContactGroups:
    """Every contact group of every environment in one numbering, for one-pass group sums.

    Households come first (``b * H + h``), then places (offset ``B * H``), then
    communities, then one group of all residents per environment (for random tests); N
    groups in all.

    Attributes:
        group_of: ``[3, B * M]`` int32 each resident-environment's household, place and
            community in this numbering.
        weight: ``[N]`` hazard per unit of summed infectiousness (``rate / (members - 1)``
            for households and places, ``rate / members`` for communities).
        first: ``[N]`` int32 position of the group's first member in ``members``.
        size: ``[N]`` int32 members per group.
        offset: ``[N]`` int32 ``b * M`` of the group's environment.
        channel: ``[N]`` int64 HOME, PLACE, COMMUNITY (or TESTING).
        members: ``[3 * M]`` int32 residents listed group by group (``DiseaseTables``).
        testing: ``[B]`` int64 the last B groups: each environment's residents, for tests.
    """

    group_of: torch.Tensor
    weight: torch.Tensor
    first: torch.Tensor
    size: torch.Tensor
    offset: torch.Tensor
    channel: torch.Tensor
    members: torch.Tensor
    testing: torch.Tensor

    @classmethod
    def build(cls, indices, weights, listings, members, *, num_envs: int) -> ContactGroups:
        """From the three ``GroupIndex`` groupings, their ``[G]`` weights and listings."""
        base, group_of, parts = 0, [], {k: [] for k in ("weight", "first", "size", "offset",
                                                        "channel")}
        residents = indices[0].residents
        for channel, (index, weight, listing) in enumerate(zip(indices, weights, listings)):
            group_of.append(index.flat + base)
            envs = torch.arange(num_envs, device=weight.device).repeat_interleave(index.groups)
            parts["weight"].append(weight.repeat(num_envs))
            parts["first"].append(listing.first.to(torch.int32).repeat(num_envs))
            parts["size"].append(listing.size.to(torch.int32).repeat(num_envs))
            parts["offset"].append((envs * residents).to(torch.int32))
            parts["channel"].append(torch.full_like(envs, channel))
            base += num_envs * index.groups
        # one more group per environment: everyone, in household order, for the tests
        envs = torch.arange(num_envs, device=weights[0].device)
        parts["weight"].append(torch.zeros(num_envs, dtype=weights[0].dtype,
                                           device=envs.device))
        parts["first"].append(torch.zeros_like(envs, dtype=torch.int32))
        parts["size"].append(torch.full_like(envs, residents, dtype=torch.int32))
        parts["offset"].append((envs * residents).to(torch.int32))
        parts["channel"].append(torch.full_like(envs, TESTING))
        return cls(torch.stack(group_of).to(torch.int32),
                   **{k: torch.cat(v) for k, v in parts.items()}, members=members,
                   testing=envs + base)


@dataclass
class Hits:
    """Draws below their channel's threshold.

    Attributes:
        resident: ``[K]`` int64 flat index ``b * M + i`` of the resident drawn.
        u: ``[K]`` its uniform (below the channel's probability for it).
        channel: ``[K]`` int64 HOME, PLACE, COMMUNITY or TESTING.
    """

    resident: torch.Tensor
    u: torch.Tensor
    channel: torch.Tensor


def group_hazard(groups: ContactGroups, infectious: torch.Tensor, x: torch.Tensor,
                 going_out: torch.Tensor, isolated_contact: float
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """The day's hazard on each group's members, by one ``index_add_`` over the infectious.

    Args:
        groups: the contact groups.
        infectious: ``[K]`` int64 flat indices of infectious residents, ascending.
        x: ``[K]`` their infectiousness.
        going_out: ``[K]`` bool, not isolating.
        isolated_contact: community contact kept when isolating (f).

    Returns:
        ``hazard`` ``[N]`` per day: households ``w_h sum x``, places ``w_p sum present x``
        (on present members), communities ``w_c sum out x`` with ``out`` 1 or f (on a
        member who goes out; f times it on one who isolates); and ``ids`` ``[3, K]`` the
        infectious residents' groups.
    """
    ids = groups.group_of.index_select(1, infectious)
    values = torch.stack([x, x * going_out, torch.where(going_out, x, x * isolated_contact)])
    sums = torch.zeros(groups.weight.shape[0], dtype=x.dtype, device=x.device)
    sums.index_add_(0, ids.reshape(-1), values.reshape(-1))
    return sums.mul_(groups.weight), ids


def _probability(hazard: torch.Tensor) -> torch.Tensor:
    return torch.expm1(-hazard).neg_()


def draw_hits(groups: ContactGroups, hazard: torch.Tensor, ids: torch.Tensor, *,
              testing_rate: torch.Tensor, residents: int, generator: torch.Generator) -> Hits:
    """The day's hits drawn sparsely: over the groups of infectious residents, and tests.

    Args:
        groups: the contact groups.
        hazard: ``[N]`` the day's hazard per group (:func:`group_hazard`).
        ids: ``[3, K]`` the infectious residents' groups (:func:`group_hazard`).
        testing_rate: ``[B]`` share tested today.
        residents: residents M per environment.
        generator: the stream the draws come from.
    """
    # every group with an infectious member, then everyone (for the tests)
    active = torch.cat([torch.unique(ids), groups.testing])
    probs = _probability(hazard.index_select(0, active)).double()
    probs[-testing_rate.shape[0]:] = testing_rate
    first = groups.first.index_select(0, active).long()
    size = groups.size.index_select(0, active).long()
    offset = groups.offset.index_select(0, active).long()
    channel = groups.channel.index_select(0, active)
    slot, segment = geometric_hits(first, size, probs, generator=generator)
    resident = groups.members.index_select(0, slot).long().add_(offset.index_select(0, segment))
    w = torch.rand(slot.shape[0], generator=generator, dtype=hazard.dtype, device=slot.device)
    u = probs.index_select(0, segment).to(hazard.dtype).mul_(w)
    return Hits(resident, u, channel.index_select(0, segment))


def read_hits(groups: ContactGroups, hazard: torch.Tensor, uniforms: torch.Tensor, *,
              testing_rate: torch.Tensor) -> Hits:
    """The day's hits read from dense uniforms ``[5, B, M]`` (rows 1-4: the channels)."""
    probability = _probability(hazard)
    residents, u_all, channels = [], [], []
    for channel in (HOME, PLACE, COMMUNITY, TESTING):
        u = uniforms[channel + 1]
        if channel == TESTING:
            threshold = testing_rate.to(u.dtype).unsqueeze(-1).expand_as(u)
        else:
            threshold = probability.index_select(0, groups.group_of[channel]).view_as(u)
        hit = flat_indices(u < threshold)
        residents.append(hit)
        u_all.append(u.reshape(-1).index_select(0, hit))
        channels.append(torch.full_like(hit, channel))
    return Hits(torch.cat(residents), torch.cat(u_all), torch.cat(channels))


def expose(hits: Hits, state: torch.Tensor, going_out: torch.Tensor, groups: ContactGroups,
           hazard: torch.Tensor, isolated_contact: float) -> torch.Tensor:
    """``[E]`` int64 flat indices (ascending, distinct) of the susceptibles exposed today.

    Args:
        hits: the day's hits.
        state: ``[B * M]`` int8 states at dawn.
        going_out: ``[B * M]`` uint8, 1 unless isolating.
        groups: the contact groups.
        hazard: ``[N]`` the day's hazard per group.
        isolated_contact: community contact kept when isolating.
    """
    susceptible = state.index_select(0, hits.resident) == _SUSCEPTIBLE
    out = going_out.index_select(0, hits.resident) > 0
    channel = hits.channel
    # an isolating member is hit in the community if u is below its own (smaller) probability
    community = hazard.index_select(
        0, groups.group_of[COMMUNITY].index_select(0, hits.resident))
    isolated = _probability(community * isolated_contact)
    caught = (channel == HOME) | ((channel == PLACE) & out) | (
        (channel == COMMUNITY) & (out | (hits.u < isolated)))
    return torch.unique(hits.resident[caught & susceptible])


def run_tests(hits: Hits, state: torch.Tensor, *, testing_rate: torch.Tensor,
                 sensitivity: float, residents: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random tests of residents at large (not in hospital, not dead).

    A hit of the testing channel is a test if the resident is at large; an infected one
    (E, A, P or I) is positive if ``u < rate * sensitivity`` too.

    Returns:
        ``tests`` ``[B]`` int64 count of tests, and ``positive`` ``[K]`` int64 flat indices.
    """
    tested = hits.channel == TESTING
    resident, u = hits.resident[tested], hits.u[tested]
    health = state.index_select(0, resident)
    env = resident.div(residents, rounding_mode="floor")
    at_large = health <= _RECOVERED
    tests = torch.bincount(env[at_large], minlength=testing_rate.shape[0])
    threshold = (testing_rate.to(u.dtype) * sensitivity).index_select(0, env)
    infected = (health >= _EXPOSED) & (health <= _SYMPTOMATIC)
    return tests, resident[infected & (u < threshold)]
