"""Steps and seconds for PPO to solve CartPole-v1 and Pendulum-v1: ours vs stable-baselines3.

Ours trains through :class:`sandbox.adapters.from_gymnasium.GymnasiumWorld`; the peer is
stable-baselines3's PPO with the tuned hyperparameters of rl-baselines3-zoo
(``hyperparams/ppo.yml``: CartPole-v1 and Pendulum-v1 entries), run in the same process
on the same machine, interleaved seed by seed so both see the same load. A run is solved
when the mean return of the last 20 finished training episodes reaches the threshold
(475 for CartPole-v1, -200 for Pendulum-v1); the step counted is the environment step
at which that episode finished, and the seconds are wall-clock from the start of
training to the end of the rollout (ours) or step (SB3) where it was detected; CPU
seconds (process time) are reported beside them, as wall-clock time on a shared machine
depends on its load. Both use one torch thread. Figures are medians over seeds; ratios
are ours / SB3.

Needs ``stable-baselines3`` (the ``bench`` extra); without it only ours runs.

Usage: ``python benchmarks/ppo_gym.py [--quick] [--seeds 3] [--tasks cartpole pendulum]
[--only ours|sb3]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import deque
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.adapters.from_gymnasium import GymnasiumWorld  # noqa: E402
from sandbox.policies import NetworkConfig  # noqa: E402
from sandbox.solvers import PPO, PPOConfig  # noqa: E402

WINDOW = 20

# Our settings per task. CartPole: the zoo's settings except two minibatches of 128 per
# epoch (SB3 takes the whole 256-step rollout as one batch), so each rollout gives twice
# the gradient steps. Pendulum: the zoo's discount and
# learning rate with shorter rollouts (256 steps x 4 envs), minibatches of 128, rewards
# scaled by 0.1 and a tanh-squashed Gaussian (no state-dependent exploration).
TASKS = {
    "cartpole": {
        "env_id": "CartPole-v1", "threshold": 475.0, "budget": 100_000, "num_envs": 8,
        "ours": PPOConfig(num_steps=32, learning_rate=1e-3, gamma=0.98, gae_lambda=0.8,
                          update_epochs=20, num_minibatches=2, anneal_clip=True),
        "sb3": {"n_envs": 8, "n_steps": 32, "batch_size": 256, "gae_lambda": 0.8,
                "gamma": 0.98, "n_epochs": 20, "ent_coef": 0.0, "learning_rate": "lin_1e-3",
                "clip_range": "lin_0.2"},
    },
    "pendulum": {
        "env_id": "Pendulum-v1", "threshold": -200.0, "budget": 100_000, "num_envs": 4,
        "ours": PPOConfig(num_steps=256, learning_rate=1e-3, gamma=0.9, gae_lambda=0.95,
                          update_epochs=10, num_minibatches=8, anneal_lr=False,
                          reward_scale=0.1, network=NetworkConfig(continuous="gaussian")),
        "sb3": {"n_envs": 4, "n_steps": 1024, "gae_lambda": 0.95, "gamma": 0.9,
                "n_epochs": 10, "ent_coef": 0.0, "learning_rate": 1e-3, "clip_range": 0.2,
                "use_sde": True, "sde_sample_freq": 4},
    },
}


def run_ours(task: dict, seed: int, budget: int) -> dict:
    """Train our PPO until solved or out of budget."""
    world = GymnasiumWorld.make(task["env_id"], num_envs=task["num_envs"], seed=seed)
    learner = PPO(world, "agent", task["ours"], seed=seed)
    start, cpu = time.perf_counter(), time.process_time()
    solved: dict = {}
    recent: deque = deque(maxlen=WINDOW)
    checked = [0]  # env steps already scanned

    def check(progress) -> bool:
        collector = progress.collector
        new = [(s, v) for s, v in collector.finished["agent"] if s > checked[0]]
        checked[0] = collector.env_steps
        for step, value in new:
            recent.append(value)
            if len(recent) == WINDOW and sum(recent) / WINDOW >= task["threshold"]:
                solved.update(steps=step, seconds=time.perf_counter() - start,
                              cpu_seconds=time.process_time() - cpu)
                return True
        return False

    learner.learn(budget, callback=check)
    world.close()
    return solved or {"steps": None, "seconds": time.perf_counter() - start,
                      "cpu_seconds": time.process_time() - cpu}


def _schedule(value):
    if isinstance(value, str) and value.startswith("lin_"):
        initial = float(value[4:])
        return lambda remaining: remaining * initial
    return value


def run_sb3(task: dict, seed: int, budget: int) -> dict:
    """Train stable-baselines3's PPO with the zoo's hyperparameters until solved."""
    from stable_baselines3 import PPO as SB3PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    settings = {k: _schedule(v) for k, v in task["sb3"].items()}
    env = make_vec_env(task["env_id"], n_envs=settings.pop("n_envs"), seed=seed)
    model = SB3PPO("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **settings)
    solved: dict = {}
    recent: deque = deque(maxlen=WINDOW)

    class Stop(BaseCallback):
        def _on_training_start(self) -> None:
            self.start, self.cpu = time.perf_counter(), time.process_time()

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    recent.append(info["episode"]["r"])
                    if len(recent) == WINDOW and sum(recent) / WINDOW >= task["threshold"]:
                        solved.update(steps=self.num_timesteps,
                                      seconds=time.perf_counter() - self.start,
                                      cpu_seconds=time.process_time() - self.cpu)
                        return False
            return True

    callback = Stop()
    model.learn(budget, callback=callback)
    env.close()
    return solved or {"steps": None, "seconds": time.perf_counter() - callback.start,
                      "cpu_seconds": time.process_time() - callback.cpu}


def summarise(runs: list[dict]) -> dict:
    """Medians over seeds (an unsolved run counts as infinitely many steps)."""
    def median(key):
        values = [r[key] if r["steps"] is not None else float("inf") for r in runs]
        value = statistics.median(values)
        return None if value == float("inf") else round(value, 2)

    for run in runs:
        run["seconds"], run["cpu_seconds"] = round(run["seconds"], 2), round(run["cpu_seconds"], 2)
    return {"solved": sum(r["steps"] is not None for r in runs), "runs": runs,
            "median_steps": median("steps"), "median_seconds": median("seconds"),
            "median_cpu_seconds": median("cpu_seconds")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, tiny budget (smoke)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--only", choices=["ours", "sb3"], default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    try:
        import stable_baselines3  # noqa: F401
        have_sb3 = True
    except ImportError:
        have_sb3 = False
    seeds = 1 if args.quick else args.seeds
    output: dict = {"threads": 1, "window": WINDOW, "sb3_installed": have_sb3}
    for name in args.tasks:
        task = TASKS[name]
        budget = 2_000 if args.quick else task["budget"]
        ours, peer = [], []
        for seed in range(seeds):
            if args.only in (None, "ours"):
                ours.append(run_ours(task, seed, budget))
            if have_sb3 and args.only in (None, "sb3"):
                peer.append(run_sb3(task, seed, budget))
        result = {"threshold": task["threshold"], "budget": budget}
        if ours:
            result["ours"] = summarise(ours)
        if peer:
            result["sb3_zoo"] = summarise(peer)
        if ours and peer and result["ours"]["median_steps"] and result["sb3_zoo"]["median_steps"]:
            result["steps_ratio"] = round(
                result["ours"]["median_steps"] / result["sb3_zoo"]["median_steps"], 3)
            for key in ("seconds", "cpu_seconds"):
                result[f"{key}_ratio"] = round(result["ours"][f"median_{key}"]
                                               / result["sb3_zoo"][f"median_{key}"], 3)
        output[name] = result
    print(json.dumps(output, indent=2))


if __name__ == "__main__":
    main()
