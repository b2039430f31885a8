"""The report's episode section: one recorded Gather-Trade-Build episode per policy.

Batches keep one episode per run of a world that records them
(``trajectories/<run_id>.npz``, see ``sandbox/batch/store.py``); the section draws the
lowest-seed run's episode of each policy (up to :data:`MAX_EPISODES`) with
``gtb_figures``: the map over time, inventories, trades and the tax schedule. A missing
or unreadable file becomes a note in the section, and the rest of the report builds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sandbox.core.errors import SandboxError
from sandbox.report import gtb_figures as gf
from sandbox.report.load import ScenarioResults
from sandbox.worlds.economy.gtb.trajectory import read_trajectory

#: Policies whose episode is drawn (each adds a map animation to the page).
MAX_EPISODES = 3
#: Map frames per animation in a report.
MAX_FRAMES = 101
_CAPTIONS = {
    "map": "Terrain, houses and agents; the slider and Play step through the stored map "
           "snapshots.",
    "inventory": "Wood, stone and coin each agent holds (available plus escrowed in open "
                 "orders), every step.",
    "trades": "Prices of the trades in both markets, and trades per tax period.",
    "tax": "The marginal rates the planner set for each tax period of the episode.",
}
_TITLES = {"map": "Map over time", "inventory": "Inventories", "trades": "Trades",
           "tax": "Tax schedule"}


def _recorded_run(results: ScenarioResults, variant: str) -> int | None:
    """Row of ``variant``'s lowest-seed successful run that names a trajectory file."""
    paths = results.runs.get("trajectory")
    if paths is None:
        return None
    for run_id in results.drawn_runs(variant, limit=results.count):
        i = int(np.flatnonzero(results.runs["run_id"] == run_id)[0])
        if isinstance(paths[i], str) and paths[i]:
            return i
    return None


def load_episode(results: ScenarioResults, row: int) -> gf.GTBEpisode:
    """The recorded episode of run ``row`` of ``results``.

    Raises:
        SandboxError: the file is missing, unreadable or malformed (the message names it).
    """
    path = results.folder / str(results.runs["trajectory"][row])
    arrays = read_trajectory(path)
    try:
        return gf.episode_from_arrays(arrays)
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise SandboxError(f"{path}: malformed trajectory ({exc})") from None


def episode_section(results: ScenarioResults) -> dict[str, Any] | None:
    """Figures of one recorded episode per policy (None when no run recorded one).

    Returns:
        ``{"episodes": [{"variant", "seed", "run_id", "steps", "summary"}], "problems":
        [text], "figures": [{"id", "title", "figure", "caption"}]}``.
    """
    chosen = [(v, row) for v in results.variants
              if (row := _recorded_run(results, v)) is not None][:MAX_EPISODES]
    if not chosen:
        return None
    episodes, problems, figures = [], [], []
    for k, (variant, row) in enumerate(chosen):
        seed, run_id = int(results.runs["seed"][row]), str(results.runs["run_id"][row])
        try:
            episode = load_episode(results, row)
            drawn = gf.episode_figures(episode, max_frames=MAX_FRAMES)
        except SandboxError as exc:
            problems.append(f"{variant}, seed {seed}: the recorded episode could not be "
                            f"drawn ({exc}).")
            continue
        label = f"{variant}, seed {seed}"
        episodes.append({"variant": variant, "seed": seed, "run_id": run_id,
                         "steps": episode.steps, "summary": gf.episode_summary(episode)})
        for name, figure in drawn.items():
            figures.append({"id": f"episode-{k}-{name}", "title": f"{_TITLES[name]}: {label}",
                            "figure": figure,
                            "caption": f"{_CAPTIONS[name]} Run {run_id}, environment 0's "
                                       f"first episode ({episode.steps} steps)."})
    return {"episodes": episodes, "problems": problems, "figures": figures}
