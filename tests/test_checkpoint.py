"""Orbax checkpoint store: round trips (typed keys, seed axis), retention, errors."""

from __future__ import annotations

import errno
import logging
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from ddpg_jax import normalizer, run_dir
from ddpg_jax.agent import Policy
from ddpg_jax.checkpoint import CHECKSUM_FILE, CheckpointError, CheckpointStore

NUM_SEEDS = 3


@struct.dataclass
class Carry:
    """A stand-in for the training carry: nested structs, typed keys, ints, a dropped field."""

    policy: Policy
    critic: dict
    key: jax.Array  # [num_seeds] typed keys
    step: jax.Array  # [num_seeds] int32
    buffer: object = None


def _policy(offset: float) -> Policy:
    def one(i):
        return Policy(
            actor_params={"params": {"Dense_0": {"kernel": jnp.full((4, 2), offset + i)}}},
            normalizer=normalizer.init(4),
            action_scale=jnp.full((2,), 0.5),
            action_bias=jnp.zeros((2,)),
        )

    return jax.vmap(one)(jnp.arange(NUM_SEEDS, dtype=jnp.float32))


def _carry(offset: float) -> Carry:
    keys = jax.random.split(jax.random.key(int(offset)), NUM_SEEDS)
    return Carry(
        policy=_policy(offset),
        critic={"w": jnp.arange(NUM_SEEDS * 5, dtype=jnp.float32).reshape(NUM_SEEDS, 5) + offset},
        key=keys,
        step=jnp.full((NUM_SEEDS,), int(offset), jnp.int32),
    )


def _assert_trees_equal(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.fixture
def rd(tmp_path):
    return run_dir.create(tmp_path / "run", "hopper")


def test_round_trip_typed_keys_and_seed_axis(rd):
    carry = _carry(7.0)
    with CheckpointStore(rd, keep_last=2) as store:
        store.save(
            100,
            carry.policy,
            carry,
            eval_returns=[1.0, np.nan, 3.0],
            meta={"env": "hopper", "config": {"tau": 0.005}},
        )
    store = CheckpointStore(rd)  # a fresh process would do this
    assert store.all_steps() == [100] and store.latest_step() == 100
    # Abstract target, as from jax.eval_shape in the training CLI.
    restored = store.restore_train("latest", jax.eval_shape(lambda: _carry(0.0)))
    _assert_trees_equal(restored, carry)
    assert isinstance(restored, Carry) and isinstance(
        restored.policy.normalizer, normalizer.NormalizerState
    )
    # The keys still work as keys.
    np.testing.assert_array_equal(
        jax.random.key_data(jax.random.split(restored.key[0])),
        jax.random.key_data(jax.random.split(carry.key[0])),
    )
    # Concrete target works too.
    _assert_trees_equal(store.restore_train(100, _carry(0.0)), carry)
    store.close()


def test_restore_policy_without_train_structure(rd):
    carry = _carry(2.0)
    with CheckpointStore(rd) as store:
        store.save(
            5, carry.policy, None, eval_returns=np.array([1.0, 2.0, np.nan]), meta={"env": "hopper"}
        )
    store = CheckpointStore(rd, read_only=True)
    policy, meta = store.restore_policy("latest")
    _assert_trees_equal(policy, carry.policy)
    assert policy.action_scale.shape == (NUM_SEEDS, 2)
    assert meta["env_step"] == 5 and meta["env"] == "hopper" and meta["format_version"] == 1
    assert meta["eval_return_mean"] == 1.5 and meta["eval_returns"] == [1.0, 2.0, None]
    with pytest.raises(CheckpointError, match="no train state"):
        store.restore_train(5, carry)


def test_keep_last_k_and_best(rd):
    returns = {10: 5.0, 20: 9.0, 30: 1.0, 40: None, 50: 2.0, 60: 3.0}
    with CheckpointStore(rd, keep_last=2) as store:
        for step, ret in returns.items():
            p = _policy(float(step))
            store.save(step, p, None, eval_returns=None if ret is None else [ret] * NUM_SEEDS)
        store.wait()
        assert store.all_steps() == [20, 50, 60]  # best (20) survives though older than last 2
        assert store.best_step() == 20 and store.latest_step() == 60
    store = CheckpointStore(rd, read_only=True)
    policy, meta = store.restore_policy("best")
    assert meta["env_step"] == 20
    _assert_trees_equal(policy, _policy(20.0))

    with CheckpointStore(tmp := rd.root / "plain", keep_last=2, keep_best=False) as s2:
        for step, ret in returns.items():
            s2.save(step, _policy(0.0), None, eval_returns=None if ret is None else [ret])
        s2.wait()
        assert s2.all_steps() == [50, 60]
    assert tmp.is_dir()


def test_errors(rd):
    store = CheckpointStore(rd)
    with pytest.raises(CheckpointError, match="no checkpoints"):
        store.restore_policy()
    store.save(1, _policy(0.0), None)  # no eval return
    store.wait()
    with pytest.raises(CheckpointError, match="finite eval return"):
        store.resolve("best")
    with pytest.raises(CheckpointError, match="no checkpoint at step 2 .* available steps: 1"):
        store.restore_policy(2)
    with pytest.raises(CheckpointError, match="already exists"):
        store.save(1, _policy(0.0), None)
    store.close()
    with pytest.raises(CheckpointError, match="no checkpoint directory"):
        CheckpointStore(rd.root / "missing", read_only=True)


# Restoring garbage makes a tensorstore callback hit orbax's closed asyncio loop afterwards.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_half_written_is_ignored_and_corrupt_is_an_error(rd):
    carry = _carry(1.0)
    with CheckpointStore(rd) as store:
        store.save(10, carry.policy, carry, eval_returns=[1.0] * NUM_SEEDS)
        store.save(20, carry.policy, carry, eval_returns=[2.0] * NUM_SEEDS)
    # A crash during a save leaves only orbax's temporary directory: never listed.
    tmp = rd.checkpoints_dir / "30.orbax-checkpoint-tmp-123456"
    (tmp / "policy").mkdir(parents=True)
    (tmp / "policy" / "manifest.ocdbt").write_bytes(b"\0" * 10)
    # A step directory that orbax did not finalize (no commit_success.txt) is not listed either.
    (rd.checkpoints_dir / "40" / "policy").mkdir(parents=True)
    store = CheckpointStore(rd, read_only=True)
    assert store.latest_step() == 20 and store.all_steps() == [10, 20]
    # Garbage in a finished step's array files: restoring it is a CheckpointError.
    for item in ("policy", "train"):
        for f in (rd.checkpoints_dir / "20" / item).rglob("*"):
            if f.is_file() and f.name != "_METADATA":
                f.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="step 20 .* unreadable.*try another step \\(10\\)"):
        store.restore_policy(20)
    with pytest.raises(CheckpointError, match="step 20 .* unreadable"):
        store.restore_train(20, carry)
    _assert_trees_equal(store.restore_train(10, carry), carry)  # the other step is intact
    # Truncated metadata files too.
    for f in (rd.checkpoints_dir / "10").rglob("*METADATA*"):
        f.write_bytes(f.read_bytes()[:5])
    with pytest.raises(CheckpointError, match="step 10"):
        CheckpointStore(rd, read_only=True).restore_policy(10)


def test_real_train_state_round_trip_gives_same_action(rd):
    """agent.TrainState (optax states with empty nodes, typed key) for 2 vmapped seeds."""
    from ddpg_jax import agent
    from ddpg_jax.config import Config

    cfg = Config(hidden_dim=8, batch_size=4, buffer_size=16, num_seeds=2, twin_critics=True)
    keys = jax.random.split(jax.random.key(0), 2)
    # The real structure from eval_shape, filled with random values: running agent.init
    # eagerly or jitted costs 10+ s of compiles on 2 cores, eval_shape well under one.
    abstract = jax.eval_shape(jax.vmap(lambda k: agent.init(cfg, 3, 2, k)), keys)
    rng = np.random.default_rng(0)

    def fill(x):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.split(jax.random.key(1), x.shape)
        return jnp.asarray(rng.uniform(0.1, 1.0, size=x.shape).astype(x.dtype))

    ts = jax.tree.map(fill, abstract)
    with CheckpointStore(rd) as store:
        store.save(1, Policy.from_train_state(ts), ts, meta={"config": cfg.to_dict()})
    store = CheckpointStore(rd, read_only=True)
    restored = store.restore_train(1, jax.eval_shape(lambda: ts))
    _assert_trees_equal(restored, ts)
    policy, meta = store.restore_policy(1)
    assert Config.from_dict(meta["config"]) == cfg
    obs = jnp.linspace(-1, 1, 2 * 5 * 3).reshape(2, 5, 3)
    act = jax.vmap(lambda t, o: agent.act(cfg, t, o))
    expected = act(ts, obs)
    np.testing.assert_array_equal(act(restored, obs), expected)
    from_policy = ts.replace(
        actor_params=policy.actor_params,
        normalizer=policy.normalizer,
        action_scale=policy.action_scale,
        action_bias=policy.action_bias,
    )
    np.testing.assert_array_equal(act(from_policy, obs), expected)


def test_zero_size_leaves_and_dropped_subtrees_round_trip(rd):
    # MJX data has zero-size arrays (e.g. `act` of a model without activations), which orbax
    # refuses to write; a train item saved without its replay buffer has a None subtree.
    train = {"act": jnp.zeros((3, 0)), "qpos": jnp.arange(6.0).reshape(3, 2), "buffer": None}
    with CheckpointStore(rd) as store:
        store.save(5, _policy(1.0), train)
    with CheckpointStore(rd) as store:
        restored = store.restore_train(5, jax.eval_shape(lambda: train))
    assert restored["act"].shape == (3, 0) and restored["buffer"] is None
    np.testing.assert_array_equal(restored["qpos"], train["qpos"])


# --- integrity: checksums, disk full, quiet logs ---


def _two_steps(rd, **kwargs):
    carry = _carry(1.0)
    with CheckpointStore(rd, **kwargs) as store:
        store.save(10, carry.policy, carry, eval_returns=[1.0] * NUM_SEEDS)
        store.save(20, carry.policy, carry, eval_returns=[2.0] * NUM_SEEDS)
        # orbax waits for step 10 inside the second save, so its checksums exist already
        assert (rd.checkpoints_dir / "10" / CHECKSUM_FILE).is_file()
    return carry


def _largest_array_file(step_dir):
    return max(
        (f for f in step_dir.rglob("ocdbt.process_0/d/*") if f.is_file()),
        key=lambda f: f.stat().st_size,
    )


def test_flipped_bytes_are_caught_and_latest_good_step_falls_back(rd):
    carry = _two_steps(rd)
    store = CheckpointStore(rd, read_only=True)
    assert store.verify(10) is None and store.verify(20) is None
    victim = _largest_array_file(rd.checkpoints_dir / "20" / "train")
    data = bytearray(victim.read_bytes())
    data[-60:-20] = bytes(b ^ 0xFF for b in data[-60:-20])  # 40 bytes flipped
    victim.write_bytes(bytes(data))
    reason = store.verify(20)
    assert reason is not None and victim.name in reason and "checksum" in reason
    bad = r"step 20 .* unreadable: file train/.*\(checksum mismatch\); try another step \(10\)"
    with pytest.raises(CheckpointError, match=bad) as err:
        store.restore_train(20, carry)
    assert "evaluate --checkpoint STEP" in str(err.value) and "--resume" in str(err.value)
    with pytest.raises(CheckpointError, match=bad):
        store.restore_policy(20)  # the whole step is suspect, not only the item that changed
    assert store.latest_good_step() == (10, [(20, reason)])
    _assert_trees_equal(store.restore_train(10, carry), carry)
    # Nothing good left: the message says so instead of listing steps.
    (rd.checkpoints_dir / "10" / CHECKSUM_FILE).write_text("{not json")
    assert store.latest_good_step() == (
        None,
        [(20, reason), (10, f"its {CHECKSUM_FILE} is unreadable")],
    )
    with pytest.raises(CheckpointError, match="no other checkpoint is good; retrain"):
        store.restore_policy(20)


def test_checkpoint_without_checksums_is_accepted_as_unverified(rd):
    # Saved before checksums existed, or the process died between finalising and checksumming.
    carry = _two_steps(rd, async_save=False)
    (rd.checkpoints_dir / "20" / CHECKSUM_FILE).unlink()
    store = CheckpointStore(rd, read_only=True)
    assert store.verify(20) is None and store.latest_good_step() == (20, [])
    _assert_trees_equal(store.restore_train(20, carry), carry)


# Orbax's aborted writes leave an asyncio callback that hits a closed loop (pytest reports it).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_disk_full_during_a_save_is_one_line_naming_the_step(rd, monkeypatch, caplog):
    from orbax.checkpoint._src.path import async_path

    carry = _carry(1.0)
    store = CheckpointStore(rd)
    store.save(10, carry.policy, carry)
    store.wait()

    async def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    # Orbax finalises in a background thread: the error surfaces at the next wait.
    monkeypatch.setattr(async_path, "write_text", full)
    store.save(20, carry.policy, carry)
    with pytest.raises(CheckpointError) as err:
        store.close()
    message = str(err.value)
    assert message.startswith(
        f"no space left on device while saving checkpoint step 20 to {rd.checkpoints_dir / '20'}"
    )
    assert "\n" not in message and err.value.__suppress_context__
    assert not [r for r in caplog.records if r.exc_info], "orbax logged a traceback"
    monkeypatch.undo()
    store = CheckpointStore(rd, read_only=True)
    assert store.all_steps() == [10] and store.verify(10) is None
    _assert_trees_equal(store.restore_train(10, carry), carry)


def test_no_orbax_noise_for_a_save_without_eval_and_a_read_only_load(rd, caplog):
    caplog.set_level(logging.INFO, logger="absl")
    with CheckpointStore(rd) as store:
        store.save(1, _policy(0.0), None)  # no evaluation: no metric for "best"
        store.save(2, _policy(0.0), None, eval_returns=[1.0] * NUM_SEEDS)
    with CheckpointStore(rd, read_only=True) as store:
        store.restore_policy("latest")
        assert store.best_step() == 2  # "best" still ranks the evaluated step
    noisy = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert noisy == []
    # The filter is narrow: other orbax warnings still reach the user.
    logging.getLogger("absl").warning("something else")
    assert caplog.records[-1].getMessage() == "something else"


RESTORE_TRUNCATED = textwrap.dedent(
    """
    import sys
    import jax
    from ddpg_jax.checkpoint import CheckpointError, CheckpointStore
    store = CheckpointStore(sys.argv[1], read_only=True)
    try:
        store.restore_policy(20)
    except CheckpointError as e:
        print(e, file=sys.stderr)
    store.close()
    store.close()  # twice is fine
    # A writable store opened and closed without a save (as `--resume` on a run without
    # checkpoints does) must not race orbax's cleanup thread into a traceback at exit.
    CheckpointStore(sys.argv[1]).close()
    """
)


def test_truncated_file_gives_one_line_in_a_fresh_process(rd):
    _two_steps(rd)
    victim = _largest_array_file(rd.checkpoints_dir / "20" / "policy")
    victim.write_bytes(victim.read_bytes()[:10])
    proc = subprocess.run(
        [sys.executable, "-c", RESTORE_TRUNCATED, str(rd.checkpoints_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 0 and len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"checkpoint at step 20 in {rd.checkpoints_dir} is unreadable")
    assert "try another step (10): `evaluate --checkpoint STEP`" in lines[0]
    assert "`train --resume` falls back to the newest good checkpoint" in lines[0]
