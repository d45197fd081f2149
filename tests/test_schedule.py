"""The schedule: a run stops at its total (a shorter last chunk), intervals are fixed at the
start and kept by a resume with a larger total."""

from __future__ import annotations

from ddpg_jax import run_setup, settings
from ddpg_jax.config import Config
from ddpg_jax.schedule import make_schedule


def _schedule(cfg: Config, **run):
    return run_setup.schedule_of(cfg, settings.RunOptions(**run))


def test_last_chunk_is_shorter_so_the_run_stops_at_its_total():
    s = _schedule(Config(total_steps=1000, num_envs=1), log_every=300)
    lengths, it = [], 0
    while it < s.total_iterations:
        lengths.append(s.chunk_length(it))
        it += lengths[-1]
    assert lengths == [300, 300, 300, 100] and it * 1 == 1000 == s.total_env_steps


def test_totals_round_up_only_to_whole_vectorised_steps():
    s = _schedule(Config(total_steps=20000, num_envs=2048, buffer_size=100_000), log_every=0)
    assert s.total_env_steps == 20480  # 10 vectorised steps; the run says so at its start
    s = _schedule(Config(total_steps=20480, num_envs=2048, buffer_size=100_000))
    assert s.total_env_steps == 20480


def test_fixed_intervals_keep_the_grid_when_the_total_grows():
    cfg = Config(total_steps=3000, num_envs=2)
    run = run_setup.fix_intervals(cfg, settings.RunOptions(log_every=0, eval_every=0))
    assert (run.log_every, run.eval_every, run.checkpoint_every) == (60, 300, 300)
    longer = make_schedule(
        cfg.replace(total_steps=7000), run.log_every, run.eval_every, run.checkpoint_every
    )
    ends, it = [], 1500  # resumed at env step 3000 = iteration 1500
    while it < longer.total_iterations:
        it += longer.chunk_length(it)
        ends.append(it * cfg.num_envs)
    evals = [step for step in ends if longer.evaluates_at(step)]
    assert evals == [*range(3300, 7000, 300), 7000] and ends[-1] == 7000
