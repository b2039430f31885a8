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
member's probability; a hit of the testing channel tests a resident at large
(:func:`meet`, one table lookup per hit by channel, isolation and state).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sandbox.worlds.population.arrays import Arrays
from sandbox.worlds.population.groups import flat_indices
from sandbox.worlds.population.sampling import draw_geometric

#: Channels of the day's draws (row ``channel + 1`` of the dense uniforms).
HOME, PLACE, COMMUNITY, TESTING = range(4)
_SUSCEPTIBLE, _EXPOSED, _SYMPTOMATIC, _RECOVERED, _STATES = 0, 1, 4, 5, 8
#: What a hit does, by ``16 * channel + 8 * isolating + state`` (:data:`MEETINGS`).
NOTHING, EXPOSES, EXPOSES_IF_CLOSE, TESTS_NEGATIVE, TESTS_INFECTED = range(5)


def meeting_table() -> torch.Tensor:
    """``[64]`` int8: what a hit does, by ``16 * channel + 8 * isolating + state``.

    A hit exposes a susceptible at home, at its place if it goes out, and in the community
    if it goes out (``EXPOSES``) or, when it isolates, if its uniform is also below the
    isolating member's probability (``EXPOSES_IF_CLOSE``). A hit of the testing channel
    tests a resident at large (S to R): ``TESTS_INFECTED`` for E, A, P or I (positive
    with the test's sensitivity), ``TESTS_NEGATIVE`` for S and R.
    """
    table = torch.full((4, 2, _STATES), NOTHING, dtype=torch.int8)
    table[HOME, :, _SUSCEPTIBLE] = EXPOSES
    table[PLACE, 0, _SUSCEPTIBLE] = EXPOSES
    table[COMMUNITY, 0, _SUSCEPTIBLE] = EXPOSES
    table[COMMUNITY, 1, _SUSCEPTIBLE] = EXPOSES_IF_CLOSE
    table[TESTING, :, :_RECOVERED + 1] = TESTS_INFECTED
    table[TESTING, :, _SUSCEPTIBLE] = TESTS_NEGATIVE
    table[TESTING, :, _RECOVERED] = TESTS_NEGATIVE
    return table.reshape(-1)


MEETINGS = meeting_table()


@dataclass
class ContactGroups:
    """Every contact group of every environment in one numbering, for one-pass group sums.

    Households come first (``b * H + h``), then places (offset ``B * H``), then
    communities, then one group of all residents per environment (for random tests, the
    last B groups); N groups in all.

    Attributes:
        group_of: ``[B * M, 3]`` int32 each resident-environment's household, place and
            community in this numbering (a row per resident: one ``index_select`` along
            the leading dimension gives a listed resident's three groups).
        weight: ``[N]`` hazard per unit of summed infectiousness (``rate / (members - 1)``
            for households and places, ``rate / members`` for communities, 0 for tests).
        layout: ``[N, 4]`` int64 per group: position of its first member in ``members``,
            members, ``b * M`` of its environment, and channel (HOME, PLACE, COMMUNITY or
            TESTING): one ``index_select`` gives all four for the day's active groups.
        members: ``[3 * M]`` int32 residents listed group by group (``DiseaseTables``).
        meetings: ``[64]`` int8 :func:`meeting_table` on the groups' device.
        num_envs: environments B.
    """

    group_of: torch.Tensor
    weight: torch.Tensor
    layout: torch.Tensor
    members: torch.Tensor
    meetings: torch.Tensor
    num_envs: int

    @classmethod
    def build(cls, indices, weights, listings, members, *, num_envs: int) -> ContactGroups:
        """From the three ``GroupIndex`` groupings, their ``[G]`` weights and listings."""
        base, group_of, weight, layout = 0, [], [], []
        residents = indices[0].residents
        device = weights[0].device
        for channel, (index, rate, listing) in enumerate(zip(indices, weights, listings)):
            group_of.append(index.flat + base)
            envs = torch.arange(num_envs, device=device).repeat_interleave(index.groups)
            weight.append(rate.repeat(num_envs))
            layout.append(torch.stack([listing.first.long().repeat(num_envs),
                                       listing.size.long().repeat(num_envs),
                                       envs * residents, torch.full_like(envs, channel)], 1))
            base += num_envs * index.groups
        # one more group per environment: everyone, in household order, for the tests
        envs = torch.arange(num_envs, device=device)
        weight.append(torch.zeros(num_envs, dtype=weights[0].dtype, device=device))
        layout.append(torch.stack([torch.zeros_like(envs), torch.full_like(envs, residents),
                                   envs * residents, torch.full_like(envs, TESTING)], 1))
        return cls(torch.stack(group_of, 1).to(torch.int32), torch.cat(weight), torch.cat(layout),
                   members=members, meetings=MEETINGS.to(device), num_envs=num_envs)


@dataclass
class Hits:
    """Draws below their channel's threshold.

    Fields are arrays of the kernel's backend (``arrays.Arrays``: NumPy views on the
    CPU, else tensors).

    Attributes:
        resident: ``[K]`` int64 flat index ``b * M + i`` of the resident drawn.
        u: ``[K]`` its uniform (below the channel's probability for it).
        channel: ``[K]`` int64 HOME, PLACE, COMMUNITY or TESTING.
        hazard: ``[K]`` the day's hazard of the group the hit fell in (for the community
            channel, the hazard on a member who goes out).
    """

    resident: object
    u: object
    channel: object
    hazard: object

    def on(self, xp: Arrays) -> Hits:
        """The same hits (tensors) as arrays of ``xp``."""
        return Hits(*(xp.array(x) for x in (self.resident, self.u, self.channel, self.hazard)))


def group_hazard(groups: ContactGroups, listed, pressure, xp: Arrays):
    """``[N]`` the day's hazard on each group's members, by one weighted ``bincount``.

    Args:
        groups: the contact groups.
        listed: ``[K]`` int64 flat indices of residents, every infectious one among them
            (the others add nothing), an array of ``xp``.
        pressure: ``[K, 3]`` what each adds to its household (``x``), place
            (``present * x``) and community (``out * x``, ``out`` 1 or f), ``x`` its
            infectiousness, an array of ``xp``.
        xp: the arrays to compute on.

    Returns:
        An array of ``xp`` in the weights' dtype: households ``w_h sum x``, places
        ``w_p sum present x`` (on present members), communities ``w_c sum out x`` (on a
        member who goes out; f times it on one who isolates); and 1 for the testing
        groups, which are always drawn. Each sum adds its members in resident order.
    """
    weight = xp.const(groups.weight)
    ids = xp.const(groups.group_of)[listed]
    sums = xp.bincount(ids.reshape(-1), weights=pressure.reshape(-1), minlength=weight.shape[0])
    hazard = xp.astype(sums, weight) * weight
    hazard[-groups.num_envs:] = 1.0
    return hazard


def _probability(hazard: torch.Tensor) -> torch.Tensor:
    return torch.expm1(-hazard).neg_()


def draw_hits(groups: ContactGroups, hazard, *, testing_hazard: torch.Tensor,
              xp: Arrays) -> Hits:
    """The day's hits drawn sparsely: over the groups with an infectious member, and tests.

    Args:
        groups: the contact groups.
        hazard: ``[N]`` the day's hazard per group (:func:`group_hazard`, an array of
            ``xp``); positive for the groups with an infectious member and for the
            testing groups (the last B).
        testing_hazard: ``[B]`` float64 ``-log(1 - r)`` of the day's testing rate ``r``.
        xp: the arrays to compute on, with the stream the draws come from.
    """
    group_hazard = xp.array(hazard)
    active = xp.flatnonzero(group_hazard > 0)
    first, size, offset, channel = xp.const(groups.layout)[active].T
    active_hazard = group_hazard[active]
    drawn = xp.float64(active_hazard)
    drawn[-testing_hazard.shape[0]:] = xp.array(testing_hazard)
    slot, segment = draw_geometric(xp, first, size, drawn)
    resident = xp.int64(xp.const(groups.members)[slot])
    if testing_hazard.shape[0] > 1:
        resident = resident + offset[segment]
    # a hit's uniform is uniform below its group's probability 1 - exp(-h)
    u = xp.rand(slot.shape[0]) * -xp.expm1(-drawn)[segment]
    return Hits(resident, u, channel[segment], active_hazard[segment])


def read_hits(groups: ContactGroups, hazard: torch.Tensor, uniforms: torch.Tensor, *,
              testing_rate: torch.Tensor) -> Hits:
    """The day's hits read from dense uniforms ``[5, B, M]`` (rows 1-4: the channels)."""
    probability = _probability(hazard)
    parts = {"resident": [], "u": [], "channel": [], "hazard": []}
    for channel in (HOME, PLACE, COMMUNITY, TESTING):
        u = uniforms[channel + 1]
        if channel == TESTING:
            threshold = testing_rate.to(u.dtype).unsqueeze(-1).expand_as(u)
            group_hazard_of = torch.zeros_like(u)
        else:
            group = groups.group_of[:, channel].contiguous()
            threshold = probability.index_select(0, group).view_as(u)
            group_hazard_of = hazard.index_select(0, group).view_as(u)
        hit = flat_indices(u < threshold)
        parts["resident"].append(hit)
        parts["u"].append(u.reshape(-1).index_select(0, hit))
        parts["channel"].append(torch.full_like(hit, channel))
        parts["hazard"].append(group_hazard_of.reshape(-1).index_select(0, hit))
    return Hits(**{name: torch.cat(values) for name, values in parts.items()})


def meet(hits: Hits, state, isolate, *, meetings: torch.Tensor,
         isolated_contact: float, positive_below: torch.Tensor, residents: int, xp: Arrays
         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Exposures and random tests of the day's hits.

    Args:
        hits: the day's hits, as arrays of ``xp``.
        state: ``[B * M]`` int8 states at dawn (a tensor or an array of ``xp``).
        isolate: ``[B * M]`` uint8, 1 if isolating today (likewise).
        meetings: ``[64]`` int8 :func:`meeting_table`.
        isolated_contact: community contact kept when isolating (f).
        positive_below: ``[B]`` testing rate times sensitivity: a tested infected resident
            is positive if its uniform is below it.
        residents: residents M per environment.
        xp: the arrays to compute on.

    Returns:
        ``exposed`` ``[E]`` int64 flat indices (ascending, distinct) of the susceptibles
        exposed today; ``tested`` ``[B, 2]`` int64 tests taken (residents at large hit by
        the testing channel) and positive tests; ``positive`` ``[P]`` int64 flat indices
        of the residents who tested positive (E, A, P or I at dawn).
    """
    resident, u = hits.resident, hits.u
    key = hits.channel * 16 + xp.array(isolate)[resident] * 8 + xp.array(state)[resident]
    what = xp.const(meetings)[key]
    # an isolating member is hit in the community if u is below its own, smaller, probability
    close = -xp.expm1(hits.hazard * -isolated_contact)
    caught = (what == EXPOSES) | ((what == EXPOSES_IF_CLOSE) & (u < close))
    exposed = xp.unique(resident[caught])
    tested = what >= TESTS_NEGATIVE
    batch, below = positive_below.shape[0], xp.array(positive_below)
    if batch == 1:
        positive = (what == TESTS_INFECTED) & (u < below[0])
        counts = xp.stack([tested.sum(), positive.sum()]).reshape(1, 2)
    else:
        env = resident // residents
        positive = (what == TESTS_INFECTED) & (u < below[env])
        counts = xp.stack([xp.bincount(env[tested], minlength=batch),
                           xp.bincount(env[positive], minlength=batch)], 1)
    return xp.tensor(exposed), xp.tensor(xp.int64(counts)), xp.tensor(resident[positive])
