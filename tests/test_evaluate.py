"""Checkpoint evaluation: exported policy, Gymnasium vs MJX returns, JSON, sweeps, video, bad input.

The checkpoint is built without training (one MJX compile per module is all we can afford on
2 cores): seed 0 is a freshly initialised actor with non-trivial normalizer statistics, seed 1
a hand-set actor that is a linear balancing controller `3 tanh(K obs)` (so its episodes last
the whole time limit). Both are saved with `CheckpointStore.save(step, Policy, train=None)`,
exactly as train saves the policy item.
"""

from __future__ import annotations

import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ddpg_jax import Config, agent, envs, evaluate, policy, run_dir, video
from ddpg_jax.agent import Policy
from ddpg_jax.checkpoint import CheckpointStore

ENV = "inverted_pendulum"
HIDDEN = 16
STEPS = (500, 1000)
EPISODES = 4
MAX_STEPS = 300
EPISODE_LENGTH = 60  # the run's time limit in config.yaml, used unless --max-episode-steps
GAIN = np.array([1.0, 10.0, 1.0, 2.0])  # balances InvertedPendulum-v5 (checked in Gymnasium)


def _controller_params(params, obs_size: int):
    """Actor params computing tanh(GAIN . obs) through the ReLU layers: h0 = [obs+, obs-]."""
    h0 = np.zeros((obs_size, HIDDEN), np.float32)
    h0[:, :obs_size] = np.eye(obs_size)
    h0[:, obs_size : 2 * obs_size] = -np.eye(obs_size)
    out = np.zeros((HIDDEN, 1), np.float32)
    out[:obs_size, 0], out[obs_size : 2 * obs_size, 0] = GAIN, -GAIN
    layers = {
        "hidden_0": {"kernel": h0, "bias": np.zeros(HIDDEN, np.float32)},
        "hidden_1": {
            "kernel": np.eye(HIDDEN, dtype=np.float32),
            "bias": np.zeros(HIDDEN, np.float32),
        },
        "out": {"kernel": out, "bias": np.zeros(1, np.float32)},
    }
    return jax.tree.map(jnp.asarray, {"params": layers})


def make_train_states(cfg: Config, env) -> agent.TrainState:
    """Two seeds' train states ([2] leading axis): random actor, and the balancing controller."""
    keys = jax.random.split(jax.random.key(3), 2)
    ts = jax.vmap(
        lambda k: agent.init(
            cfg, env.observation_size, env.action_size, k, env.action_low, env.action_high
        )
    )(keys)
    obs_size = env.observation_size
    ctrl = _controller_params(None, obs_size)
    actor = jax.tree.map(lambda a, c: a.at[1].set(c), ts.actor_params, ctrl)
    normalizer = ts.normalizer.replace(
        mean=ts.normalizer.mean.at[0].set(jnp.array([0.1, -0.02, 0.3, 0.05])),
        var=ts.normalizer.var.at[0].set(jnp.array([0.5, 0.01, 2.0, 0.3])),
        count=jnp.full((2,), 1e3, jnp.float32),
    )
    return ts.replace(actor_params=actor, normalizer=normalizer)


def make_run(root, env_name: str = ENV, meta_env: str | None = None, steps=STEPS):
    """A run dir with config.yaml and policy-only checkpoints at `steps`."""
    cfg = Config(hidden_dim=HIDDEN, normalize_obs=True, num_seeds=2)
    env = envs.make(ENV)
    ts = make_train_states(cfg, env)
    rd = run_dir.create(root, env_name)
    run_dir.save_config(rd, cfg, {"env": env_name, "run": {"episode_length": EPISODE_LENGTH}})
    with CheckpointStore(rd) as store:
        for i, step in enumerate(steps):
            store.save(
                step,
                Policy.from_train_state(ts),
                None,
                eval_returns=[1.0 + i, 2.0],
                meta={"env": meta_env or env_name, "config": cfg.to_dict()},
            )
    return rd, cfg, ts


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("eval") / "run")


def _main(argv, capsys):
    code = evaluate.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_policy_matches_training_actor(run):
    rd, cfg, ts = run
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(32, 4)).astype(np.float32) * [1.0, 0.2, 1.0, 1.0]
    for i in range(2):
        pi = policy.load(rd.root, "latest", seed_index=i)
        assert (pi.env, pi.gym_id, pi.step, pi.seed_index) == (ENV, "InvertedPendulum-v5", 1000, i)
        ts_i = jax.tree.map(lambda x, i=i: x[i], ts)
        expected = np.asarray(agent.act(cfg, ts_i, jnp.asarray(obs)))
        np.testing.assert_allclose(pi.act(obs), expected, rtol=1e-6, atol=1e-6)
        single = pi.act(obs[0].astype(np.float64))
        assert single.shape == (1,) and single.dtype == np.float32
        np.testing.assert_allclose(single, expected[0], rtol=1e-6, atol=1e-6)
    assert policy.load(rd.root, "best").step == 1000 and policy.load(rd.root, 500).step == 500


def test_json_and_gym_mjx_agreement(run, capsys):
    rd, _, _ = run
    code, out, err = _main(
        [rd.root, "--num_episodes", EPISODES, "--max_episode_steps", MAX_STEPS, "--json"],
        capsys,
    )
    assert code == 0, err
    doc = json.loads(out)  # stdout is only the JSON
    assert doc["num_seeds"] == 2 and doc["label"] == "run"  # every seed by default
    assert doc["env"] == ENV and doc["checkpoint_step"] == 1000
    assert doc["episode_seeds"] == list(range(EPISODES))
    assert np.isfinite([doc["gym_mean"], doc["gym_std"], doc["mjx_mean"], doc["gap"]]).all()
    assert [s["seed_index"] for s in doc["seeds"]] == [0, 1]
    for s in doc["seeds"]:
        for key in ("gym_returns", "gym_lengths", "mjx_returns", "mjx_lengths"):
            assert len(s[key]) == EPISODES and np.isfinite(s[key]).all(), key
        assert np.isfinite([s["gym_mean"], s["mjx_mean"], s["gap"]]).all()
        assert abs(s["gap"]) < 0.03, s  # same policy, same initial states, no contacts
        np.testing.assert_allclose(s["mjx_returns"], s["gym_returns"], rtol=0.05, atol=1.0)
    random_actor, controller = doc["seeds"]
    assert controller["gym_returns"] == [float(MAX_STEPS)] * EPISODES  # balances to the limit
    assert max(random_actor["gym_lengths"]) < MAX_STEPS  # falls: termination timing compared
    for seed in (0, 1):  # progress goes to stderr
        assert f"seed {seed}: {EPISODES} Gymnasium episode(s)" in err, err
        assert f"seed {seed}: MJX in " in err, err
    saved = (
        rd.evaluations_dir
        / f"step{1000:09d}_seeds-all_episodes-{EPISODES}-from0_limit{MAX_STEPS}.json"
    )
    (record,) = [d for d in run_dir.load_evaluations(rd) if d["path"] == str(saved)]
    assert record["seeds"] == doc["seeds"] and record["gym_mean"] == doc["gym_mean"]
    assert (
        record["command"].startswith("python -m ddpg_jax.evaluate ")
        and "--json" in record["command"]
    )


def test_table_output(run, capsys):
    rd, _, _ = run
    code, out, err = _main(
        [
            rd.root,
            "--checkpoint",
            "500",
            "--seed_index",
            "1",
            "--episodes",
            EPISODES,
            "--max-episode-steps",
            MAX_STEPS,
        ],
        capsys,
    )
    assert code == 0, err
    assert out.startswith("InvertedPendulum-v5, checkpoint step 500, 4 episode(s)")
    assert out.splitlines()[2].split()[0] == "1"
    assert "300.0 ± 0.0" in out
    assert f"saved {rd.evaluations_dir}/step{500:09d}_seeds-1_" in err


@pytest.mark.filterwarnings("ignore:os.fork")  # imageio's reader forks and execs ffmpeg at once
def test_video(run, tmp_path, capsys, monkeypatch):
    renderer = None
    for gl in video.RENDERERS:
        if video.probe_renderer(gl) is None:
            renderer = gl
            break
    if renderer is None:
        pytest.skip("no headless renderer (MUJOCO_GL=egl or osmesa; apt-get install libosmesa6)")
    pytest.importorskip("imageio_ffmpeg", reason="video needs imageio[ffmpeg]")
    monkeypatch.setenv("MUJOCO_GL", renderer)
    rd, _, _ = run
    mp4 = tmp_path / "episode.mp4"
    argv = [rd.root, "--episodes", 1, "--max-episode-steps", 40, "--no-mjx", "--video", mp4]
    code, out, err = _main([*argv, "--json"], capsys)
    assert code == 0, err
    assert mp4.is_file() and mp4.stat().st_size > 1000
    import imageio.v2 as imageio

    with imageio.get_reader(mp4) as reader:
        frame = reader.get_data(0)
    assert frame.ndim == 3 and frame.shape[2] == 3
    assert json.loads(out)["video"] == str(mp4)


@pytest.fixture(scope="module")
def bad_runs(run, tmp_path_factory):
    rd, cfg, _ = run
    base = tmp_path_factory.mktemp("bad")
    empty = run_dir.create(base / "no_checkpoints", ENV)
    run_dir.save_config(empty, cfg, {"env": ENV})
    corrupt = base / "corrupt"
    shutil.copytree(rd.root, corrupt)
    for step in STEPS:
        for f in (corrupt / "checkpoints" / str(step) / "policy").rglob("*"):
            if f.is_file() and f.stat().st_size > 0:
                f.write_bytes(b"\x00garbage" * 8)
    unknown, _, _ = make_run(base / "unknown_env", env_name="cartpole", steps=(100,))
    return {
        "empty": empty.root,
        "corrupt": corrupt,
        "unknown": unknown.root,
        "missing": base / "nope",
        "file": rd.config_path,
    }


BAD_INPUTS = {
    "missing run dir": (["{missing}"], "does not exist"),
    "a file": (["{file}"], "is a file"),
    "no checkpoints": (["{empty}"], "no checkpoints"),
    "corrupt checkpoint": (["{corrupt}"], "unreadable"),
    "unknown env": (["{unknown}"], "cartpole"),
    "seed index out of range": (["{good}", "--seed-index", "2"], "out of range"),
    "bad seed index": (["{good}", "--seed-index", "first"], "--seed-index"),
    "unknown step": (["{good}", "--checkpoint", "7"], "no checkpoint at step 7"),
    "bad checkpoint": (["{good}", "--checkpoint", "newest"], "--checkpoint"),
    "zero episodes": (["{good}", "--episodes", "0"], "--episodes=0"),
    "non-integer episodes": (["{good}", "--episodes", "ten"], "--episodes"),
    "video not mp4": (["{good}", "--video", "out.gif"], ".mp4"),
    "unknown flag": (["{good}", "--fast"], "unrecognized"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line(case, run, bad_runs, capsys):
    argv, expected = BAD_INPUTS[case]
    paths = {**bad_runs, "good": run[0].root}
    code, out, err = _main([a.format(**paths) for a in argv], capsys)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: ") and expected in err, err
    assert "Traceback" not in err


def test_no_renderer_exits_2(run, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("MUJOCO_GL", "nonsense")
    code, out, err = _main([run[0].root, "--video", tmp_path / "v.mp4"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "MUJOCO_GL=egl" in err and "osmesa" in err


def test_time_limit_defaults_to_the_runs_episode_length(run, capsys):
    code, out, err = _main(
        [run[0].root, "--seed-index", 1, "--episodes", 2, "--no-mjx", "--json"], capsys
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["max_episode_steps"] == EPISODE_LENGTH
    assert doc["seeds"][0]["gym_lengths"] == [EPISODE_LENGTH] * 2  # the controller balances


def test_sweep_dir_evaluates_every_variant(run, tmp_path, capsys):
    sweep = tmp_path / "sweep"
    for name in ("tau=0.1", "tau=0.2"):
        shutil.copytree(run[0].root, sweep / name, ignore=shutil.ignore_patterns("evaluations"))
    argv = [sweep, "--episodes", 1, "--max-episode-steps", 20, "--no-mjx"]
    code, out, err = _main([*argv, "--json"], capsys)
    assert code == 0, err
    docs = json.loads(out)
    assert [d["label"] for d in docs] == ["tau=0.1", "tau=0.2"]
    assert all([s["seed_index"] for s in d["seeds"]] == [0, 1] for d in docs)
    for name in ("tau=0.1", "tau=0.2"):  # each variant keeps its own record
        assert len(list((sweep / name / "evaluations").glob("*.json"))) == 1
    code, out, err = _main(argv, capsys)
    assert code == 0, err
    header, columns, *rows = out.splitlines()
    assert "2 variants" in header and columns.split()[:3] == ["variant", "step", "seeds"]
    assert [r.split()[:3] for r in rows] == [["tau=0.1", "1000", "2"], ["tau=0.2", "1000", "2"]]
    code, out, err = _main([*argv, "--video", tmp_path / "v.mp4"], capsys)
    assert code == 2 and err.startswith("error: --video takes one run dir")


def test_gap_is_absolute_near_zero_and_relative_otherwise():
    near_zero = {"gym_mean": -10.0, "mjx_mean": -10.3}
    near_zero["gap"] = evaluate.relative_gap(near_zero["mjx_mean"], near_zero["gym_mean"])
    assert evaluate.format_gap(near_zero) == "-0.30"  # not "-3.00%"
    large = {"gym_mean": 1000.0, "mjx_mean": 990.0, "gap": -0.01}
    assert evaluate.format_gap(large) == "-1.00%"


def _one_seed_result(gym_id: str, **extra) -> dict:
    """A one-seed `evaluate` result as the API returns it, for the table's tests."""
    row = {"seed_index": 0, "gym_mean": 5.0, "gym_std": 1.0, "gym_length_mean": 9.0, **extra}
    return {
        "gym_id": gym_id,
        "checkpoint_step": 100,
        "episode_seeds": [0, 1],
        "max_episode_steps": 1000,
        "seeds": [row],
        **row,
    }


def test_table_from_the_api_has_no_empty_parentheses():
    result = _one_seed_result("Hopper-v5")
    assert (
        evaluate.format_table(result)
        .splitlines()[0]
        .startswith("Hopper-v5, checkpoint step 100, 2 episode(s)")
    )
    assert "(best)" in evaluate.format_table({**result, "checkpoint": "best"})


def _probe_fails(monkeypatch, working=()):
    """Probes report a missing library for every renderer not in `working`."""
    calls = []

    def probe(gl):
        calls.append(gl)
        return None if gl in working else "AttributeError: 'NoneType' object has no attribute"

    monkeypatch.setattr(video, "_probe_in_subprocess", probe)
    monkeypatch.setattr(video, "_find_library", lambda name: None)
    return calls


def test_osmesa_missing_exits_2_naming_the_package(run, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MUJOCO_GL", "osmesa")
    calls = _probe_fails(monkeypatch)
    code, out, err = _main([run[0].root, "--video", tmp_path / "v.mp4"], capsys)
    assert code == 2 and out == "" and calls == ["osmesa"]
    assert len(err.strip().splitlines()) == 1, err
    assert "libOSMesa not found" in err and "apt-get install libosmesa6" in err, err
    assert not (tmp_path / "v.mp4").exists()


def test_unset_mujoco_gl_tries_egl_then_osmesa(monkeypatch):
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    calls = _probe_fails(monkeypatch, working=("osmesa",))
    assert video.choose_renderer() == "osmesa" and calls == ["egl", "osmesa"]
    assert os.environ["MUJOCO_GL"] == "osmesa"
    monkeypatch.delenv("MUJOCO_GL")
    _probe_fails(monkeypatch)
    with pytest.raises(evaluate.UsageError, match="egl: libEGL not found; osmesa: libOSMesa"):
        video.choose_renderer()


def test_forward_distance_is_reported_for_walking_tasks_only():
    # Ant standing still scores ~1000, so the table shows how far each episode went.
    import types

    import gymnasium

    from ddpg_jax import episodes

    push = types.SimpleNamespace(gym_id="Hopper-v5", act=lambda obs: np.full(3, 0.5, np.float32))
    out = episodes.run_gym_episodes(push, [3], 50)
    env = gymnasium.make("Hopper-v5", max_episode_steps=50)
    env.reset(seed=3)
    start = float(env.unwrapped.data.qpos[0])
    done, info = False, {}
    while not done:
        _, _, terminated, truncated, info = env.step(np.full(3, 0.5, np.float32))
        done = terminated or truncated
    assert out["distances"].tolist() == [info["x_position"] - start]
    assert out["distances"][0] != 0.0

    still = types.SimpleNamespace(gym_id="InvertedPendulum-v5", act=lambda obs: np.zeros(1))
    assert "distances" not in episodes.run_gym_episodes(still, [0], 20)

    result = _one_seed_result("Ant-v5", **evaluate._distance_stats(np.array([2.0, 4.0])))
    table = evaluate.format_table(result)
    assert "forward x" in table.splitlines()[1] and "3.0 ± 1.0" in table
