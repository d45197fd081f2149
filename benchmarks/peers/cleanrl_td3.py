"""CleanRL's TD3 (`td3_continuous_action_jax.py` of cleanrl 1.2.0, the registry's release), run
unmodified at its own defaults, with snapshots and a wall-clock budget.

    $PEER_VENVS/cleanrl/bin/python benchmarks/peers/cleanrl_td3.py --task hopper --seed 0 --out DIR

The JAX variant runs on the current jax (0.10) and flax: its update code uses nothing they
removed. What does not run as shipped is its environment API (gym 0.23, whose MuJoCo tasks stop
at v4), so gym_compat.py gives it gym 0.23's API over Gymnasium's v5 tasks; the script itself
is executed as it is installed (`runpy`), as `__main__`, with these arguments only:
`--env-id <Task>-v5 --seed S --total-timesteps N` (and `--learning-starts` in smoke tests).

Settings: the script's argparse defaults, which are CleanRL's published TD3 settings for every
MuJoCo task (its benchmark runs pass only the env id and seed): learning rate 3e-4, buffer 1e6,
gamma 0.99, tau 0.005, policy noise 0.2, noise clip 0.5, exploration noise 0.1, batch 256,
learning starts 25k, policy delay 2, [256, 256] nets, 1M steps. The values it ran with are read
back from the script's `args` into run.json.

A snapshot is the actor's parameters (flax msgpack) with its action scale and bias, taken from
the script's globals between two of its env steps (`gym_compat.on_step`); the budget ends it
there by an exception the driver catches. The script's TensorBoard files go to the run dir.
"""

from __future__ import annotations

import os
import pathlib
import runpy

import common
import gym_compat

LIBRARY = "cleanrl-td3"
SCRIPT = "cleanrl.td3_continuous_action_jax"
TOTAL_STEPS = 1_000_000
"""The script's `--total-timesteps` default."""


class BudgetSpent(Exception):
    """Raised from the env step once the wall-clock budget is spent."""


def script_path() -> str:
    """The installed CleanRL TD3 JAX script."""
    import importlib.util

    spec = importlib.util.find_spec(SCRIPT)
    if spec is None or spec.origin is None:
        raise SystemExit(f"{SCRIPT} is not installed here: run benchmarks/peers/install.sh")
    return spec.origin


def _saver(scope: dict):
    """`save(path)`: the actor's parameters, action scale and bias, from the script's globals."""

    def save(path: pathlib.Path) -> None:
        import jax
        import numpy as np
        from flax import serialization

        actor = scope["actor"]
        doc = {
            "params": jax.device_get(scope["actor_state"].params),
            "action_dim": int(actor.action_dim),
            "action_scale": np.asarray(actor.action_scale),
            "action_bias": np.asarray(actor.action_bias),
        }
        path.write_bytes(serialization.msgpack_serialize(doc))

    return save


def main() -> None:
    import sys

    args = common.parser(__doc__.splitlines()[0]).parse_args()
    args.out = str(pathlib.Path(args.out).resolve())
    path = script_path()
    gym_compat.install()
    steps = args.steps or TOTAL_STEPS
    argv = ["--env-id", common.gym_id(args.task), "--seed", str(args.seed)]
    argv += ["--total-timesteps", str(steps)]
    if args.learning_starts is not None:
        argv += ["--learning-starts", str(args.learning_starts)]
    run = common.Run(args, LIBRARY, {}, f"the argparse defaults of cleanrl 1.2.0 {SCRIPT}.py")
    run.note(script=path, script_argv=argv)
    seen: dict = {}

    def on_step(env_steps: int, scope: dict) -> None:
        if not seen:  # the first step: the script has parsed its arguments
            seen.update(scope)
            run.note(settings=vars(scope["args"]))
        if run.due(env_steps):
            run.snapshot(env_steps, _saver(scope), "msgpack")
        if run.over_budget():
            seen["env_steps"] = env_steps
            raise BudgetSpent

    gym_compat.on_step = on_step
    os.chdir(args.out)  # the script writes runs/<name>/ (TensorBoard) under the working dir
    sys.argv = [path, *argv]
    try:
        scope = runpy.run_path(path, run_name="__main__")
        env_steps = scope["envs"].steps
    except BudgetSpent:
        scope, env_steps = seen, seen["env_steps"]
    if run.last_snapshot != env_steps:
        run.snapshot(env_steps, _saver(scope), "msgpack", final=True)
    run.finish(env_steps)


def load_policy(path: str):
    """`act(obs) -> action` of a snapshot: CleanRL's own `Actor` module with the saved
    parameters (deterministic: no exploration noise)."""
    import importlib

    import jax
    import jax.numpy as jnp
    import numpy as np
    from flax import serialization

    gym_compat.install()
    actor_cls = importlib.import_module(SCRIPT).Actor
    doc = serialization.msgpack_restore(pathlib.Path(path).read_bytes())
    actor = actor_cls(
        action_dim=int(doc["action_dim"]),
        action_scale=jnp.asarray(doc["action_scale"]),
        action_bias=jnp.asarray(doc["action_bias"]),
    )
    apply = jax.jit(actor.apply)
    params = doc["params"]
    return lambda obs: np.asarray(apply(params, np.asarray(obs, np.float32)[None]))[0]


if __name__ == "__main__":
    main()
