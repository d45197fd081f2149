"""Sweeps in one process: traced hyperparameters vmapped with seeds equal separate static runs
(agent update, noise, a training chunk), the `python -m ddpg_jax.sweep` CLI writes one normal
run dir per variant, and a grid over a non-traceable field exits 2 with one line."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ddpg_jax import Config, agent, envs, loop, noise, normalizer, plot, run_dir, sweep
from ddpg_jax import hyperparams as hps
from ddpg_jax.checkpoint import CheckpointStore
from ddpg_jax.metrics_log import read_metrics
from ddpg_jax.normalizer import INITIAL_COUNT
from ddpg_jax.replay import Transition
from ddpg_jax.tracing import TRACE_COUNTS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OBS, ACT, BATCH = 3, 2, 8
# Vmapped programs are not bit-identical to unvmapped ones on CPU (batched matmuls; the same
# holds for vmapped seeds), nor traced constants to folded ones: a few ulps per update.
CLOSE = dict(rtol=1e-5, atol=1e-6)


def _batch(i: int) -> Transition:
    k = jax.random.split(jax.random.key(100 + i), 5)
    return Transition(
        obs=jax.random.normal(k[0], (BATCH, OBS)),
        action=jax.random.uniform(k[1], (BATCH, ACT), minval=-1, maxval=1),
        reward=jax.random.normal(k[2], (BATCH,)),
        next_obs=jax.random.normal(k[3], (BATCH, OBS)),
        terminated=(jax.random.uniform(k[4], (BATCH,)) < 0.3).astype(jnp.float32),
    )


def _assert_trees_close(got, want, **tol):
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), **(tol or CLOSE))


def test_default_state_traces_nothing_and_hyperparams_trace_everything():
    cfg = Config(hidden_dim=8)
    ts = agent.init(cfg, OBS, ACT, jax.random.key(0))
    assert jax.tree.leaves(ts.hp) == [] and ts.hp.traced == ()
    hp = hps.hyperparams(cfg.replace(noise_type="ou", noise_decay_mode="step"))
    assert hp.traced == hps.TRACEABLE
    assert int(hp.noise_type) == 1 and int(hp.noise_decay_mode) == 1
    assert hp.tau.dtype == jnp.float32 and hp.normalize_obs.dtype == jnp.bool_
    with pytest.raises(ValueError, match="hidden_dim cannot be traced"):
        hps.hyperparams(cfg, ["tau", "hidden_dim"])


def test_vmapped_update_equals_separate_single_config_updates():
    base = Config(hidden_dim=16, twin_critics=True, batch_size=BATCH, buffer_size=BATCH)
    variants = [
        dict(tau=0.01, actor_lr=1e-3, critic_lr=2e-3, gamma=0.9, weight_decay=0.0),
        dict(tau=0.2, actor_lr=3e-4, critic_lr=1e-4, gamma=0.99, weight_decay=0.01),
    ]
    variants = [{**v, "target_noise": t, "normalize_obs": n} for v, t, n in
                zip(variants, (0.0, 0.2), (False, True), strict=True)]  # fmt: skip
    cfgs = [base.replace(**v) for v in variants]
    key = jax.random.key(0)

    def train(cfg, ts):
        for i in range(3):
            ts = ts.replace(normalizer=normalizer.update(ts.normalizer, _batch(i).obs))
            ts, metrics = agent.update(cfg, ts, _batch(i))
        return ts, metrics

    separate = [train(cfg, agent.init(cfg, OBS, ACT, key)) for cfg in cfgs]

    stacked = hps.stack([hps.hyperparams(cfg, variants[0]) for cfg in cfgs])
    before = TRACE_COUNTS["update"]
    ts0 = jax.vmap(lambda hp: agent.init(base, OBS, ACT, key, hp=hp))(stacked)
    swept = jax.vmap(lambda ts: train(base, ts))(ts0)
    assert TRACE_COUNTS["update"] - before == 1  # one trace serves every variant

    for v, (ts, metrics) in enumerate(separate):
        got_ts, got_metrics = jax.tree.map(lambda x, v=v: x[v], swept)
        _assert_trees_close(got_metrics, metrics)
        for field in ("actor_params", "critic_params", "target_actor_params", "normalizer"):
            _assert_trees_close(getattr(got_ts, field), getattr(ts, field))
        _assert_trees_close(got_ts.critic_opt_state, ts.critic_opt_state)
        assert got_ts.hp.traced == tuple(f for f in hps.TRACEABLE if f in variants[0])
    assert not np.allclose(swept[1]["q_mean"][0], swept[1]["q_mean"][1])


def test_traced_noise_switches_equal_static_noise():
    grid = [
        dict(noise_type=t, noise_decay_mode=m, expl_noise=e, ou_theta=0.3, ou_sigma=s)
        for t in ("gaussian", "ou")
        for m, e, s in (("none", 0.3, 0.2), ("step", 0.2, 0.1), ("episode", 0.0, 0.5))
    ]
    base = Config(noise_decay=0.7, min_expl_noise=0.0)
    cfgs = [base.replace(**g) for g in grid]
    overs = jnp.array([[i % 2 == 0, False, True] for i in range(5)])  # [steps, num_envs]
    keys = jax.random.split(jax.random.key(0), 5)

    def run(cfg, hp):
        state = noise.init(cfg, 3, ACT, hp)
        outs = []
        for i in range(len(overs)):
            state, eps = noise.sample(cfg, state, keys[i], hp)
            state = noise.end_step(cfg, state, overs[i], hp)
            outs.append((state, eps))
        return outs

    stacked = hps.stack([hps.hyperparams(cfg, grid[0]) for cfg in cfgs])
    with jax.debug_key_reuse(True):
        swept = jax.jit(jax.vmap(lambda hp: run(base, hp)))(stacked)
    for v, cfg in enumerate(cfgs):
        _assert_trees_close(jax.tree.map(lambda x, v=v: x[v], swept), run(cfg, None))


TINY = Config(
    hidden_dim=16,
    batch_size=16,
    buffer_size=256,
    warmup_steps=16,
    num_envs=2,
    num_seeds=2,
    total_steps=64,
    updates_per_step=2,
    noise_decay_mode="step",
)


@pytest.mark.slow  # the update-level equality above stays in the default suite (budget)
def test_swept_training_chunk_equals_separate_runs():
    """Lanes [variant, seed] of one compiled chunk equal each variant trained alone."""
    env = envs.make("inverted_pendulum", backend="mujoco")
    grid = [dict(normalize_obs=False, tau=0.01), dict(normalize_obs=True, tau=0.05)]
    seeds, eval_seeds = (
        jax.random.split(jax.random.key(0), 2),
        jax.random.split(jax.random.key(1), 2),
    )

    def run(cfg, hp=None):
        trainer = loop.make_train(cfg, env, chunk_iterations=24, episode_length=20, eval_envs=2)
        keys, eval_keys = (seeds, eval_seeds) if hp is None else (lanes, eval_lanes)
        carry = trainer.init_seeds(keys) if hp is None else trainer.init_seeds(keys, hp)
        carry, metrics = trainer.train_chunk_seeds(carry)
        evals = trainer.evaluate_seeds(carry.train_state, eval_keys)
        return jax.device_get((carry.train_state, metrics, evals))

    lanes = jnp.concatenate([seeds, seeds])  # variant-major: lane v * 2 + s
    eval_lanes = jnp.concatenate([eval_seeds, eval_seeds])
    stacked = hps.stack([hps.hyperparams(TINY.replace(**g), grid[0]) for g in grid])
    swept = run(TINY, jax.tree.map(lambda x: jnp.repeat(x, 2, axis=0), stacked))
    for v, values in enumerate(grid):
        ts, metrics, evals = run(TINY.replace(**values))
        got_ts, got_metrics, got_evals = jax.tree.map(lambda x, v=v: x[2 * v : 2 * v + 2], swept)
        assert np.all(metrics["train_episodes"] > 0) and np.isfinite(metrics["critic_loss"]).all()
        _assert_trees_close(got_metrics, metrics, rtol=1e-4, atol=1e-5)
        _assert_trees_close(got_evals, evals, rtol=1e-4, atol=1e-5)
        _assert_trees_close(got_ts.actor_params, ts.actor_params, rtol=1e-4, atol=1e-5)
        _assert_trees_close(got_ts.normalizer, ts.normalizer)


SWEEP_RUN = [
    "--env=inverted_pendulum",
    "--backend=mujoco",
    "--num_envs=2",
    "--num_seeds=2",
    "--total_steps=200",
    "--hidden_dim=16",
    "--batch_size=16",
    "--warmup_steps=50",
    "--log_every=100",
    "--eval_episodes=2",
    "--episode_length=50",
    "--grid",
    "normalize_obs=true,false",
]


def test_sweep_cli_writes_one_normal_run_dir_per_variant(tmp_path, capsys):
    out = tmp_path / "sweep"
    traces = TRACE_COUNTS.get("train_chunk", 0)
    assert sweep.main([*SWEEP_RUN, f"--out={out}"]) == 0
    assert TRACE_COUNTS.get("train_chunk", 0) - traces == 1  # one compiled chunk
    assert "2 variants x 2 seed(s)" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["normalize_obs=false", "normalize_obs=true"]
    counts = {}
    env = envs.make("inverted_pendulum", backend="mujoco")
    for flag in ("true", "false"):
        directory = run_dir.open_existing(out / f"normalize_obs={flag}")
        cfg, extra = run_dir.load_config(directory)
        assert cfg.normalize_obs == (flag == "true") and cfg.num_seeds == 2
        assert extra["variant"] == f"normalize_obs={flag}" and extra["env"] == "inverted_pendulum"
        assert plot.load_run(str(directory.root))["label"] == f"normalize_obs={flag}"
        metrics = read_metrics(directory)
        assert list(np.unique(metrics["env_step"])) == [0, 100, 200]
        assert sorted(set(metrics["seed"])) == [0, 1]
        assert np.isfinite(metrics["critic_loss"][metrics["env_step"] > 0]).all()
        # The train item is a plain run's (no traced hp): `train --resume` continues a variant.
        plain = loop.make_train(cfg, env, 50, episode_length=50, eval_envs=2)
        abstract = jax.eval_shape(plain.init_seeds, jax.random.split(jax.random.key(0), 2))
        with CheckpointStore(directory, read_only=True) as store:
            policy, meta = store.restore_policy("latest")
            restored = store.restore_train(
                "latest", loop.checkpoint_item(abstract).replace(buffer=None)
            )
        assert "hp" not in restored.train_state and int(restored.iteration[0]) == 100
        assert meta["env_step"] == 200 and meta["config"]["normalize_obs"] == (flag == "true")
        assert policy.actor_params["params"]["hidden_0"]["kernel"].shape[:2] == (2, 4)
        counts[flag] = np.asarray(policy.normalizer.count)
    np.testing.assert_allclose(counts["false"], INITIAL_COUNT)  # never updated when off
    assert np.all(counts["true"] > 100)


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["--grid", "hidden_dim=64,128"], "'hidden_dim' cannot be swept in one process"),
        (["--grid", "nope=1"], "unknown field 'nope'"),
        (["--grid", "batch_size=64"], "traceable fields: actor_lr, critic_lr, tau"),
        ([], "give at least one --grid"),
        (["--grid", "tau"], "is invalid: use tau=V1,V2"),
        (["--grid", "tau=0.1,"], "no empty values"),
        (["--grid", "tau=fast"], "invalid value 'fast'"),
        (["--grid", "tau=0.1", "--grid", "tau=0.2"], "given twice"),
        (["--grid", "tau=0.1,0.1"], "repeats a value"),
        (["--grid", "noise_type=pink"], "is not one of 'gaussian', 'ou'"),
        (["--grid", "normalize_obs=maybe"], "expected true or false"),
        (["--grid", "tau=2"], "variant tau=2.0: config field tau=2.0 is invalid"),
        (["--tau=0.1", "--grid", "tau=0.2,0.3"], "--tau is also in a --grid"),
        (["--resume=x", "--grid", "tau=0.2"], "sweep has no --resume"),
        (["--grid", "tau=0.1", "--num_envs=0"], "num_envs=0"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv, expected):
    assert sweep.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    assert expected in err


def test_cli_process_exit_status():
    result = subprocess.run(
        [sys.executable, "-m", "ddpg_jax.sweep", "--grid", "hidden_dim=64,128"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": ROOT},
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "cannot be swept in one process; traceable fields:" in result.stderr
