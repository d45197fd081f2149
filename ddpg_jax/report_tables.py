"""Markdown tables of run summaries (`report_runs.summarize`): one row per run beside the
reference study's numbers, or one row per variant of a sweep."""

from __future__ import annotations

from typing import Any

from ddpg_jax.formatting import env_steps, mean_std, wall_clock

REFERENCE_STUDY = {
    "halfcheetah": (3328, 4053),
    "inverted_double_pendulum": (5295, 9329),
    "hopper": (1220, 1642),
    "inverted_pendulum": (631, 1000),
    "walker2d": (907, 1046),
    "ant": (727, 850),
}
"""The reference study's (mean test reward, final test reward), 5 seeds, Gymnasium v5
(docs/reference_study.md)."""

BEST_PUBLISHED_DDPG_1M = {
    "halfcheetah": 11719,
    "hopper": 2197,
    "walker2d": 3098,
    "ant": 990,
    "inverted_pendulum": 1000,
    "inverted_double_pendulum": 8370,
}
"""The best DDPG return at 1M env steps among the public sources in docs/reference_study.md."""

TASK_ORDER = tuple(REFERENCE_STUDY)


def gym_id(env: str | None) -> str:
    """The Gymnasium id of a task (`Hopper-v5`), or the name itself if it is no task."""
    # The task registry imports MuJoCo and MJX: only tables that name a task pay for it.
    from ddpg_jax.envs.registry import GYM_IDS

    return GYM_IDS.get(env, str(env))


def _gym_cell(evaluation: dict[str, Any] | None) -> str:
    if evaluation is None:
        return "not evaluated (run `python -m ddpg_jax.evaluate RUN --seed-index all`)"
    return (
        f"**{mean_std(evaluation['gym_mean'], evaluation['gym_std'])}** "
        f"({len(evaluation['seeds'])} seed(s) x {len(evaluation['episode_seeds'])} episodes, "
        f"step {env_steps(evaluation['checkpoint_step'], evaluation.get('checkpoint_step_max'))})"
    )


def _target_cell(s: dict[str, Any]) -> str:
    reached = s.get("time_to_target")
    if reached is None:
        return "—"
    if "env_step" in reached:
        return f"{wall_clock(reached['wall_s'])}, {env_steps(reached['env_step'])} steps"
    best = reached["best"]
    return "not reached" + ("" if best is None else f" (best {best:.0f})")


def _target_header(target: float | None) -> tuple[str, str]:
    """The `--target` column's header and separator (empty without a target)."""
    if target is None:
        return "", ""
    return f" time to eval return {target:g} (mean over seeds) |", "---|"


def results_table(summaries: list[dict[str, Any]], target: float | None = None) -> str:
    """The reference study's table format: one row per run, ordered by task. Rows of different sweep
    variants get a variant column, or they would read as identical runs."""
    rows = sorted(
        summaries,
        key=lambda s: (TASK_ORDER.index(s["env"]) if s["env"] in TASK_ORDER else 99, s["label"]),
    )
    variants = len({s.get("variant") for s in rows}) > 1
    extra_head, extra_rule = _target_header(target)
    lines = [
        f"| task |{' variant |' if variants else ''} Gymnasium return, mean ± std over seeds "
        "| seeds | env steps per seed | wall-clock (device) | reference study (mean test / final) "
        f"| best published DDPG at 1M |{extra_head}",
        f"|---|{'---|' if variants else ''}---|---|---|---|---|---|{extra_rule}",
    ]
    for s in rows:
        test, final = REFERENCE_STUDY.get(s["env"], ("?", "?"))
        variant = f" {s.get('variant') or '—'} |" if variants else ""
        lines.append(
            f"| {gym_id(s['env'])} |{variant} {_gym_cell(s['evaluation'])} | {s['num_seeds']} "
            f"| {env_steps(s['env_steps'], s.get('env_steps_max'))} "
            f"| {wall_clock(s['wall_s'], s.get('wall_s_max'))} ({s['where']}) "
            f"| {test} / {final} | {BEST_PUBLISHED_DDPG_1M.get(s['env'], '?')} |"
            + (f" {_target_cell(s)} |" if target is not None else "")
        )
    return "\n".join(lines)


def study_table(summaries: list[dict[str, Any]], target: float | None = None) -> str:
    """One row per variant: Gymnasium score and the training loop's eval curve. The last
    training eval names its env step when the run went on after it."""
    extra_head, extra_rule = _target_header(target)
    lines = [
        "| variant | Gymnasium return, mean ± std over seeds | training eval at the end "
        "| best training eval (mean of per-seed best) | mean training eval over the run "
        f"| seeds | env steps per seed | wall-clock |{extra_head}",
        f"|---|---|---|---|---|---|---|---|{extra_rule}",
    ]
    for s in summaries:
        evaluation = s["evaluation"]
        gym = "—" if evaluation is None else mean_std(evaluation["gym_mean"], evaluation["gym_std"])
        final = (
            mean_std(s["eval_final_mean"], s["eval_final_std"]) if "eval_final_mean" in s else "—"
        )
        if s.get("eval_final_step", s["env_steps"]) != s["env_steps"]:
            final += f" (at {env_steps(s['eval_final_step'])})"
        best = f"{s['eval_best_mean']:.0f}" if "eval_best_mean" in s else "—"
        curve = f"{s['eval_curve_mean']:.0f}" if "eval_curve_mean" in s else "—"
        lines.append(
            f"| {s['label']} | {gym} | {final} | {best} | {curve} | {s['num_seeds']} "
            f"| {env_steps(s['env_steps'])} | {wall_clock(s['wall_s'])} |"
            + (f" {_target_cell(s)} |" if target is not None else "")
        )
    return "\n".join(lines)
