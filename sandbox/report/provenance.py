"""Methods and provenance of a report.

The world's model card, parameters, seeds, run ids, package versions, the git commit and
the commands that reproduce the results.
"""

from __future__ import annotations

import inspect
import json
import shlex
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import yaml

from sandbox.core.errors import SandboxError
from sandbox.core.metrics import MetricSpec
from sandbox.report.load import ScenarioResults, scenario_spec


@dataclass
class WorldInfo:
    """What the report says about the world a scenario ran.

    Attributes:
        name: registered world name.
        summary: first paragraph of the world class's docstring ("" when unknown).
        metrics: the world's metric specs by name (empty when the world is unknown).
        objective: the world's ``planner_objective`` parameter when it has one.
        model_card: where the full model card lives (``docs/worlds/<name>.md``).
        card_summary: first paragraph of the world's model card (its ``model_card``
            text, else its module's docstring) when it differs from ``summary``.
    """

    name: str
    summary: str = ""
    metrics: dict[str, MetricSpec] = field(default_factory=dict)
    objective: str | None = None
    model_card: str = ""
    card_summary: str = ""


def first_paragraph(text: str) -> str:
    """The first paragraph of a docstring, joined into one line."""
    lines = []
    for line in inspect.cleandoc(text or "").splitlines():
        if not line.strip():
            if lines:
                break
            continue
        lines.append(line.strip())
    return " ".join(lines).replace("``", "")


def world_info(config: dict[str, Any]) -> WorldInfo:
    """The registered world of a run's config (a bare :class:`WorldInfo` if not registered)."""
    from sandbox.core.registry import WORLDS

    world = config.get("world", {})
    name = str(world.get("name", ""))
    objective = world.get("params", {}).get("planner_objective")
    info = WorldInfo(name, objective=objective if isinstance(objective, str) else None,
                     model_card=f"docs/worlds/{name}.md")
    try:
        cls = WORLDS.get(name)
    except SandboxError:
        return info
    info.summary = first_paragraph(cls.__doc__ or "")
    # world modules open with their model card (STYLE.md), which ``model_card`` may hold
    module = sys.modules.get(cls.__module__)
    cards = (getattr(cls, "model_card", "") or "", getattr(module, "__doc__", "") or "")
    info.card_summary = next((c for c in map(first_paragraph, cards) if c and c != info.summary),
                             "")
    info.metrics = {m.name: m for m in getattr(cls, "metrics", ())}
    return info


def flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``[(dotted path, value)]`` of nested mappings, leaves in key order."""
    if isinstance(data, dict) and data:
        out = []
        for key in sorted(data):
            out.extend(flatten(data[key], f"{prefix}.{key}" if prefix else str(key)))
        return out
    return [(prefix, data)]


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def parameters(results: ScenarioResults) -> dict[str, Any]:
    """The world's parameters and each compared policy's, from the runs' configs.

    A role driven by the same policy and parameters in every compared combination is
    listed once, as ``"every policy"``.
    """
    config = results.config()
    world = [{"parameter": p, "value": _shown(v)}
             for p, v in flatten(config.get("world", {}).get("params", {}))]
    rows: dict[str, list[dict]] = {}
    for variant in results.variants:
        runs = results.drawn_runs(variant) or [str(results.runs["run_id"][results.mask(
            variant, ok=False)][0])]
        for role, pconf in sorted(results.config(runs[0]).get("roles", {}).items()):
            params = ", ".join(f"{k}={_shown(v)}" for k, v in flatten(pconf.get("params", {}))
                               if k)
            rows.setdefault(role, []).append({"policy": variant, "role": role,
                                              "registered": pconf.get("policy"),
                                              "params": params})
    policies = []
    for found in rows.values():
        # a role driven the same way in every compared combination is listed once
        same = len({(r["registered"], r["params"]) for r in found}) == 1 and len(found) > 1
        policies.extend([{**found[0], "policy": "every policy"}] if same else found)
    evaluation = [{"setting": k, "value": _shown(v)}
                  for k, v in flatten(config.get("evaluation", {}))]
    return {"world": world, "policies": policies, "evaluation": evaluation,
            "num_envs": config.get("world", {}).get("num_envs"),
            "device": config.get("world", {}).get("device")}


def versions(results: ScenarioResults) -> list[dict[str, Any]]:
    """Each distinct set of software versions the runs recorded, with its run count."""
    counts = Counter(str(v) for v in results.runs.get("versions", np.array([], dtype=object))
                     if v)
    out = []
    for text, count in counts.most_common():
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            parsed = {"versions": text}
        out.append({"runs": count, "versions": parsed})
    return out


def reproduce(results: ScenarioResults, *, folder_arg: str, report_command: str | None,
              commits: list[str]) -> dict[str, Any]:
    """The scenario file as YAML and the commands that recreate the results and report."""
    spec = scenario_spec(results)
    filename = f"{results.name}.yaml"
    verb = "batch" if spec.get("sweep") else "run"
    steps = []
    if commits:
        steps.append(f"git checkout {commits[0]}")
    steps.append(f"sandbox {verb} {shlex.quote(filename)} --out {shlex.quote(folder_arg)}")
    steps.append(report_command or f"sandbox report {shlex.quote(folder_arg)} "
                                   f"--out report.html")
    return {"filename": filename, "yaml": yaml.safe_dump(spec, sort_keys=False),
            "exact": results.spec is not None, "commands": steps}


def provenance(results: ScenarioResults, *, folder_arg: str,
               report_command: str | None) -> dict[str, Any]:
    """Everything the Methods and provenance section shows."""
    seeds = sorted({int(s) for s in results.runs["seed"]})
    found = versions(results)
    commits = sorted({v["versions"].get("git_commit", "") for v in found} - {""})
    return {
        "scenario_hash": results.scenario_hash,
        "seeds": seeds,
        "run_ids": [str(r) for r in results.runs["run_id"]],
        "versions": found,
        "git_commits": commits,
        "parameters": parameters(results),
        "reproduce": reproduce(results, folder_arg=folder_arg, report_command=report_command,
                               commits=commits),
    }
