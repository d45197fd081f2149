"""ddpg_jax.fidelity: its pure helpers on made-up data (fast), and on a small Hopper policy
trained here the MJX-vs-Gymnasium return gap bounded by the C chaos baseline (slow)."""

from __future__ import annotations

import types

import numpy as np
import pytest

from ddpg_jax import fidelity


def test_perturb_is_seeded_bounded_and_zero_is_identity():
    qpos, qvel = np.arange(6.0), np.ones(6)
    a = fidelity.perturb(qpos, qvel, 1e-6, seed=3)
    b = fidelity.perturb(qpos, qvel, 1e-6, seed=3)
    c = fidelity.perturb(qpos, qvel, 1e-6, seed=4)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[1], c[1])
    delta = np.concatenate([a[0] - qpos, a[1] - qvel])
    assert 0 < np.abs(delta).max() <= 1e-6 and np.abs(delta).min() > 0
    same = fidelity.perturb(qpos, qvel, 0.0, seed=3)
    np.testing.assert_array_equal(same[0], qpos)
    assert same[0] is not qpos  # a copy: callers may write into it


def test_state_error_and_first_above():
    qpos, qvel = np.zeros((4, 3)), np.zeros((4, 2))
    qpos2, qvel2 = qpos.copy(), qvel.copy()
    qpos2[2, 1], qvel2[3, 0] = 1e-3, -1e-5
    err = fidelity.state_error(qpos, qvel, qpos2, qvel2)
    np.testing.assert_allclose(err, [0, 0, 1e-3, 1e-5])
    assert fidelity.first_above(err, 1e-6) == 2
    assert fidelity.first_above(err, 1.0) is None
    assert fidelity.first_above(np.array([0.0, np.nan]), 1.0) == 1  # NaN has diverged


def test_termination_margin_reads_the_env_ranges():
    hopper = types.SimpleNamespace(
        healthy_z_range=(0.7, np.inf),
        healthy_angle_range=(-0.2, 0.2),
        healthy_state_range=(-100.0, 100.0),
    )
    qpos = np.array([3.0, 1.25, 0.15, 0, 0, 0])
    assert fidelity.termination_margin("hopper", hopper, qpos, np.zeros(6)) == pytest.approx(0.05)
    ant = types.SimpleNamespace(healthy_z_range=(0.2, 1.0))
    qpos = np.zeros(15)
    qpos[2] = 0.95
    assert fidelity.termination_margin("ant", ant, qpos, np.zeros(14)) == pytest.approx(0.05)
    assert fidelity.termination_margin("halfcheetah", object(), np.zeros(9), np.zeros(9)) == np.inf


def test_return_stats_gap_against_reference():
    s = fidelity.return_stats([90.0, 110.0], [10, 20], reference=[100.0, 100.0])
    assert s["mean"] == 100.0 and s["std"] == 10.0 and s["length_mean"] == 15.0
    assert s["gap"] == 0.0 and s["episode_abs_diff"] == 10.0
    assert fidelity.return_stats([0.5], [1], reference=[0.0])["gap"] == 0.5  # |ref| < 1


def _episode(length, nq=3, nv=3, nu=2):
    return {
        "qpos": np.zeros((length + 1, nq)),
        "qvel": np.zeros((length + 1, nv)),
        "actions": np.zeros((length, nu)),
        "ncon": np.full(length + 1, 2),
        "niter": np.full(length + 1, 3),
        "length": length,
    }


def test_divergence_finds_the_step_and_what_happens_there():
    c, m = _episode(10), _episode(8)
    m["qvel"][5:, 0] = [1e-4, 1e-3, 5e-2, 1e-1]
    m["ncon"][5] = 3
    m["actions"][0, 1] = 2e-7
    c["qpos"][5, 1] = m["qpos"][5, 1] = 0.75  # z: 0.05 above the 0.7 bound
    env = types.SimpleNamespace(healthy_z_range=(0.7, np.inf))
    d = fidelity.divergence(
        c, m, lambda q, v: fidelity.termination_margin("walker2d", env, q, v), 1e-6
    )
    assert d["step"] == 5 and d["macro_step"] == 7
    assert d["error"] == pytest.approx(1e-4) and d["error_before"] == 0.0
    assert d["c_ncon"] == [2, 2] and d["mjx_ncon"] == [2, 3] and d["contact_change"]
    assert d["margin"] == pytest.approx(0.05) and d["c_niter"] == 3
    assert d["action0_diff"] == pytest.approx(2e-7)
    assert (d["c_length"], d["mjx_length"]) == (10, 8)
    same = fidelity.divergence(c, {k: np.copy(v) for k, v in c.items()}, lambda q, v: 0.0)
    assert same["step"] is None and "error" not in same


def test_summary_row_formats_a_record():
    stats = fidelity.return_stats([300.0, 310.0], [130, 140])
    near = fidelity.return_stats([303.0, 309.0], [131, 140], reference=[300.0, 310.0])
    div = {"step": 40, "macro_step": 60}
    record = {
        "gym_id": "Hopper-v5",
        "checkpoint_step": 1000,
        "gym": stats,
        **{f"gym_perturbed_{p:g}": near for p in fidelity.PERTURBATIONS},
        "mjx_float32": near,
        "divergence": {"float32": [div, {"step": None, "macro_step": None}]},
        "local": {"float32": {"max": 1e-5, "median": 1e-7}},
    }
    row = fidelity.summary_row(record)
    assert row.startswith("| Hopper-v5 (1000) | 305 ± 5 | 306 ± 3 (+0.3%)")
    assert "| 40 (1 never) / - |" in row and "1.0e-05, 1.0e-07 / -" in row
    assert row.count("|") == fidelity.MARKDOWN_HEADER.splitlines()[0].count("|")


def test_machine_record_has_what_a_benchmark_needs():
    from ddpg_jax import machine

    m = machine.describe()
    assert {"cpu", "avx512f", "load_average", "date", "versions"} <= set(m)
    assert isinstance(m["avx512f"], bool) and len(m["load_average"]) == 3


@pytest.mark.slow
def test_mjx_float64_return_gap_within_the_chaos_baseline(tmp_path):
    """A small Hopper policy (a fresh actor, saved as train saves it): MJX in float64 from
    Gymnasium's initial states returns what Gymnasium does, within the spread that a 1e-6
    perturbation of the initial state gives in Gymnasium itself."""
    import jax

    from ddpg_jax import Config, agent, envs, policy, run_dir
    from ddpg_jax.agent import Policy
    from ddpg_jax.checkpoint import CheckpointStore

    cfg = Config(hidden_dim=16, num_seeds=1)
    env = envs.make("hopper", backend="mujoco")
    keys = jax.random.split(jax.random.key(5), 1)
    ts = jax.vmap(
        lambda k: agent.init(
            cfg, env.observation_size, env.action_size, k, env.action_low, env.action_high
        )
    )(keys)
    rd = run_dir.create(tmp_path / "run", "hopper")
    run_dir.save_config(rd, cfg, {"env": "hopper", "run": {"episode_length": 200}})
    with CheckpointStore(rd) as store:
        meta = {"env": "hopper", "config": cfg.to_dict()}
        store.save(100, Policy.from_train_state(ts), None, eval_returns=[0.0], meta=meta)
    pi = policy.load(rd.root)
    record = fidelity.measure(pi, [0, 1, 2], 200, precisions=("float64",), local=False)
    c, chaos, mjx = record["gym"], record["gym_perturbed_1e-06"], record["mjx_float64"]
    assert mjx["lengths"] == c["lengths"]
    spread = max(chaos["episode_abs_diff"], 1e-9 * max(abs(r) for r in c["returns"]))
    assert mjx["episode_abs_diff"] <= 10 * spread
    for div in record["divergence"]["float64"]:
        assert div["action0_diff"] < 1e-5  # the same policy on the same observation
    names = {row["name"]: row for row in record["options"]}
    assert all(names[f"opt.{k}"]["same"] for k in ("iterations", "tolerance", "cone", "solver"))
