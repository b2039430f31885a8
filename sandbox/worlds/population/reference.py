"""The epidemic economy as a plain per-resident Mesa model: the rules stated readably.

One :class:`Resident` agent per resident, plain Python floats and ifs. Each day:

1. every resident decides to go out or isolate by a named rule (``never_isolate``,
   ``isolate_when_symptomatic``, ``archetype_compliance``), from what it knew at dawn
   (yesterday's levers: planner and residents move simultaneously);
2. the planner's levers change on decision days (mandate, testing rate, stimulus);
3. infectiousness is summed per household, per workplace or class (those present), and
   per community group (isolating residents count ``isolated_contact``);
4. each resident's state moves on by the day's uniforms: a susceptible is exposed if its
   home, place (when present) or community uniform is below that channel's probability
   ``1 - exp(-hazard)`` (``contacts.py`` states the rule), any other state by the
   transition uniform (``disease.py``); random tests use the testing uniform;
5. wages are paid to those who work, support to the employed who do not, and a flat tax
   on earnings pays for it.

Given the same pre-drawn uniforms (five per resident-day, rows as in the batched world's
``draw_uniforms``; and, for ``archetype_compliance``, the same decision
uniforms) it follows the same trajectory as the batched
:class:`~sandbox.worlds.population.world.EpidemicEconomy` run with ``precision="float64"``:
the tests hold the two to each other state by state. Deliberately independent of the
batched kernels (it shares only the parameters and the data tables); it is also the Mesa
user's way in::

    model = EpidemicEconomyModel.from_world(world, worker_rule="isolate_when_symptomatic")
    model.step(uniforms=[row0, row1], planner_action=(0, 1, 1))
"""

from __future__ import annotations

import math

import mesa
import numpy as np

from sandbox.worlds.population.data import load_age_table, load_archetypes

S, E, A, P, I, R, H, D = range(8)
RULES = ("never_isolate", "isolate_when_symptomatic", "archetype_compliance")


class Resident(mesa.Agent):
    """One resident: who it lives and works with, its health, choice and income.

    Args:
        model: the :class:`EpidemicEconomyModel`.
        index: position in the model's resident list (and in the uniforms).
        traits: ``age_group``, ``household``, ``place``, ``place_kind`` (0 work, 1 school,
            2 none), ``community``, ``employed``, ``wage``, ``archetype``,
            ``closure_rank`` and initial ``state``.
    """

    def __init__(self, model: EpidemicEconomyModel, index: int, **traits):
        super().__init__(model)
        self.index = index
        self.age_group = int(traits["age_group"])
        self.household = int(traits["household"])
        self.place = int(traits["place"])
        self.place_kind = int(traits["place_kind"])
        self.community = int(traits["community"])
        self.employed = bool(traits["employed"])
        self.wage = float(traits["wage"])
        self.archetype = int(traits["archetype"])
        self.closure_rank = int(traits["closure_rank"])
        self.state = int(traits["state"])
        self.positive_days = 0
        self.isolating = False
        self.income = 0.0

    # ----------------------------------------------------------- deciding
    def decide(self, rule: str, uniform: float | None) -> None:
        """Go out or isolate today, by ``rule`` (``uniform`` for archetype compliance)."""
        sick = self.state == I or self.positive_days > 0
        asked = self.closure_rank < self.model.mandate_cutoff
        if rule == "never_isolate":
            self.isolating = False
        elif rule == "isolate_when_symptomatic":
            self.isolating = sick
        else:
            p_sick, p_comply, gain = self.model.archetypes[self.archetype]
            # The resident sees the stimulus as a whole percent of its wage.
            seen = round(self.model.stimulus * 100) / 100
            p_asked = min(1.0, p_comply + gain * seen)
            p = max(p_sick if sick else 0.0, p_asked if asked else 0.0)
            self.isolating = uniform < float(np.float32(p))

    # ----------------------------------------------------------- infection
    def infectiousness(self) -> float:
        """How infectious the resident is today (0 unless A, P or I)."""
        if self.state == A:
            return self.model.params.disease.asymptomatic_infectiousness
        return 1.0 if self.state in (P, I) else 0.0

    def present(self) -> float:
        """1 if the resident goes to work or school today, else 0."""
        return 0.0 if self.isolating else 1.0

    def exposed_today(self, u_home: float, u_place: float, u_community: float) -> bool:
        """Whether contact at home, at work or school, or in the community infects today.

        Each channel infects independently with its group's probability of the day
        (``1 - exp(-hazard)``); the resident is exposed if any of its uniforms is below.
        """
        model = self.model
        if u_home < model.home_probability[self.household]:
            return True
        if self.isolating:  # no work or school, less community contact
            return u_community < model.isolated_probability[self.community]
        return (u_place < model.place_probability[self.place]
                or u_community < model.community_probability[self.community])

    # ----------------------------------------------------------- progression
    def progress(self, uniforms) -> None:
        """Move to the next disease state by the day's uniforms (five lists over residents)."""
        model, age, i = self.model, self.age_group, self.index
        if self.state == S:
            if self.exposed_today(uniforms[1][i], uniforms[2][i], uniforms[3][i]):
                self.state = E
                model.today["new_infections"] += 1
            return
        u = uniforms[0][i]
        if self.state == E:
            if u < model.sigma * model.symptomatic[age]:
                self.state = P
            elif u < model.sigma:
                self.state = A
        elif self.state == A:
            if u < model.gamma:
                self.state = R
        elif self.state == P:
            if u < model.onset:
                self.state = I
        elif self.state == I:
            if u < model.gamma * model.hospitalised[age]:
                self.state = H
            elif u < model.gamma:
                self.state = R
        elif self.state == H:
            if u < model.eta * model.dies[age]:
                self.state = D
                model.today["new_deaths"] += 1
            elif u < model.eta:
                self.state = R

    def take_test(self, u: float, rate: float, sensitivity: float) -> None:
        """Random test: counted if at large; positive if infected (by the testing uniform)."""
        self.positive_days = max(self.positive_days - 1, 0)
        if self.state in (H, D):
            return
        if u < rate:
            self.model.today["tests"] += 1
        if E <= self.state <= I and u < rate * sensitivity:
            self.positive_days = self.model.params.economy.isolation_days
            self.model.today["positives"] += 1

    def works_today(self, state_at_dawn: int) -> bool:
        """Employed, out of hospital, alive and not isolating."""
        return self.employed and state_at_dawn <= R and not self.isolating


class EpidemicEconomyModel(mesa.Model):
    """Per-resident Mesa model of the epidemic economy.

    Args:
        params: the world's :class:`~sandbox.worlds.population.params.EpidemicEconomyParams`.
        residents: per trait (see :class:`Resident`), a list over residents.
        worker_rule: one of :data:`RULES`.
        archetypes: per archetype ``(isolate_if_symptomatic, comply_with_mandate,
            stimulus_gain)``; None takes ``data/population/archetypes.csv``.
    """

    def __init__(self, params, residents: dict[str, list], *,
                 worker_rule: str = "isolate_when_symptomatic", archetypes=None):
        super().__init__()
        if worker_rule not in RULES:
            raise ValueError(f"worker_rule must be one of {RULES}; got {worker_rule!r}")
        self.params, self.worker_rule = params, worker_rule
        table = load_archetypes()
        self.archetypes = archetypes or list(zip(
            table.isolate_if_symptomatic, table.comply_with_mandate, table.stimulus_gain))
        self._disease_constants()
        count = len(residents["state"])
        self.residents = [Resident(self, i, **{k: v[i] for k, v in residents.items()})
                          for i in range(count)]
        self._group_weights()
        self.day, self.levers = 0, (0, 0, 0)
        self.today: dict[str, float] = {}
        self.history: list[dict[str, float]] = []

    @classmethod
    def from_world(cls, world, *, env: int = 0, **kwargs) -> EpidemicEconomyModel:
        """The model of environment ``env`` of a freshly reset batched world."""
        pop = world.population
        traits = {"age_group": pop.age_group, "household": pop.household, "place": pop.place,
                  "place_kind": pop.place_kind[pop.place.long()], "community": pop.community,
                  "employed": pop.employed, "wage": pop.wage, "archetype": pop.archetype,
                  "closure_rank": pop.closure_rank, "state": world.state.disease[env]}
        return cls(world.params, {k: v.cpu().tolist() for k, v in traits.items()}, **kwargs)

    def _disease_constants(self) -> None:
        d, table = self.params.disease, load_age_table()
        self.sigma, self.onset = 1.0 / d.latent_days, 1.0 / d.presymptomatic_days
        self.gamma, self.eta = 1.0 / d.infectious_days, 1.0 / d.hospital_days
        scale = d.severity_scale
        self.symptomatic = list(table.symptomatic_fraction)
        self.hospitalised = [min(1.0, scale * h) for h in table.hospitalised_given_symptomatic]
        self.dies = []
        for sym, hosp, ifr in zip(self.symptomatic, self.hospitalised,
                                  table.infection_fatality_ratio):
            admitted = sym * hosp
            self.dies.append(min(1.0, scale * ifr / admitted) if admitted > 0 else 0.0)

    def _group_weights(self) -> None:
        d = self.params.disease
        size = {"household": {}, "place": {}, "community": {}}
        for r in self.residents:
            for group in size:
                key = getattr(r, group)
                size[group][key] = size[group].get(key, 0) + 1
        self.household_weight = {h: d.household_rate / (n - 1) if n > 1 else 0.0
                                 for h, n in size["household"].items()}
        rate_of_kind = (d.workplace_rate, d.school_rate, 0.0)
        rate = {r.place: rate_of_kind[r.place_kind] for r in self.residents}
        self.place_weight = {p: rate[p] / (n - 1) if n > 1 else 0.0
                             for p, n in size["place"].items()}
        self.community_weight = {c: d.community_rate / n for c, n in size["community"].items()}

    # ------------------------------------------------------------------ a day
    @property
    def mandate_cutoff(self) -> int:
        """Closure ranks below this are asked to stay home."""
        return round(self.params.planner.mandate_levels[self.levers[0]] * 255)

    @property
    def stimulus(self) -> float:
        """Share of the wage paid to employed residents who do not work."""
        return self.params.planner.stimulus_levels[self.levers[2]]

    def step(self, *, uniforms, planner_action=None, decision_uniforms=None) -> None:
        """Advance one day.

        Args:
            uniforms: five lists of M uniforms (transitions, then home, place, community
                and testing draws), as the batched world's ``[5, 1, M]`` tensor.
            planner_action: ``(mandate, testing, stimulus)`` menu indices, read on
                decision days; None keeps the levers.
            decision_uniforms: M uniforms for ``archetype_compliance``.
        """
        self.today = dict.fromkeys(("new_infections", "new_deaths", "tests", "positives"), 0)
        # Residents decide at dawn from what they knew last night: levers announced today
        # reach their choices tomorrow (the batched world's roles move simultaneously).
        for r in self.residents:
            r.decide(self.worker_rule, None if decision_uniforms is None
                     else decision_uniforms[r.index])
        interval = self.params.planner.decision_interval
        if planner_action is not None and self.day % interval == 0:
            self.levers = tuple(int(a) for a in planner_action)
        self._sum_groups()
        dawn = [r.state for r in self.residents]
        rate = self.params.planner.testing_levels[self.levers[1]]
        for r in self.residents:
            r.take_test(uniforms[4][r.index], rate, self.params.economy.test_sensitivity)
        for r in self.residents:
            r.progress(uniforms)
        self._pay(dawn)
        self.history.append(dict(self.today, day=self.day))
        self.day += 1

    def _sum_groups(self) -> None:
        """Each group's infectiousness, and from it the day's probability of infection."""
        f = self.params.disease.isolated_contact
        home, place, outside = {}, {}, {}
        for r in self.residents:
            x = r.infectiousness()
            home[r.household] = home.get(r.household, 0.0) + x
            place[r.place] = place.get(r.place, 0.0) + x * r.present()
            # isolating residents meet the community at the reduced rate f
            out = x if not r.isolating else x * f
            outside[r.community] = outside.get(r.community, 0.0) + out
        self.home_probability = {h: -math.expm1(-(total * self.household_weight[h]))
                                 for h, total in home.items()}
        self.place_probability = {p: -math.expm1(-(total * self.place_weight[p]))
                                  for p, total in place.items()}
        pressure = {c: total * self.community_weight[c] for c, total in outside.items()}
        self.community_probability = {c: -math.expm1(-hazard) for c, hazard in pressure.items()}
        self.isolated_probability = {c: -math.expm1(-(hazard * f))
                                     for c, hazard in pressure.items()}

    def _pay(self, dawn: list[int]) -> None:
        works = [r.works_today(dawn[r.index]) for r in self.residents]
        claims = [r.employed and dawn[r.index] != D and not works[r.index]
                  for r in self.residents]
        output = sum(r.wage for r in self.residents if works[r.index])
        claimed = sum(r.wage for r in self.residents if claims[r.index]) * self.stimulus
        tax = min(claimed / output, self.params.economy.max_tax_rate) if output > 0 else 0.0
        payout = min(tax * output / claimed, 1.0) if claimed > 0 else 0.0
        for r in self.residents:
            if works[r.index]:
                r.income += r.wage * (1.0 - tax)
            elif claims[r.index]:
                r.income += r.wage * self.stimulus * payout
        self.today.update(output=output, transfers=claimed * payout, tax_rate=tax,
                          working=sum(works), isolating=sum(
                              1 for r in self.residents if r.isolating and dawn[r.index] <= R))

    def states(self) -> list[int]:
        """Every resident's disease state, in resident order."""
        return [r.state for r in self.residents]
