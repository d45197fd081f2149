"""The peer comparison scripts (benchmarks/peers/): the scorer's protocol equals ours, the gym 0.23
adapter CleanRL runs on keeps gym's semantics, the comparison computes its table from records
only, and (slow) each peer's driver trains a few hundred steps in its venv and gets scored."""

from __future__ import annotations

import csv
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PEERS = ROOT / "benchmarks" / "peers"
PEER_VENVS = pathlib.Path(os.environ.get("PEER_VENVS", "/work/peer-venvs"))
MODULES = ("common", "score", "compare", "gym_compat", "zoo")


@pytest.fixture
def peers(monkeypatch):
    """benchmarks/peers on sys.path; its modules forgotten afterwards (`common` is a common
    name)."""
    monkeypatch.syspath_prepend(str(PEERS))
    yield
    for name in MODULES:
        sys.modules.pop(name, None)


class LinearPolicy:
    """A fixed deterministic policy with the attributes `run_gym_episodes` reads."""

    gym_id = "Hopper-v5"

    def __init__(self):
        self.w = np.random.default_rng(0).normal(0, 0.3, (3, 11))

    def act(self, obs):
        return np.tanh(self.w @ obs)


def test_scorer_protocol_equals_ddpg_jax_evaluate(peers):
    import score

    from ddpg_jax.episodes import run_gym_episodes

    pi = LinearPolicy()
    seeds = list(range(10))
    ours = run_gym_episodes(pi, seeds, 1000)
    returns, lengths = score.episode_returns(pi.act, "Hopper-v5", seeds, 1000)
    np.testing.assert_array_equal(returns, ours["returns"])
    np.testing.assert_array_equal(lengths, ours["lengths"])
    assert len(set(returns.tolist())) > 1  # the seeds give different episodes


def test_gym_adapter_keeps_gym_023_semantics(peers):
    import gym_compat
    import gymnasium

    gym = gym_compat.install()
    try:

        def thunk():
            env = gym_compat.Env(gymnasium.make("Hopper-v5", max_episode_steps=3))
            env = gym.wrappers.RecordEpisodeStatistics(env)
            env.seed(7)
            return env

        calls = []
        gym_compat.on_step = lambda steps, scope: calls.append((steps, "marker" in scope))
        marker = 1  # noqa: F841 - read back through the caller's frame, as the driver does
        envs = gym.vector.SyncVectorEnv([thunk])
        obs = envs.reset()
        first, _ = gymnasium.make("Hopper-v5").reset(seed=7)
        np.testing.assert_array_equal(obs[0], first)  # env.seed seeds the first reset
        assert envs.action_space.shape == (1, 3)
        zero = np.zeros((1, 3))
        for _ in range(2):
            obs, _, dones, infos = envs.step(zero)
            assert not dones[0] and "episode" not in infos[0]
        obs, rewards, dones, infos = envs.step(zero)
        assert dones[0] and infos[0]["TimeLimit.truncated"]  # time limit, not termination
        assert infos[0]["episode"]["l"] == 3
        assert not np.array_equal(infos[0]["terminal_observation"], obs[0])  # auto-reset
        assert [c[0] for c in calls] == [1, 2, 3]
    finally:
        gym_compat.on_step = None
        sys.modules.pop("gym", None)


def _write_peer_csv(scores: pathlib.Path, library: str, seed: int, points) -> None:
    import score

    path = scores / library / f"hopper-seed{seed}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=score.COLUMNS)
        writer.writeheader()
        for minutes, steps, ret in points:
            writer.writerow(
                {"library": library, "task": "hopper", "seed": seed, "minutes": minutes}
                | {"env_steps": steps, "return_mean": ret, "return_std": 0}
            )


def _write_our_run(root: pathlib.Path, seed: int, points) -> None:
    root.mkdir(parents=True)
    (root / "config.yaml").write_text(
        f"env: hopper\nrun:\n  seed: {seed}\nconfig:\n  warmup_steps: 10000\n"
    )
    lines = ["env_step,seed,wall_time,eval_return"]
    lines += [f"{steps},0,{60 * minutes},{ret}" for minutes, steps, ret in points]
    (root / "metrics.csv").write_text("\n".join(lines) + "\n")


def test_compare_says_when_there_is_no_data(peers, tmp_path, capsys):
    import compare

    code = compare.main(["--scores", str(tmp_path), "--ours", "--plot", str(tmp_path / "p.png")])
    out = capsys.readouterr().out
    assert code == 1
    assert "no peer data" in out and "no ddpg-jax data" in out
    assert not (tmp_path / "p.png").exists()


def test_compare_table_from_records(peers, tmp_path, capsys):
    import compare

    scores = tmp_path / "scores"
    for seed, end in ((0, 900.0), (1, 1100.0)):  # 50k steps/min; mean 1000 at 27 min
        _write_peer_csv(scores, "sbx-td3", seed, [(1.0, 50_000, 100.0), (27.0, 1_350_000, end)])
    ours = tmp_path / "ours"
    for seed in (0, 1):  # 1000 reached at 6 min (slowest seed), 2500 at the budget
        _write_our_run(
            ours / f"s{seed}",
            seed,
            [(0.0, 0, 0.0), (3.0 + seed, 100_000, 500.0), (5.0 + seed, 200_000, 1000.0)]
            + [(26.0, 900_000, 2400.0 + 200 * seed)],
        )
    plot = tmp_path / "p.png"
    code = compare.main(["--scores", str(scores), "--ours", str(ours), "--plot", str(plot)])
    out = capsys.readouterr().out
    assert code == 0 and plot.exists()
    row = next(line for line in out.splitlines() if "sbx-td3" in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2].startswith("1000 ± 100 at 27.0 min, 1.35M steps")
    assert cells[3] == "6.0 min, 200k steps"
    assert cells[4] == f"{6 / 27:.2f}"
    assert cells[5] == "ours needs fewer env steps"
    assert cells[6].startswith("2500 (2400)")
    assert cells[7] == "met"
    # learning env steps/s: peer 1.3M steps in 26 min; ours 800k steps in 23 and 22 min
    peer_rate = 1_300_000 / (26 * 60)
    ours_rate = np.mean([800_000 / ((26 - 3 - s) * 60) for s in (0, 1)])
    assert cells[8] == f"{peer_rate:.0f} / {ours_rate:.0f}"


# --- slow: each driver in its own venv ---

DRIVERS = {
    "sbx-td3": "sbx",
    "sbx-sac": "sbx",
    "sb3-td3": "sb3",
    "cleanrl-td3": "cleanrl",
}


@pytest.mark.slow
@pytest.mark.parametrize("library", list(DRIVERS))
def test_driver_trains_snapshots_and_scores(library, tmp_path):
    venv = PEER_VENVS / DRIVERS[library]
    if not (venv / ".installed").exists():
        pytest.skip(f"{venv} is not installed: run `bash benchmarks/peers/install.sh`")
    python = str(venv / "bin" / "python")
    out = tmp_path / "run"
    train = [python, str(PEERS / f"{library.replace('-', '_')}.py"), "--task", "hopper"]
    train += ["--seed", "1", "--out", str(out), "--steps", "300", "--snapshot-every", "100"]
    train += ["--learning-starts", "100", "--minutes", "0"]
    done = subprocess.run(train, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    run = json.loads((out / "run.json").read_text())
    assert run["finished"] and run["env_steps"] == 300 and run["library"] == library
    assert run["settings"] and run["machine"]["cpu_model"]
    snaps = sorted(json.loads(p.read_text())["env_steps"] for p in out.glob("snapshots/*.json"))
    assert snaps == [100, 200, 300]

    table = tmp_path / "scores.csv"
    score = [python, str(PEERS / "score.py"), str(out), "--csv", str(table), "--episodes", "2"]
    done = subprocess.run(score, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["env_steps"]) for r in rows] == [100, 200, 300]
    assert all(r["library"] == library and r["task"] == "hopper" for r in rows)
    assert all(np.isfinite(float(r["return_mean"])) for r in rows)
    assert rows[0]["episode_seeds"] == "0 1"
