"""The slice of the gym 0.23 API that CleanRL's continuous-action scripts call, over Gymnasium.

CleanRL's last registry release (1.2.0) was written for gym 0.23, which has no v5 MuJoCo tasks
and no MuJoCo bindings current enough for them; Gymnasium 1.x has both but a different API.
`install()` puts this module in `sys.modules["gym"]`, so the script runs unmodified on
Gymnasium's v5 tasks. What gym 0.23 did and this keeps:
- `env.step` returns `(obs, reward, done, info)` with `done = terminated or truncated`, and
  `info["TimeLimit.truncated"] = True` when the time limit ended an episode that did not
  terminate (gym's `TimeLimit`); SB3's ReplayBuffer reads it to keep bootstrapping there.
- `env.seed(s)` seeds the next reset; `env.reset()` returns the observation only.
- `RecordEpisodeStatistics` adds `info["episode"] = {"r", "l", "t"}` at the end of an episode.
- `vector.SyncVectorEnv` auto-resets a finished env at once and puts the true last observation
  in `info["terminal_observation"]`; `infos` is a list of one dict per env.

`on_step`, when set, is called after every vectorised step with the total env steps so far and
the calling frame's globals (the script's, when it steps at module level), so a driver can
snapshot the script's state without editing it.
"""

from __future__ import annotations

import sys
import time
import types
from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import batch_space

on_step: Callable[[int, dict[str, Any]], None] | None = None


class Env:
    """A Gymnasium env behind gym 0.23's `seed/reset/step`."""

    def __init__(self, env: gymnasium.Env):
        self.env = env
        self.action_space = env.action_space
        self.observation_space = env.observation_space
        self._seed: int | None = None

    def seed(self, seed: int | None = None) -> None:
        self._seed = seed

    def reset(self) -> np.ndarray:
        obs, _ = self.env.reset(seed=self._seed)
        self._seed = None  # later resets continue the seeded generator, as gym's did
        return obs

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = dict(info)
        if truncated and not terminated:
            info["TimeLimit.truncated"] = True
        return obs, reward, bool(terminated or truncated), info

    def close(self) -> None:
        self.env.close()


def make(env_id: str, **kwargs: Any) -> Env:
    return Env(gymnasium.make(env_id, **kwargs))


class RecordEpisodeStatistics:
    """gym 0.23's wrapper: the episode's return, length and time in `info["episode"]`."""

    def __init__(self, env: Env):
        self.env = env
        self.action_space = env.action_space
        self.observation_space = env.observation_space
        self._return, self._length, self._t0 = 0.0, 0, time.time()

    def seed(self, seed: int | None = None) -> None:
        self.env.seed(seed)

    def reset(self) -> np.ndarray:
        self._return, self._length = 0.0, 0
        return self.env.reset()

    def step(self, action):
        obs, reward, done, info = self.env.step(action)
        self._return += float(reward)
        self._length += 1
        if done:
            info["episode"] = {
                "r": self._return,
                "l": self._length,
                "t": round(time.time() - self._t0, 6),
            }
        return obs, reward, done, info

    def close(self) -> None:
        self.env.close()


def _no_video(*_args: Any, **_kwargs: Any):
    raise NotImplementedError("video capture is not part of the benchmark")


class SyncVectorEnv:
    """gym 0.23's synchronous vector env: stacked arrays, auto-reset, a list of infos."""

    def __init__(self, env_fns: list[Callable[[], Any]]):
        self.envs = [fn() for fn in env_fns]
        self.num_envs = len(self.envs)
        self.single_observation_space = self.envs[0].observation_space
        self.single_action_space = self.envs[0].action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.steps = 0

    def reset(self) -> np.ndarray:
        return np.stack([env.reset() for env in self.envs])

    def step(self, actions):
        observations, rewards, dones, infos = [], [], [], []
        for env, action in zip(self.envs, actions, strict=True):
            obs, reward, done, info = env.step(action)
            if done:
                info["terminal_observation"] = obs
                obs = env.reset()
            observations.append(obs)
            rewards.append(reward)
            dones.append(done)
            infos.append(info)
        self.steps += self.num_envs
        if on_step is not None:
            on_step(self.steps, sys._getframe(1).f_globals)
        return np.stack(observations), np.array(rewards), np.array(dones), infos

    def close(self) -> None:
        for env in self.envs:
            env.close()


def install() -> types.ModuleType:
    """Makes `import gym` (and `gym.wrappers`, `gym.vector`, `gym.spaces`) give this API."""
    gym = types.ModuleType("gym")
    gym.__version__ = "0.23.1 (adapter over gymnasium " + gymnasium.__version__ + ")"
    gym.make = make
    gym.spaces = spaces
    gym.wrappers = types.SimpleNamespace(
        RecordEpisodeStatistics=RecordEpisodeStatistics, RecordVideo=_no_video
    )
    gym.vector = types.SimpleNamespace(SyncVectorEnv=SyncVectorEnv)
    sys.modules["gym"] = gym
    return gym
