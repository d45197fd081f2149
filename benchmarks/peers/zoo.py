"""Training an SB3-API algorithm (Stable-Baselines3 or SBX) at RL Zoo's settings, with a snapshot
every `--snapshot-every` env steps and a stop at the wall-clock budget, through SB3's public
callback API. Used by sb3_td3.py, sbx_td3.py and sbx_sac.py.

The settings are RL Zoo's (rl-zoo3 2.9.2, `rl_zoo3/hyperparams/td3.yml` and `sac.yml`): one
block, anchored `&mujoco-defaults` at `HalfCheetah-v4` and merged unchanged into `Ant-v4`,
`Hopper-v4` and `Walker2d-v4`. The zoo lists the v4 tasks only; v5 has the same robots, so the
same block is what a zoo user gets for v5. Anything the block does not set is the library's
own default, as in the zoo.
"""

from __future__ import annotations

import argparse
import copy
from typing import Any

import common

TOTAL_STEPS = 1_000_000
"""`n_timesteps: !!float 1e6` in both files' MuJoCo block."""

TD3_ZOO = {
    "learning_starts": 10_000,
    "noise_type": "normal",
    "noise_std": 0.1,
    "train_freq": 1,
    "gradient_steps": 1,
    "learning_rate": 1e-3,
    "batch_size": 256,
    "policy_kwargs": {"net_arch": [400, 300]},
}
"""td3.yml, `HalfCheetah-v4: &mujoco-defaults` (policy 'MlpPolicy')."""

SAC_ZOO = {"learning_starts": 10_000}
"""sac.yml, `HalfCheetah-v4: &mujoco-defaults` (policy 'MlpPolicy'; the rest are defaults)."""

SOURCE = (
    "RL Zoo (rl-zoo3 2.9.2) hyperparams/{file}, the '&mujoco-defaults' block shared by "
    "HalfCheetah-v4, Ant-v4, Hopper-v4 and Walker2d-v4"
)


def algorithm_kwargs(zoo: dict[str, Any], action_dim: int) -> dict[str, Any]:
    """The zoo block as constructor arguments: `noise_type`/`noise_std` become the action noise
    object the zoo builds from them (`NormalActionNoise`, sigma = std on every action)."""
    import numpy as np
    from stable_baselines3.common.noise import NormalActionNoise

    # a copy: SBX adds its own keys to policy_kwargs, which must not reach the run's record
    kwargs = copy.deepcopy({k: v for k, v in zoo.items() if k not in ("noise_type", "noise_std")})
    if "noise_type" in zoo:
        assert zoo["noise_type"] == "normal", zoo["noise_type"]
        kwargs["action_noise"] = NormalActionNoise(
            mean=np.zeros(action_dim), sigma=zoo["noise_std"] * np.ones(action_dim)
        )
    return kwargs


def train(args: argparse.Namespace, library: str, algo: type, zoo: dict, file: str) -> None:
    """Trains `algo` ('MlpPolicy', the zoo block) on the task until the step limit or the
    budget, saving `model.save` zips as snapshots."""
    import gymnasium
    from stable_baselines3.common.callbacks import BaseCallback

    zoo = dict(zoo)
    if args.learning_starts is not None:
        zoo["learning_starts"] = args.learning_starts
    steps = args.steps or TOTAL_STEPS
    run = common.Run(args, library, {**zoo, "n_timesteps": steps}, SOURCE.format(file=file))
    env = gymnasium.make(common.gym_id(args.task))
    kwargs = algorithm_kwargs(zoo, env.action_space.shape[0])
    model = algo("MlpPolicy", env, seed=args.seed, verbose=0, **kwargs)
    run.note(effective_settings=effective_settings(model))

    class Snapshots(BaseCallback):
        """Snapshot when due; stop (return False) once the budget is spent."""

        def _on_step(self) -> bool:
            if run.due(self.num_timesteps):
                run.snapshot(self.num_timesteps, self.model.save, "zip")
            return not run.over_budget()

    model.learn(total_timesteps=steps, callback=Snapshots())
    if run.last_snapshot != model.num_timesteps:
        run.snapshot(model.num_timesteps, model.save, "zip", final=True)
    run.finish(model.num_timesteps)


EFFECTIVE = (
    "learning_rate",
    "buffer_size",
    "learning_starts",
    "batch_size",
    "tau",
    "gamma",
    "train_freq",
    "gradient_steps",
    "policy_kwargs",
    "action_noise",
    "policy_delay",
    "target_policy_noise",
    "target_noise_clip",
    "ent_coef",
    "target_entropy",
    "target_update_interval",
)
"""Attributes of an SB3-API model that make up its training settings (the zoo's plus the
library's defaults), recorded so that a run says what it ran with."""


def effective_settings(model: Any) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, bool | int | float | str) or value is None:
            return value
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return repr(value)

    return {name: plain(getattr(model, name)) for name in EFFECTIVE if hasattr(model, name)}


def loader(algo: type):
    """`load_policy(path) -> act(obs) -> action`: the saved model's deterministic action."""

    def load_policy(path: str):
        model = algo.load(path, device="cpu")
        return lambda obs: model.predict(obs, deterministic=True)[0]

    return load_policy
