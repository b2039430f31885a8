"""The disease kernel: group infection pressure, daily progression and testing.

States (``int8``): S=0 susceptible, E=1 exposed, A=2 asymptomatic infectious,
P=3 presymptomatic infectious, I=4 symptomatic infectious, R=5 recovered, H=6
hospitalised, D=7 dead.

Force of infection on resident i in environment b (rates per day)::

    lambda_i = w_h[h(i)] * sum_{j in h(i)} x_j                          household
             + present_i * w_p[p(i)] * sum_{j in p(i)} present_j x_j    workplace / class
             + w_c[c(i)] * out_i * sum_{j in c(i)} out_j x_j            community

with ``x_j`` the infectiousness of j's state (A: relative, P and I: 1, else 0), ``present`` 1
unless isolating, ``out`` 1 or ``isolated_contact`` when isolating, group weights
``rate / (members - 1)`` (households, places) and ``rate / members`` (community). The
group sums are one weighted ``bincount`` over the day's listed residents (those in E, A,
P, I, H or D, and those who isolate: ``contacts.group_hazard``). A susceptible is exposed
with probability ``1 - exp(-lambda_i)``, drawn as three independent channels (home,
place, community: ``contacts.py``), each only over the groups with an infectious member,
so a day costs O(M) byte passes and O(active) draws, not O(contacts).

Every other random choice of a resident-day reads one uniform ``u``, compared with two
thresholds of its state (and age): it *leaves* its state if ``u < leave`` and takes the
state's *branch* if also ``u < branch`` (``branch <= leave``). An exposed resident leaves
E if ``u < sigma`` and becomes presymptomatic (branch) if ``u < sigma * p_symptomatic(age)``,
else asymptomatic; likewise P (``pi``: onset), A (``gamma``: recovery), I (``gamma``;
branch hospital, ``gamma * p_hospital(age)``) and H (``eta``; branch death,
``eta * p_dies(age)``). Durations are therefore geometric with means ``latent_days``,
``presymptomatic_days``, ``infectious_days`` and ``hospital_days``. The outcome is a
*transition code* ``3 * state + leave + branch``; one table lookup gives the next state,
and one ``bincount`` of the codes (with the exposures, code 1) gives the day's flows. Only
the listed residents draw a transition uniform (S, R and D have no way out but exposure).
On the CPU the listed residents' work runs on NumPy views of the tensors
(``arrays.py``: a day at 1e5 residents is mostly small operations, which cost NumPy
about a microsecond and torch several).

Dense form of the randomness (common random numbers with the Mesa reference): a day's
``[5, B, M]`` uniforms, row 0 for transitions and rows 1-4 for the home, place, community
and testing channels; :func:`advance_day` reads the same outcomes from them when given
(``contacts.read_hits``), and otherwise draws them sparsely with the same distribution.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from sandbox.worlds.population import contacts
from sandbox.worlds.population.arrays import Arrays
from sandbox.worlds.population.data import load_age_table
from sandbox.worlds.population.groups import GroupIndex, Listing, flat_indices
from sandbox.worlds.population.params import EpidemicEconomyParams
from sandbox.worlds.population.synthetic import SCHOOL, WORK, Population

(SUSCEPTIBLE, EXPOSED, ASYMPTOMATIC, PRESYMPTOMATIC, SYMPTOMATIC, RECOVERED, HOSPITALISED,
 DEAD) = range(8)
STATE_NAMES = ("susceptible", "exposed", "asymptomatic", "presymptomatic", "symptomatic",
               "recovered", "hospitalised", "dead")
NUM_STATES = len(STATE_NAMES)


def severity_by_age(params: EpidemicEconomyParams) -> dict[str, list[float]]:
    """Per age group, the conditional probabilities of the disease's branches.

    Returns:
        ``symptomatic`` (of infections), ``hospitalised`` (of symptomatic cases) and
        ``dies`` (of hospitalised cases), each a list over age groups. Hospitalisation and
        fatality are scaled by ``severity_scale`` (capped at one); the death probability
        in hospital is ``IFR / (p_symptomatic * p_hospital)`` so that the fatality ratio
        by age is the data's.
    """
    table, scale = load_age_table(), params.disease.severity_scale
    out = {"symptomatic": [], "hospitalised": [], "dies": []}
    for sym, hosp, ifr in zip(table.symptomatic_fraction, table.hospitalised_given_symptomatic,
                              table.infection_fatality_ratio):
        hospital = min(1.0, scale * hosp)
        admitted = sym * hospital
        out["symptomatic"].append(sym)
        out["hospitalised"].append(hospital)
        out["dies"].append(min(1.0, scale * ifr / admitted) if admitted > 0 else 0.0)
    return out


def expected_infectious_days(params: EpidemicEconomyParams) -> float:
    """Expected infectiousness-weighted days of one infection (age-mixed by the age shares).

    ``p_sym * (presymptomatic_days + infectious_days) + (1 - p_sym) * a * infectious_days``
    averaged over age groups, with ``a`` the asymptomatic relative infectiousness. With
    only the community group (homogeneous mixing, no isolation), the basic reproduction
    number is ``community_rate`` times this.
    """
    d = params.disease
    symptomatic = severity_by_age(params)["symptomatic"]
    days = [p * (d.presymptomatic_days + d.infectious_days)
            + (1.0 - p) * d.asymptomatic_infectiousness * d.infectious_days for p in symptomatic]
    return sum(s * x for s, x in zip(params.population.age_distribution, days))


@dataclass
class DiseaseTables:
    """Derived per-world constants of the kernel (no state), in the world's float dtype.

    Attributes:
        households: grouping of residents by household.
        places: grouping by workplace or class (the last group is the sink).
        communities: grouping by community group.
        infectiousness: ``[8]`` infectiousness by state.
        household_weight: ``[H]`` household rate / (members - 1), 0 for one-person homes.
        place_weight: ``[P + 1]`` place rate / (members - 1), 0 for the sink.
        community_weight: ``[C]`` community rate / members.
        isolated_contact: community contact kept when isolating (Python float).
        age: ``[M]`` int32 age group of each resident.
        leave: ``[8 * 9]`` threshold of leaving each (state, age); 0 for S (its
            threshold is the day's exposure probability), R and D.
        branch: ``[8 * 9]`` threshold of the branch of each (state, age).
        next_state: ``[8 * 3]`` int8 next state of each transition code.
        flows: ``[8 * 3, 8]`` int64 change of the state counts per transition code.
        contacts: every household, place and community of every environment in one
            numbering (``contacts.ContactGroups``), with their members listed group by
            group.
        active_bits: uint8 scalar, bit s set for the states that draw a transition.
        listed_bits: uint8 scalar, bit s set for the states listed every day whether or
            not the resident isolates (E, A, P, I, H and D).
        pressure: ``[16, 3]`` what a resident adds to its household, place and community
            sums, by ``2 * state + isolating`` (``x``, ``present * x``, ``out * x``).
        thresholds: ``[8 * 9, 2]`` ``leave`` and ``branch`` side by side.
        views: NumPy views of these tensors, made once (``arrays.Arrays.const``).
    """

    households: GroupIndex
    places: GroupIndex
    communities: GroupIndex
    infectiousness: torch.Tensor
    household_weight: torch.Tensor
    place_weight: torch.Tensor
    community_weight: torch.Tensor
    isolated_contact: float
    age: torch.Tensor
    leave: torch.Tensor
    branch: torch.Tensor
    next_state: torch.Tensor
    flows: torch.Tensor
    contacts: contacts.ContactGroups
    active_bits: torch.Tensor
    listed_bits: torch.Tensor
    pressure: torch.Tensor
    thresholds: torch.Tensor
    views: dict = field(default_factory=dict, repr=False)


#: Next state of each state when it leaves (code 3s + 1) and when it branches (3s + 2).
_LEAVES_TO = {SUSCEPTIBLE: EXPOSED, EXPOSED: ASYMPTOMATIC, ASYMPTOMATIC: RECOVERED,
              PRESYMPTOMATIC: SYMPTOMATIC, SYMPTOMATIC: RECOVERED, HOSPITALISED: RECOVERED}
_BRANCHES_TO = {EXPOSED: PRESYMPTOMATIC, SYMPTOMATIC: HOSPITALISED, HOSPITALISED: DEAD}


def transition_tables() -> tuple[torch.Tensor, torch.Tensor]:
    """``next_state`` ``[24]`` int8 and ``flows`` ``[24, 8]`` int64 by transition code."""
    next_state = torch.zeros(NUM_STATES * 3, dtype=torch.int8)
    for state in range(NUM_STATES):
        leaves = _LEAVES_TO.get(state, state)
        next_state[3 * state: 3 * state + 3] = torch.tensor(
            [state, leaves, _BRANCHES_TO.get(state, leaves)], dtype=torch.int8)
    flows = torch.zeros(NUM_STATES * 3, NUM_STATES, dtype=torch.int64)
    for code in range(NUM_STATES * 3):
        flows[code, int(next_state[code])] += 1
        flows[code, code // 3] -= 1
    return next_state, flows


def _state_age_tables(params: EpidemicEconomyParams, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """``leave`` and ``branch`` thresholds ``[8 * 9]`` by (state, age group)."""
    d = params.disease
    sigma, gamma, eta = 1.0 / d.latent_days, 1.0 / d.infectious_days, 1.0 / d.hospital_days
    severity = severity_by_age(params)
    groups = len(severity["symptomatic"])
    leave = torch.zeros(NUM_STATES, groups, dtype=torch.float64)
    branch = torch.zeros(NUM_STATES, groups, dtype=torch.float64)
    hazards = {EXPOSED: sigma, ASYMPTOMATIC: gamma, PRESYMPTOMATIC: 1.0 / d.presymptomatic_days,
               SYMPTOMATIC: gamma, HOSPITALISED: eta}
    for state, hazard in hazards.items():
        leave[state] = hazard
    for state, hazard, probs in ((EXPOSED, sigma, severity["symptomatic"]),
                                 (SYMPTOMATIC, gamma, severity["hospitalised"]),
                                 (HOSPITALISED, eta, severity["dies"])):
        branch[state] = torch.tensor([hazard * p for p in probs], dtype=torch.float64)
    return leave.reshape(-1).to(dtype), branch.reshape(-1).to(dtype)


def build_tables(
    params: EpidemicEconomyParams, population: Population, *, num_envs: int = 1
) -> DiseaseTables:
    """The kernel's constants for ``population`` (on its device) and ``num_envs`` environments."""
    d, dtype, pop = params.disease, params.dtype, population
    device = pop.age_group.device

    def per_contact(rate, members: torch.Tensor) -> torch.Tensor:
        others = (members.to(dtype) - 1).clamp(min=1)
        return torch.where(members > 1, rate / others, 0.0).to(dtype)

    infectiousness = torch.zeros(NUM_STATES, dtype=dtype, device=device)
    infectiousness[ASYMPTOMATIC] = d.asymptomatic_infectiousness
    infectiousness[PRESYMPTOMATIC] = 1.0
    infectiousness[SYMPTOMATIC] = 1.0
    rate_by_kind = torch.zeros(3, dtype=dtype, device=device)
    rate_by_kind[WORK], rate_by_kind[SCHOOL] = d.workplace_rate, d.school_rate
    leave, branch = _state_age_tables(params, dtype)
    next_state, flows = transition_tables()
    indices = (GroupIndex.build(pop.household, pop.num_households, num_envs),
               GroupIndex.build(pop.place, pop.num_places + 1, num_envs),
               GroupIndex.build(pop.community, pop.num_communities, num_envs))
    weights = (per_contact(d.household_rate, pop.household_size),
               per_contact(rate_by_kind[pop.place_kind.long()], pop.place_size),
               d.community_rate / pop.community_size.to(dtype))
    listings = [Listing.build(pop.household, pop.num_households),
                Listing.build(pop.place, pop.num_places + 1),
                Listing.build(pop.community, pop.num_communities)]
    members, residents = torch.cat([listing.members for listing in listings]), pop.num_residents
    listings = [Listing(members=members[k * residents:(k + 1) * residents],
                        first=listing.first + k * residents, size=listing.size)
                for k, listing in enumerate(listings)]
    return DiseaseTables(
        households=indices[0], places=indices[1], communities=indices[2],
        infectiousness=infectiousness,
        household_weight=weights[0], place_weight=weights[1], community_weight=weights[2],
        isolated_contact=d.isolated_contact,
        age=pop.age_group.to(torch.int32),
        leave=leave.to(device), branch=branch.to(device),
        next_state=next_state.to(device), flows=flows.to(device),
        contacts=contacts.ContactGroups.build(indices, weights, listings, members,
                                              num_envs=num_envs),
        active_bits=torch.tensor(_ACTIVE_BITS, dtype=torch.uint8, device=device),
        listed_bits=torch.tensor(_LISTED_BITS, dtype=torch.uint8, device=device),
        pressure=_pressure_table(infectiousness, d.isolated_contact),
        thresholds=torch.stack([leave, branch], 1).to(device),
    )


def _pressure_table(infectiousness: torch.Tensor, isolated_contact: float) -> torch.Tensor:
    """``[16, 3]``: household, place and community pressure by ``2 * state + isolating``."""
    x = infectiousness.repeat_interleave(2)  # [16]: each state going out, then isolating
    isolating = torch.arange(16, device=x.device) % 2 == 1
    present = torch.where(isolating, 0.0, 1.0).to(x.dtype)
    return torch.stack([x, x * present, torch.where(isolating, x * isolated_contact, x)], 1)


#: Bit ``s`` set for the states that draw a transition each day (E, A, P, I and H).
_ACTIVE_BITS = sum(1 << s for s in (EXPOSED, ASYMPTOMATIC, PRESYMPTOMATIC, SYMPTOMATIC,
                                    HOSPITALISED))


#: Bit ``s`` set for the states listed each day (:func:`advance_day`): those that draw a
#: transition, and the dead (who neither work nor claim support).
_LISTED_BITS = _ACTIVE_BITS | (1 << DEAD)


def active_residents(state: torch.Tensor, bits: torch.Tensor | None = None) -> torch.Tensor:
    """``[K]`` int64 flat indices (ascending) of residents in E, A, P, I or H.

    Computed as ``(bits >> state) & 1`` over bytes: byte shifts are vectorised where
    comparisons producing bool are not (several times faster on the CPU). ``bits``: the
    uint8 scalar tensor of :data:`_ACTIVE_BITS` on the state's device, if the caller has it.
    """
    if bits is None:
        bits = torch.tensor(_ACTIVE_BITS, dtype=torch.uint8, device=state.device)
    mask = torch.bitwise_right_shift(bits, state.reshape(-1).view(torch.uint8)).bitwise_and_(1)
    return flat_indices(mask.view(torch.bool))


@dataclass
class Testing:
    """The day's random testing, as the kernel reads it.

    Attributes:
        rate: ``[B]`` float64 share tested.
        hazard: ``[B]`` float64 ``-log(1 - rate)`` (the sparse draws' form of the rate).
        positive_below: ``[B]`` ``rate * sensitivity`` in the world's float dtype: a
            tested infected resident is positive if its uniform is below it.
    """

    rate: torch.Tensor
    hazard: torch.Tensor
    positive_below: torch.Tensor

    @classmethod
    def at(cls, rate: torch.Tensor, *, sensitivity: float, dtype=torch.float32) -> Testing:
        """From ``rate`` ``[B]`` (any float dtype) and the test's ``sensitivity``."""
        rate = rate.double()
        return cls(rate, torch.log1p(-rate).neg_(), rate.to(dtype) * sensitivity)


@dataclass
class DiseaseDay:
    """One day of the disease, batched over B environments of M residents.

    Attributes:
        disease: ``[B, M]`` int8 states after the day.
        flows: ``[B, 24]`` int64 residents per transition code ``3 * state + leave +
            branch`` (``flows[:, 1]`` newly exposed, ``flows[:, 3 * H + 2]`` newly dead);
            the codes of staying put (``3 * state``) count only the listed residents.
        change: ``[B, 8]`` int64 net change of the count of each state.
        exposed: ``[E]`` int64 flat indices (``b * M + i``) of the newly exposed.
        tested: ``[B, 2]`` int64 tests taken and positive tests; positive: ``[K]`` int64
            flat indices of the residents who tested positive.
        listed: ``[L]`` int64 flat indices (ascending) of the residents listed today: in
            E, A, P, I, H or D, or isolating; everyone else is S or R and goes out.
        code: ``[L]`` int64 ``2 * state + isolating`` of each listed resident at dawn.
    """

    disease: torch.Tensor
    flows: torch.Tensor
    change: torch.Tensor
    exposed: torch.Tensor
    tested: torch.Tensor
    positive: torch.Tensor
    listed: torch.Tensor
    code: torch.Tensor

    @property
    def tests(self) -> torch.Tensor:
        """``[B]`` int64 tests taken."""
        return self.tested[:, 0]


def advance_day(
    state: torch.Tensor, isolate: torch.Tensor, tables: DiseaseTables, *, testing: Testing,
    generator: torch.Generator, uniforms: torch.Tensor | None = None,
) -> DiseaseDay:
    """Infection, progression and testing of one day, drawn only where something can happen.

    One pass over the residents lists those in E, A, P, I, H or D and those who isolate;
    the rest of the day works on that list (group sums, transitions, the day's pay in
    ``economics.py``) and on the hits of the day's draws.

    Args:
        state: ``[B, M]`` int8 states at dawn.
        isolate: ``[B, M]`` uint8, 1 if the resident isolates today, else 0.
        tables: kernel constants.
        testing: the day's random testing (:meth:`Testing.at`: rate, and the probability
            that an infected resident, E, A, P or I, tests positive).
        generator: the world's stream (unused when ``uniforms`` is given).
        uniforms: ``[5, B, M]`` dense uniforms (row 0 transitions, rows 1-4 the
            channels of ``contacts.py``), or None to draw sparsely from ``generator``.
    """
    batch, residents = state.shape
    flat, isolating = state.reshape(-1), isolate.reshape(-1)
    listed = torch.bitwise_right_shift(tables.listed_bits, flat.view(torch.uint8))
    listed = flat_indices(listed.bitwise_and_(1).bitwise_or_(isolating).view(torch.bool))
    # the listed residents' day, on NumPy views on the CPU (``arrays.py``)
    xp = Arrays.on(state.device, generator, views=tables.views)
    at, states, isolating_a = xp.array(listed), xp.array(flat), xp.array(isolating)
    health = states[at]
    code = xp.int64(isolating_a[at]) + health * 2
    groups = tables.contacts
    hazard = contacts.group_hazard(groups, at, xp.const(tables.pressure)[code], xp)
    if uniforms is None:
        hits = contacts.draw_hits(groups, hazard, testing_hazard=testing.hazard, xp=xp)
        u = xp.rand(at.shape[0], dtype=tables.thresholds.dtype)
    else:
        hits = contacts.read_hits(groups, xp.tensor(hazard), uniforms,
                                  testing_rate=testing.rate).on(xp)
        u = xp.array(uniforms[0].reshape(-1))[at]
    exposed, tested, positive = contacts.meet(
        hits, states, isolating_a, meetings=groups.meetings,
        isolated_contact=tables.isolated_contact, positive_below=testing.positive_below,
        residents=residents, xp=xp)
    # transition code 3 * state + (u < leave) + (u < branch), by (state, age) thresholds
    person = at if batch == 1 else at % residents
    key = xp.const(tables.age)[person] + health * (tables.thresholds.shape[0] // NUM_STATES)
    move = (u[:, None] < xp.const(tables.thresholds)[key]).sum(1) + health * 3
    disease = flat.clone()
    disease.index_put_((listed,), xp.tensor(xp.const(tables.next_state)[move]))
    disease.index_put_((exposed,), tables.next_state[1])  # S leaves to E
    codes = 3 * NUM_STATES  # per environment
    if batch == 1:
        flows = xp.bincount(move, minlength=codes)
        flows[1] += exposed.shape[0]
    else:
        exposure = xp.array(exposed) // residents * codes + 1
        flows = xp.bincount(xp.concatenate([move + at // residents * codes, exposure]),
                            minlength=batch * codes)
    flows = xp.tensor(flows).view(batch, codes)
    return DiseaseDay(disease.view(batch, residents), flows, torch.mm(flows, tables.flows),
                      exposed, tested, positive, listed, xp.tensor(code))


def infection_probability(
    state: torch.Tensor, isolate: torch.Tensor, tables: DiseaseTables
) -> torch.Tensor:
    """``[B, M]`` probability ``1 - exp(-lambda)`` that each resident is exposed today.

    A dense view of the three channels' hazards (for tests and diagnostics; the day
    itself draws them sparsely). ``state``: ``[B, M]`` states; ``isolate``: ``[B, M]`` bool.
    """
    everyone = torch.arange(state.numel(), device=state.device)
    isolating = isolate.reshape(-1).long()
    code = state.reshape(-1).long().mul(2).add_(isolating)
    xp = Arrays.on(state.device)
    hazard = xp.tensor(contacts.group_hazard(tables.contacts, xp.array(everyone),
                                             xp.array(tables.pressure.index_select(0, code)),
                                             xp))
    group_of, f = tables.contacts.group_of, tables.isolated_contact
    out = (1 - isolating).to(hazard.dtype)
    home, place, community = group_of.t().contiguous()
    lam = hazard.index_select(0, home)
    lam.add_(hazard.index_select(0, place).mul_(out))
    lam.add_(hazard.index_select(0, community).mul_(out.mul(1.0 - f).add_(f)))
    return torch.expm1(-lam).neg_().view(state.shape)
