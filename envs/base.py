"""The env `State` and the `Env` base class shared by every JAX port of a Gymnasium v5 task.

A task subclass only implements:
  - `__init__`: its Gymnasium v5 keyword arguments (same names and defaults), then
    `super().__init__(xml_file, frame_skip, reset_noise_scale, impl=impl, ...)`;
  - `_get_obs(data) -> obs`;
  - `_reward_done(data_before, data_after, action) -> (reward, done, metrics)`, with the
    metrics named like Gymnasium's `info` keys;
  - optionally `qvel_noise = "normal"` (reset noise distribution of qvel) or its own
    `sample_init_qpos_qvel(key)`, `post_physics(data)` (e.g. `mjx.rne_postconstraint`), and
    `physics_fields` (derived MjData fields its obs/reward read, for the "mujoco" backend).

Two physics backends, chosen with `backend=`: "mjx" (MJX, `state.data` is an `mjx.Data`)
and "mujoco" (C MuJoCo through `jax.pure_callback`, `state.data` is an `envs.c_backend.CData`
with the same attribute names); "auto" picks "mjx" on a GPU, else "mujoco". Observation,
reward, termination, reset noise and the wrappers are the same code on both.

Everything here is pure and jittable for one env; batch with `jax.vmap` (see `wrappers.py`).
The float precision follows `jax_enable_x64` at construction time: build the env after
setting it (float64 for parity tests, float32 for training).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from flax import struct
from mujoco import mjx

from .c_backend import CData, CPhysics
from .physics import IMPLS, MjxPhysics, PhysicsFn, mjx_step

BACKENDS = ("mjx", "mujoco", "auto")


def resolve_backend(backend: str) -> str:
    """The backend that `backend` names, "mjx" or "mujoco".

    "auto" is "mjx" when JAX's default backend is a GPU (MJX batches thousands of envs
    there in one kernel), else "mujoco" (on a CPU, MJX's generic JAX physics is much slower
    than C MuJoCo and takes tens of seconds to compile; see BENCHMARKS.md). The one place that
    validates a backend name (the CLIs call it too).

    Raises:
      ValueError: `backend` is not one of `BACKENDS` (one line that lists them).
    """
    if backend == "auto":
        return "mjx" if jax.default_backend() == "gpu" else "mujoco"
    if backend not in ("mjx", "mujoco"):
        valid = ", ".join(repr(b) for b in BACKENDS)
        raise ValueError(f"backend must be one of {valid}, got {backend!r}")
    return backend


@struct.dataclass
class State:
    """Environment state for one env (add a leading axis for a batch).

    Attributes:
      data: physics data after the last control step (or reset): `mjx.Data` on the "mjx"
        backend, `envs.c_backend.CData` (same attribute names) on the "mujoco" backend.
      obs: observation, `[observation_size]`.
      reward: scalar reward of the last step (0 after reset).
      done: 1.0 when the task terminated (Gymnasium's `terminated`), never for time limits.
      metrics: reward terms and diagnostics named like Gymnasium's `info` keys (zeros after
        reset).
      info: wrapper bookkeeping (steps, truncation, final_obs, per-env keys, ...).
    """

    data: mjx.Data | CData
    obs: jax.Array
    reward: jax.Array
    done: jax.Array
    metrics: dict[str, jax.Array] = struct.field(default_factory=dict)
    info: dict[str, Any] = struct.field(default_factory=dict)


def gymnasium_assets_dir() -> str:
    """Folder of the MuJoCo XMLs shipped with the installed gymnasium (not imported)."""
    spec = importlib.util.find_spec("gymnasium")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("gymnasium is not installed; it provides the MuJoCo XML assets")
    return os.path.join(spec.submodule_search_locations[0], "envs", "mujoco", "assets")


def resolve_xml(xml_file: str) -> str:
    """Resolves `xml_file` the way Gymnasium's `expand_model_path` does.

    Paths starting with "/" or "." are used as they are, "~" is expanded, and a bare name is
    looked up in gymnasium's `envs/mujoco/assets/`.
    """
    if xml_file.startswith((".", "/")):
        path = xml_file
    elif xml_file.startswith("~"):
        path = os.path.expanduser(xml_file)
    else:
        path = os.path.join(gymnasium_assets_dir(), xml_file)
    if not os.path.exists(path):
        raise OSError(f"File {path} does not exist")
    return path


class Env:
    """Shared machinery of a Gymnasium v5 MuJoCo task on either physics backend.

    Attributes:
      gym_id: the Gymnasium id this env mirrors, e.g. "Hopper-v5" (class attribute).
      physics_fields: derived MjData fields (beyond qpos, qvel, act, ctrl, qacc,
        qacc_warmstart, time) that `_get_obs`/`_reward_done` read; the "mujoco" backend
        copies back only these (class attribute).
      backend: "mjx" or "mujoco" (resolved from the constructor's `backend`).
      mj_model: the C `mujoco.MjModel` loaded from the XML.
      physics: the backend's physics object, `envs.physics.MjxPhysics` or
        `envs.c_backend.CPhysics`: `step`, `forward`, `blank` and `step_and_forward`, the
        one interface the env calls.
      model: the MJX model (`mjx.put_model`); None on the "mujoco" backend.
      dtype: float dtype of the state (float64 when `jax_enable_x64` was on at construction).
      frame_skip: physics substeps per control step.
      dt: control timestep, `opt.timestep * frame_skip`.
      init_qpos, init_qvel: numpy copies of the initial state (`qpos0`, zeros), as
        Gymnasium's `init_qpos` / `init_qvel`.
      action_low, action_high: float32 numpy bounds from `actuator_ctrlrange`, as
        Gymnasium's `action_space`.
    """

    gym_id: ClassVar[str] = ""
    # Distribution of the qvel reset noise: "uniform" in [-scale, scale] or "normal" * scale.
    qvel_noise: ClassVar[str] = "uniform"
    physics_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        xml_file: str,
        frame_skip: int,
        reset_noise_scale: float,
        *,
        impl: str = "jax",
        physics: PhysicsFn = mjx_step,
        backend: str = "mjx",
    ):
        """Loads the XML, builds the MJX model (or the C physics) and caches constants.

        Args:
          xml_file: file name in gymnasium's assets folder, or a path (see `resolve_xml`).
          frame_skip: physics substeps per control step.
          reset_noise_scale: scale of the reset noise on qpos/qvel.
          impl: MJX implementation for `mjx.put_model`: "jax" (default) or "warp" (needs
            warp-lang and a CUDA GPU; otherwise a ValueError says why).
          physics: MJX physics `(model, data, ctrl, frame_skip) -> data`; default `mjx_step`.
          backend: "mjx", "mujoco" (C MuJoCo via `jax.pure_callback`, see
            `envs.c_backend`) or "auto" ("mjx" on a GPU, else "mujoco").
        """
        self.xml_path = resolve_xml(xml_file)
        self.mj_model = mujoco.MjModel.from_xml_path(self.xml_path)
        self.impl = impl
        self.backend = resolve_backend(backend)
        self.frame_skip = int(frame_skip)
        self.dtype = jnp.dtype(jax.dtypes.canonicalize_dtype(jnp.float64))
        self.physics = self._make_physics(impl, physics)
        self.model = self.physics.model
        self.reset_noise_scale = float(reset_noise_scale)
        self.dt = float(self.mj_model.opt.timestep) * self.frame_skip
        self.init_qpos = np.array(self.mj_model.qpos0, dtype=np.float64)
        self.init_qvel = np.zeros(self.mj_model.nv, dtype=np.float64)
        low, high = self.mj_model.actuator_ctrlrange.copy().astype(np.float32).T
        self.action_low, self.action_high = low, high
        self._physics = physics

    def _make_physics(self, impl: str, physics: PhysicsFn) -> MjxPhysics | CPhysics:
        if self.backend == "mjx":
            return MjxPhysics(self.mj_model, self.frame_skip, impl, physics, self.post_physics)
        if impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
        if impl != "jax" or physics is not mjx_step:
            raise ValueError(
                "impl and physics choose MJX physics; backend='mujoco' runs C MuJoCo"
                " (use backend='mjx' with them)"
            )
        return CPhysics(self.mj_model, self.frame_skip, self.physics_fields)

    # ----------------------------------------------------------------------------------
    # Sizes
    @property
    def action_size(self) -> int:
        """Number of actuators (`model.nu`)."""
        return int(self.mj_model.nu)

    @functools.cached_property
    def observation_size(self) -> int:
        """Observation length, from `jax.eval_shape` of `reset` (no compilation)."""
        state = jax.eval_shape(self.reset, jax.random.key(0))
        return int(state.obs.shape[-1])

    # ----------------------------------------------------------------------------------
    # Hooks for task subclasses
    def _get_obs(self, data: mjx.Data) -> jax.Array:
        """Observation of `data` (Gymnasium's `_get_obs`)."""
        raise NotImplementedError

    def _reward_done(
        self, data_before: mjx.Data, data: mjx.Data, action: jax.Array
    ) -> tuple[jax.Array, jax.Array, dict[str, jax.Array]]:
        """Reward, termination (float 0/1) and metrics of one control step."""
        raise NotImplementedError

    def post_physics(self, data: mjx.Data) -> mjx.Data:
        """Runs after the substeps of a control step; identity by default.

        Gymnasium calls `mj_rnePostConstraint` after every step; only tasks that read
        `cfrc_ext` / `cacc` / `cfrc_int` (Ant) need it: override with `mjx.rne_postconstraint`.
        """
        return data

    def sample_init_qpos_qvel(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Initial qpos/qvel with reset noise, like Gymnasium's `reset_model`.

        qpos: `init_qpos + U(-scale, scale)`; qvel: `init_qvel + U(-scale, scale)` or
        `init_qvel + scale * N(0, 1)` when `qvel_noise == "normal"`.
        """
        dtype = self.dtype
        nq, nv, scale = self.mj_model.nq, self.mj_model.nv, self.reset_noise_scale
        key_qpos, key_qvel = jax.random.split(key)
        qpos = jnp.asarray(self.init_qpos, dtype) + jax.random.uniform(
            key_qpos, (nq,), dtype, minval=-scale, maxval=scale
        )
        if self.qvel_noise == "normal":
            noise = scale * jax.random.normal(key_qvel, (nv,), dtype)
        elif self.qvel_noise == "uniform":
            noise = jax.random.uniform(key_qvel, (nv,), dtype, minval=-scale, maxval=scale)
        else:
            raise ValueError(f"qvel_noise must be 'uniform' or 'normal', got {self.qvel_noise}")
        return qpos, jnp.asarray(self.init_qvel, dtype) + noise

    # ----------------------------------------------------------------------------------
    # Public API
    def physics_step(self, data: mjx.Data | CData, action: jax.Array) -> mjx.Data | CData:
        """One control step of physics: the backend's `frame_skip` substeps, then
        `post_physics` (on the "mujoco" backend, C runs `mj_rnePostConstraint` itself when
        the task's `physics_fields` need it). The raw action is the control (Gymnasium does
        not clip it; MuJoCo clamps `ctrl` to `ctrlrange` internally)."""
        return self.physics.step(data, action)

    def forward(self, data: mjx.Data | CData) -> mjx.Data | CData:
        """`mj_forward` on the backend: `mjx.forward`, or C `mj_forward` via a callback."""
        return self.physics.forward(data)

    def blank_state(self) -> State:
        """The state right after `mj_resetData` (qpos0, zero qvel/ctrl/act/qacc_warmstart),
        before any `mj_forward`. `reset` is `set_state(blank_state(), noisy qpos, qvel)`."""
        data = self.physics.blank(self.dtype)
        zero = jnp.zeros((), data.qpos.dtype)
        return State(
            data=data,
            obs=self._get_obs(data),
            reward=zero,
            done=zero,
            metrics=self._zero_metrics(data),
        )

    def reset(self, key: jax.Array) -> State:
        """New episode: `mj_resetData`, reset noise from `key` (typed PRNG key), `mj_forward`.
        Reward, done and metrics are zero."""
        self._check_key(key)
        qpos, qvel = self.sample_init_qpos_qvel(key)
        return self.set_state(self.blank_state(), qpos, qvel)

    def step(self, state: State, action: jax.Array) -> State:
        """One control step. `done` is termination only (time limits are the wrappers' job).

        Non-finite physics (MJX propagates NaN where C `mj_step` would silently reset the
        simulation) is guarded: the physics is kept at the previous finite data, the step
        terminates (`done = 1`), and reward and metrics are 0, so no NaN reaches a learner.

        Raises:
          ValueError: `action` is not `[action_size]` or `state` is a batch (this is one
            env; batch with `jax.vmap(env.step)` or `envs.wrap_for_training`).
        """
        action = self._check_step_args(state, action)
        return self._finish_step(state, action, self.physics_step(state.data, action))

    def step_and_reset(
        self, state: State, action: jax.Array, key: jax.Array
    ) -> tuple[State, State]:
        """`(step(state, action), reset(key))`, for an auto-reset that picks the fresh start
        where the episode ended.

        Same results as the two calls; on the "mujoco" backend the physics of both runs in
        one callback (a second callback per step would cost more than the `mj_forward` of
        the reset). A subclass that changes `reset` beyond `sample_init_qpos_qvel` must make
        the two agree (tests/test_c_backend.py checks every task).
        """
        action = self._check_step_args(state, action)
        self._check_key(key)
        qpos, qvel = self.sample_init_qpos_qvel(key)
        blank = self.blank_state()
        start = blank.data.replace(
            qpos=jnp.asarray(qpos, blank.data.qpos.dtype),
            qvel=jnp.asarray(qvel, blank.data.qvel.dtype),
        )
        data, start = self.physics.step_and_forward(state.data, action, start)
        fresh = blank.replace(data=start, obs=self._get_obs(start))
        return self._finish_step(state, action, data), fresh

    def _finish_step(self, state: State, action: jax.Array, data: mjx.Data | CData) -> State:
        """The step's state from the physics result `data`: non-finite guard, reward, done,
        metrics and observation."""
        data_before = state.data
        finite = jnp.all(jnp.isfinite(data.qpos)) & jnp.all(jnp.isfinite(data.qvel))
        finite &= jnp.all(jnp.isfinite(data.qacc))
        data = jax.tree.map(lambda new, old: jnp.where(finite, new, old), data, data_before)
        reward, done, metrics = self._reward_done(data_before, data, action)
        dtype = data.qpos.dtype
        return state.replace(
            data=data,
            obs=self._get_obs(data),
            reward=jnp.where(finite, reward, 0.0).astype(dtype),
            done=jnp.where(finite, done, 1.0).astype(dtype),
            metrics={k: jnp.where(finite, v, 0.0).astype(dtype) for k, v in metrics.items()},
        )

    def _check_step_args(self, state: State, action: jax.Array) -> jax.Array:
        """`action` as an array of the state's dtype, after checking both are one env's (a
        batch would otherwise fail deep inside the physics with an IndexError)."""
        nq = self.mj_model.nq
        if jnp.shape(state.data.qpos) != (nq,):
            raise ValueError(
                f"step expects the state of one env (qpos of shape ({nq},)), got qpos of shape"
                f" {jnp.shape(state.data.qpos)}; for a batch use jax.vmap(env.step) or"
                " envs.wrap_for_training(env)"
            )
        if jnp.shape(action) != (self.action_size,):
            raise ValueError(
                f"step expects one env's action of shape ({self.action_size},), got shape"
                f" {jnp.shape(action)}; for a batch use jax.vmap(env.step) or"
                " envs.wrap_for_training(env)"
            )
        return jnp.asarray(action, state.data.qpos.dtype)

    @staticmethod
    def _check_key(key: jax.Array) -> None:
        if jnp.shape(key) != () and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
            raise ValueError(
                f"reset expects one typed PRNG key (shape ()), got shape {jnp.shape(key)}; for"
                " a batch use jax.vmap(env.reset) or envs.wrap_for_training(env)"
            )

    def set_state(self, state: State, qpos: jax.Array, qvel: jax.Array) -> State:
        """Gymnasium's `set_state`: put the physics at qpos/qvel (other fields such as ctrl and
        `qacc_warmstart` kept), run `mj_forward`, and recompute the observation."""
        data = state.data
        data = data.replace(
            qpos=jnp.asarray(qpos, data.qpos.dtype), qvel=jnp.asarray(qvel, data.qvel.dtype)
        )
        data = self.forward(data)
        return state.replace(data=data, obs=self._get_obs(data))

    def _zero_metrics(self, data: mjx.Data) -> dict[str, jax.Array]:
        """Zeros with the structure of the step metrics (so reset and step states match)."""
        action = jnp.zeros((self.action_size,), data.qpos.dtype)
        shapes = jax.eval_shape(self._reward_done, data, data, action)[2]
        return {k: jnp.zeros(v.shape, data.qpos.dtype) for k, v in shapes.items()}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(gym_id={self.gym_id!r}, frame_skip={self.frame_skip},"
            f" backend={self.backend!r})"
        )
