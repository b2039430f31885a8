"""The epidemic policy study's scenario files: valid, runnable, and the trade-off they show."""

from pathlib import Path

import pytest
import yaml

from sandbox.core import POLICIES
from sandbox.scenario.run import evaluate, plan_runs, validate_scenario
from sandbox.scenario.spec import load_scenario, parse_scenario
from sandbox.worlds.population.params import EpidemicEconomyParams
from sandbox.worlds.population.world import EpidemicEconomy

ROOT = Path(__file__).resolve().parents[3]
STUDY = ROOT / "scenarios" / "epidemic_policy_study.yaml"
SWEEP = ROOT / "scenarios" / "epidemic_threshold_sweep.yaml"
CHECKPOINT = ROOT / "data" / "population" / "learned_planner.pt"


def shrunk(path: Path, *, residents: int = 2_000, days: int = 28) -> dict:
    """The scenario file's data with a small city and a short epidemic (same policies)."""
    data = yaml.safe_load(path.read_text())
    data["world"]["params"].update(num_residents=residents, horizon_days=days)
    data["evaluation"]["seeds"] = [0]
    return data


def test_study_files_are_valid_and_plan_every_policy_and_seed(monkeypatch):
    monkeypatch.chdir(ROOT)  # the checkpoint path is relative to the repository root
    study = load_scenario(STUDY)
    validate_scenario(study)
    labels = [p.label for p in study.role_variants()["planner"]]
    assert labels[0] == "No mandate" and labels[-1] == "Learned planner"
    assert sum("Mandate above" in label for label in labels) >= 3
    assert len(plan_runs(study)) == len(labels) * len(study.evaluation.seeds)
    sweep = load_scenario(SWEEP)
    validate_scenario(sweep)
    assert len(plan_runs(sweep)) == 7 * len(sweep.evaluation.seeds)


def test_learned_planner_checkpoint_fits_the_world():
    assert CHECKPOINT.is_file(), "run benchmarks/population_planner_training.py"
    world = EpidemicEconomy(EpidemicEconomyParams(num_residents=500, horizon_days=14))
    obs = world.reset(seed=0)
    planner = POLICIES.get("checkpoint")(world, "planner", path=str(CHECKPOINT))
    action = planner.act(obs["planner"], deterministic=True)
    assert tuple(action.shape) == (1, 1, 3)
    sizes = world.params.planner.action_sizes
    assert all(0 <= int(a) < n for a, n in zip(action.reshape(-1), sizes))


def test_mandates_trade_deaths_for_output(monkeypatch):
    """On a small city the strictest mandate beats no mandate on deaths and loses on output."""
    monkeypatch.chdir(ROOT)
    data = shrunk(STUDY, residents=3_000, days=60)
    data["roles"]["planner"] = [p for p in data["roles"]["planner"]
                                if p["label"] in ("No mandate", "Mandate above 0.2 %",
                                                  "Learned planner")]
    data["evaluation"]["seeds"] = [0, 1]
    results = evaluate(parse_scenario(data))
    assert all(r.status == "ok" for r in results), [r.error for r in results]
    by = {}
    for r in results:
        by.setdefault(r.plan.variant.split("planner=")[-1], []).append(r.metrics)

    def mean(label, metric):
        return sum(m[metric] for m in by[label]) / len(by[label])

    assert mean("Mandate above 0.2 %", "infections") < mean("No mandate", "infections")
    assert mean("Mandate above 0.2 %", "economic_loss") > mean("No mandate", "economic_loss")
    for label in by:
        assert mean(label, "deaths") >= 0 and 0 <= mean(label, "economic_loss") <= 1


@pytest.mark.parametrize("path", [STUDY, SWEEP])
def test_sweep_and_policies_refuse_bad_thresholds(path):
    data = shrunk(path)
    planner = data["roles"]["planner"]
    first = planner[1] if isinstance(planner, list) else planner
    first["params"]["threshold"] = 1.5
    data.pop("sweep", None)
    with pytest.raises(Exception, match="threshold"):
        validate_scenario(parse_scenario(data))


def test_report_draws_deaths_against_economic_loss_with_the_pareto_set(tmp_path, monkeypatch):
    from sandbox.batch.store import prepare_folder, write_run
    from sandbox.report.build import build_report

    monkeypatch.chdir(ROOT)
    data = shrunk(STUDY, residents=1_500, days=21)
    data["roles"]["planner"] = data["roles"]["planner"][:3]
    spec = parse_scenario(data)
    out = tmp_path / "results"
    prepare_folder(out, scenario_hash=spec.content_hash(), spec_json=spec.model_dump())
    for result in evaluate(spec):
        write_run(out, result)
    build_report(out, tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text()
    assert "Deaths and economic loss" in html
    assert "Pareto set, lower is better in both: " in html


def test_two_level_scenario_has_a_valid_training_section():
    from sandbox.scenario.train import training_config

    spec = load_scenario(ROOT / "scenarios" / "epidemic_two_level.yaml")
    validate_scenario(spec)
    config, seed = training_config(spec)
    assert (config.planner_role, config.worker_role) == ("planner", "workers")
    assert config.rollout_steps == spec.world.params["horizon_days"]  # whole episodes
    assert config.phase1_updates > 0 and config.phase2_updates > 0 and seed == 0
