"""The disease kernel: group infection pressure, daily progression and testing.

States (``int8``): S=0 susceptible, E=1 exposed, A=2 asymptomatic infectious,
P=3 presymptomatic infectious, I=4 symptomatic infectious, R=5 recovered, H=6
hospitalised, D=7 dead.

Force of infection on resident i in environment b (rates per day)::

    lambda_i = w_h[h(i)] * sum_{j in h(i)} x_j                          household
             + present_i * w_p[p(i)] * sum_{j in p(i)} present_j x_j    workplace / class
             + out_i * w_c[c(i)] * sum_{j in c(i)} out_j x_j            community

computed as ``(place_i + (1 - f) comm_i) present_i + household_i + f comm_i``, using
``out = f + (1 - f) present`` (f = ``isolated_contact``), so that ``out`` is never built.

with ``x_j`` the infectiousness of j's state (A: relative, P and I: 1, else 0), ``present`` 1
unless isolating, ``out`` 1 or ``isolated_contact`` when isolating, group weights
``rate / (members - 1)`` (households, places) and ``rate / members`` (community). Each
sum is one ``index_add`` over residents, so a day costs O(M), not O(contacts). A
susceptible is exposed with probability ``1 - exp(-lambda_i)``.

Every random choice of a resident-day reads one uniform ``u``, compared with two
thresholds of its state (and age): it *leaves* its state if ``u < leave`` and takes the
state's *branch* if also ``u < branch`` (``branch <= leave``). A susceptible is exposed if
``u < p_infect``; an exposed resident leaves E if ``u < sigma`` and becomes
presymptomatic (branch) if ``u < sigma * p_symptomatic(age)``, else asymptomatic; likewise
P (``pi``: onset), A (``gamma``: recovery), I (``gamma``; branch hospital,
``gamma * p_hospital(age)``) and H (``eta``; branch death, ``eta * p_dies(age)``).
Durations are therefore geometric with means ``latent_days``, ``presymptomatic_days``,
``infectious_days`` and ``hospital_days``. The outcome is a *transition code*
``3 * state + leave + branch``; one table lookup gives the next state, and one
``bincount`` of the codes gives the day's flows. Testing reads a second uniform. Both
arrive as one ``[2, B, M]`` tensor per day, so a reference model given the same numbers
follows the same trajectory.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sandbox.worlds.population.data import load_age_table
from sandbox.worlds.population.groups import (
    GroupIndex,
    Scratch,
    count_per_env,
    scratch_or_new,
)
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
    return DiseaseTables(
        households=GroupIndex.build(pop.household, pop.num_households, num_envs),
        places=GroupIndex.build(pop.place, pop.num_places + 1, num_envs),
        communities=GroupIndex.build(pop.community, pop.num_communities, num_envs),
        infectiousness=infectiousness,
        household_weight=per_contact(d.household_rate, pop.household_size),
        place_weight=per_contact(rate_by_kind[pop.place_kind.long()], pop.place_size),
        community_weight=d.community_rate / pop.community_size.to(dtype),
        isolated_contact=d.isolated_contact,
        age=pop.age_group.to(torch.int32),
        leave=leave.to(device), branch=branch.to(device),
        next_state=next_state.to(device), flows=flows.to(device),
    )


def infection_probability(
    state: torch.Tensor, isolate: torch.Tensor, tables: DiseaseTables, *,
    scratch: Scratch | None = None,
) -> torch.Tensor:
    """Probability that each resident is exposed today (meaningful for susceptibles).

    Args:
        state: ``[B, M]`` int32 disease states.
        isolate: ``[B, M]`` bool, the resident isolates today.
        tables: kernel constants (with the groupings).
        scratch: reusable buffers for the temporaries (the result lives in one of them).

    Returns:
        ``[B, M]`` probabilities ``1 - exp(-lambda)`` in the tables' dtype.
    """
    shape, dtype = state.shape, tables.infectiousness.dtype

    def buffer(name: str) -> torch.Tensor:
        return scratch_or_new(scratch, name, shape, dtype, state.device)

    homes, places, communities = tables.households, tables.places, tables.communities
    f = tables.isolated_contact
    x = buffer("infectiousness")
    torch.index_select(tables.infectiousness, 0, state.reshape(-1), out=x.view(-1))
    # 1 unless isolating; multiplying by it is several times faster than masked_fill_
    present = buffer("present")
    present.copy_(torch.logical_not(isolate, out=scratch_or_new(
        scratch, "going_out", shape, torch.bool, state.device)))
    household = homes.sum(x).mul_(tables.household_weight)
    everyone = communities.sum(x)
    x.mul_(present)  # from here on: the infectiousness of residents who go out
    community = everyone.mul_(f).add_(communities.sum(x), alpha=1.0 - f)
    community.mul_(tables.community_weight)
    lam = places.spread(places.sum(x).mul_(tables.place_weight), out=buffer("pressure"))
    per_resident = communities.spread(community, out=buffer("community"))
    lam.add_(per_resident, alpha=1.0 - f).mul_(present)
    lam.add_(homes.spread(household, out=x))  # x is no longer needed
    lam.add_(per_resident, alpha=f)
    # expm1, not 1 - exp: in float32, 1 - exp(-lam) keeps only about 1e-7 absolute
    # precision, a bias of 0.1% and more at the small daily probabilities of an early epidemic
    return lam.neg_().expm1_().neg_()


@dataclass
class Progression:
    """One day's disease transitions.

    Attributes:
        disease: ``[B, M]`` int8 states after the day.
        code: ``[B, M]`` int8 transition codes ``3 * state + leave + branch``.
        index: ``[B, M]`` int32 the same codes, as an index for table lookups (``code``
            and ``index`` may live in scratch buffers: read them before the next step).
        change: ``[B, 8]`` int64 net change of the count of each state.
        flows: ``[B, 24]`` int64 residents per transition code (e.g. ``flows[:, 1]``
            newly exposed, ``flows[:, 3 * H + 2]`` newly dead).
    """

    disease: torch.Tensor
    code: torch.Tensor
    index: torch.Tensor
    change: torch.Tensor
    flows: torch.Tensor

    @property
    def exposed(self) -> torch.Tensor:
        """``[B, M]`` bool, newly exposed (S -> E)."""
        return self.code == 3 * SUSCEPTIBLE + 1


def progress(
    state: torch.Tensor, p_infect: torch.Tensor, uniform: torch.Tensor, tables: DiseaseTables,
    *, scratch: Scratch | None = None, state8: torch.Tensor | None = None,
) -> Progression:
    """Advance every resident's state by one day.

    The transition code is built in int8 arithmetic (a byte per resident per pass):
    ``3 * state``, plus the comparisons ``u < leave`` and ``u < branch`` (both thresholds
    are 0 for S, R and D), plus, for susceptibles only, ``u < p_infect``. Boolean results
    are added through their byte views, without conversion.

    Args:
        state: ``[B, M]`` int32 states at the start of the day.
        p_infect: ``[B, M]`` exposure probabilities (from :func:`infection_probability`).
        uniform: ``[B, M]`` uniforms in [0, 1), the day's first draw.
        tables: kernel constants.
        scratch: reusable buffers for the temporaries (``code`` lives in one of them).
        state8: the same states as int8, if the caller has them (saves a conversion).
    """
    batch, residents = state.shape
    device, dtype = state.device, tables.leave.dtype

    def buffer(name: str, kind) -> torch.Tensor:
        return scratch_or_new(scratch, name, state.shape, kind, device)

    if state8 is None:
        state8 = buffer("state8", torch.int8).copy_(state)
    key = buffer("key", torch.int32)
    torch.mul(state, tables.leave.numel() // NUM_STATES, out=key).add_(tables.age)
    threshold = buffer("threshold", dtype)
    below = buffer("below", torch.bool)
    code = torch.mul(state8, 3, out=buffer("code", torch.int8))
    torch.index_select(tables.leave, 0, key.view(-1), out=threshold.view(-1))
    code.add_(torch.lt(uniform, threshold, out=below).view(torch.int8))
    torch.index_select(tables.branch, 0, key.view(-1), out=threshold.view(-1))
    code.add_(torch.lt(uniform, threshold, out=below).view(torch.int8))
    exposed = torch.lt(uniform, p_infect, out=below)
    susceptible = torch.eq(state8, SUSCEPTIBLE, out=buffer("susceptible", torch.bool))
    code.add_(exposed.logical_and_(susceptible).view(torch.int8))
    index = torch.add(code, 0, out=key)  # int32 copy of the codes, for the table lookup
    disease = tables.next_state.index_select(0, index.view(-1)).view(batch, residents)
    flows = count_codes(code, tables.next_state.numel())
    change = (flows.unsqueeze(-1) * tables.flows).sum(1)
    return Progression(disease, code, index, change, flows)


def count_codes(code: torch.Tensor, codes: int) -> torch.Tensor:
    """``[B, codes]`` int64 residents per code in each row of ``code`` ``[B, M]`` int8."""
    batch = code.shape[0]
    if batch == 1:
        # bincount reads bytes directly (uint8 view: codes are non-negative)
        return torch.bincount(code.view(-1).view(torch.uint8), minlength=codes).view(1, codes)
    offsets = torch.arange(batch, dtype=torch.int32, device=code.device).mul_(codes)
    return torch.bincount((code.to(torch.int32) + offsets.unsqueeze(-1)).view(-1),
                          minlength=batch * codes).view(batch, codes)


def run_tests(
    state: torch.Tensor, uniform: torch.Tensor, *, testing_rate: torch.Tensor,
    sensitivity: float, at_large: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Random testing of residents at large (not in hospital, not dead).

    A resident is tested if ``u < rate`` and, if infected (E, A, P or I), positive if
    ``u < rate * sensitivity`` (the same uniform: a positive is a tested resident).

    Args:
        state: ``[B, M]`` int32 or int8 states at the start of the day.
        uniform: ``[B, M]`` uniforms, the day's second draw.
        testing_rate: ``[B]`` share of residents tested today.
        sensitivity: probability that an infected (E, A, P or I) resident tests positive.
        at_large: ``[B, M]`` bool ``state <= RECOVERED``, if the caller has it.

    Returns:
        ``tests`` ``[B]`` int64 count of tests, and ``positive`` ``[B, M]`` bool, or None
        when no environment tests today (nobody is positive).
    """
    rate = testing_rate.to(uniform.dtype).unsqueeze(-1)
    if not bool((rate > 0).any()):
        return torch.zeros(state.shape[0], dtype=torch.int64, device=state.device), None
    if at_large is None:
        at_large = state <= RECOVERED
    tested = (uniform < rate).logical_and_(at_large)
    # infected: E..I, i.e. (state - E) in [0, 3] as an unsigned byte
    infected = (state.to(torch.int8) - EXPOSED).view(torch.uint8) <= SYMPTOMATIC - EXPOSED
    positive = infected.logical_and_(uniform < rate * sensitivity)
    return count_per_env(tested), positive
