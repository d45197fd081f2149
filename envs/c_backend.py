"""The "mujoco" physics backend: C MuJoCo stepped from inside jitted code via `jax.pure_callback`.

Only the physics runs in C; observation, reward and termination stay the task's own JAX code,
shared with the MJX backend. The physics data is a `CData`: the full physics state (qpos,
qvel, act, ctrl, qacc_warmstart, time), `qacc`, and the derived MjData fields the task reads
(its `physics_fields`, e.g. `xpos`, `cfrc_ext`) under the same attribute names as `mjx.Data`.

One callback per control step for the whole batch: the callback is vmapped with
`vmap_method="broadcast_all"`, so under `vmap` over envs and over seeds it receives one
`[seeds, envs, width]` array (all state fields of a simulation packed in one row, since the
callback's cost grows with its number of arrays), and steps every simulation on threads sized
to the CPUs this process may use (`os.sched_getaffinity`). An auto-reset's `mj_forward` of
the next episode's start runs in the same callback (`step_and_forward`). Each simulation's
full state is loaded (`time`, `qpos`, `qvel`, `act`, `qacc_warmstart`, `ctrl`; the other
mjSTATE_INTEGRATION components, applied forces, mocap, eq_active, ..., keep their defaults,
as in Gymnasium's tasks), then `mj_step(m, d, frame_skip)` runs and, when a task reads
`cfrc_ext`/`cacc`/`cfrc_int`, `mj_rnePostConstraint`, exactly as
Gymnasium's `MujocoEnv.do_simulation`.
Results equal Gymnasium's bit for bit in float64 (tests/test_c_backend.py); in float32 the
state is rounded to float32 between control steps (the C side always computes in float64).

Two engines, identical results:
- "batch": `mujoco.batch.Batch` (MuJoCo 4.0) loads state rows, steps and copies the bound
  fields out in C on its own threads, no Python per simulation. Used where possible: with
  no Python per simulation it is the faster of the two (BENCHMARKS.md).
- "pool": a thread pool in which each chunk of simulations borrows one `MjData` and calls
  `mj_step` per simulation (it releases the GIL). Needed for Ant: a Batch cannot run
  `mj_rnePostConstraint` between the step and the copy-out.
`mujoco.rollout` does not fit: it returns state vectors and sensors only, not
`xpos`/`site_xpos`/`qfrc_constraint`.

Non-finite or huge states: C `mj_step` silently resets a simulation whose qpos/qvel/qacc
blow up. Here such a simulation (input beyond `mjMAXVAL`, or a bad-qpos/qvel/qacc warning
raised during the step) returns NaN instead, so `Env.step`'s guard terminates it and keeps
the previous finite data, as on the MJX backend.
"""

from __future__ import annotations

import concurrent.futures
import os
import queue
import threading
from typing import Any

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from flax import struct
from mujoco import batch as mujoco_batch

# fields loaded into MjData before a call (ctrl last, as Gymnasium's do_simulation sets it)
STATE_FIELDS = ("qpos", "qvel", "act", "qacc_warmstart", "time", "ctrl")
# fields that only `mj_rnePostConstraint` fills; `mj_forward` leaves them as they were
RNE_POST_FIELDS = frozenset({"cacc", "cfrc_int", "cfrc_ext"})
_BAD_WARNINGS = np.array(
    [
        int(mujoco.mjtWarning.mjWARN_BADQPOS),
        int(mujoco.mjtWarning.mjWARN_BADQVEL),
        int(mujoco.mjtWarning.mjWARN_BADQACC),
    ]
)


def num_cpus() -> int:
    """CPUs this process may run on (`os.sched_getaffinity`, else `os.cpu_count`)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@struct.dataclass
class CData:
    """Physics data of one env on the "mujoco" backend (add leading axes for a batch).

    Attribute names are MjData's / `mjx.Data`'s, so task code reads `data.qpos`,
    `data.xpos`, ... on either backend. `derived` holds the task's `physics_fields`, reached
    as attributes (`data.xpos` is `data.derived["xpos"]`); after a step they are the values
    C `mj_step` left in MjData (last RK4 stage), after `set_state` those of `mj_forward`.
    """

    qpos: jax.Array  # [nq]
    qvel: jax.Array  # [nv]
    act: jax.Array  # [na]
    ctrl: jax.Array  # [nu], the raw action (MuJoCo clamps it to ctrlrange internally)
    qacc_warmstart: jax.Array  # [nv]
    time: jax.Array  # []
    qacc: jax.Array  # [nv]
    derived: dict[str, jax.Array] = struct.field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        derived = self.__dict__.get("derived")
        if derived is not None and name in derived:
            return derived[name]
        raise AttributeError(
            f"CData has no field {name!r}: the 'mujoco' backend copies back only the state,"
            f" qacc and the task's `physics_fields` ({sorted(derived or {})}); add {name!r}"
            " to the task class's `physics_fields`"
        )


class CPhysics:
    """C MuJoCo physics of one task, callable from jitted, vmapped code.

    Attributes:
      mj_model: the task's `mujoco.MjModel` (read only; shared by all threads).
      frame_skip: `mj_step` substeps per control step.
      fields: derived MjData fields copied back after each call (the task's
        `physics_fields`).
      num_threads: threads that step a batch (the caller's included); default: all CPUs
        available to the process.
      engine: "batch" (`mujoco.batch.Batch`: rows stepped in C, no Python per simulation)
        or "pool" (our thread pool, one `mj_step` call per simulation; needed when
        `mj_rnePostConstraint` must run between the step and the copy-out). "auto" (the
        constructor's default) picks "batch" where it can. Both give identical results.
      batch_sizes: batch size of each host call (one per callback, or per `run`), most
        recent last (kept for tests and diagnostics; bounded).
      model: None: no MJX model (the env's `model` on this backend).
    """

    model = None

    def __init__(
        self,
        mj_model: mujoco.MjModel,
        frame_skip: int,
        fields: tuple[str, ...] = (),
        num_threads: int | None = None,
        engine: str = "auto",
    ):
        self.mj_model = mj_model
        self.frame_skip = int(frame_skip)
        self.fields = tuple(fields)
        self.num_threads = int(num_threads or num_cpus())
        self.rne_post = bool(RNE_POST_FIELDS.intersection(self.fields))
        if engine == "auto":
            engine = "pool" if self.rne_post else "batch"
        if engine not in ("batch", "pool"):
            raise ValueError(f"engine must be 'auto', 'batch' or 'pool', got {engine!r}")
        if engine == "batch" and self.rne_post:
            raise ValueError("engine='batch' cannot run mj_rnePostConstraint (the task's fields)")
        self.engine = engine
        template = mujoco.MjData(mj_model)
        self.shapes: dict[str, tuple[int, ...]] = {}
        for name in (*STATE_FIELDS, "qacc", *self.fields):
            value = getattr(template, name, None)
            if not isinstance(value, (np.ndarray, float)):
                raise ValueError(f"{name!r} is not an MjData array field")
            self.shapes[name] = tuple(np.shape(value))
        self.batch_sizes: list[int] = []
        self._layouts: dict[tuple[str, ...], tuple[dict[str, slice], int]] = {}
        self._init_host_state()

    def _init_host_state(self) -> None:
        # MjData objects are owned here and handed to one chunk at a time. Not thread-locals:
        # the callback runs on XLA's worker threads, whose Python thread state (and with it
        # any thread-local) is torn down after each callback; freeing an MjData there
        # crashes the process (a segfault).
        self._free_data: queue.SimpleQueue[mujoco.MjData] = queue.SimpleQueue()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._batches: dict[int, tuple[Any, threading.Lock, dict[str, np.ndarray]]] = {}

    def __getstate__(self) -> dict[str, Any]:  # threads and MjData are not picklable
        state = dict(self.__dict__)
        for name in ("_free_data", "_pool", "_pool_lock", "_batches"):
            state.pop(name)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_host_state()

    # ---------------------------------------------------------------------------------
    # JAX side
    def blank(self, dtype: Any) -> CData:
        """The data right after `mj_resetData` (qpos0, everything else 0), before `mj_forward`."""
        zeros = {name: jnp.zeros(shape, dtype) for name, shape in self.shapes.items()}
        zeros["qpos"] = jnp.asarray(self.mj_model.qpos0, dtype)
        derived = {name: zeros.pop(name) for name in self.fields}
        return CData(**zeros, derived=derived)

    def step(self, data: CData, ctrl: jax.Array) -> CData:
        """Sets `ctrl`, then C `mj_step(m, d, frame_skip)` (+ `mj_rnePostConstraint` if the
        task reads its outputs), like Gymnasium's `do_simulation`."""
        data = data.replace(ctrl=jnp.asarray(ctrl, data.ctrl.dtype))
        (stepped,) = self._call("step", data)
        return stepped

    def forward(self, data: CData) -> CData:
        """C `mj_forward` at the data's state (Gymnasium's `set_state`); qpos is not
        modified (C normalises quaternions only in a local copy), and the fields only
        `mj_rnePostConstraint` fills (`cfrc_ext`, ...) keep their values, as in C."""
        (forwarded,) = self._call("forward", data)
        return forwarded

    def step_and_forward(
        self, data: CData, ctrl: jax.Array, reset_data: CData
    ) -> tuple[CData, CData]:
        """`(step(data, ctrl), forward(reset_data))` in one callback: an auto-reset needs the
        next episode's start before it knows which envs ended, and a callback's fixed cost
        is larger than an `mj_forward` at the batch sizes we train with."""
        data = data.replace(ctrl=jnp.asarray(ctrl, data.ctrl.dtype))
        return self._call("step_forward", data, reset_data)

    def _out_names(self, kind: str) -> tuple[str, ...]:
        if kind == "step":
            names = ("qpos", "qvel", "act", "qacc_warmstart", "time", "qacc", *self.fields)
        else:  # mj_forward changes neither the state nor the rnePostConstraint outputs
            names = ("qacc", *(f for f in self.fields if f not in RNE_POST_FIELDS))
        return names

    def _layout(self, names: tuple[str, ...]) -> tuple[dict[str, slice], int]:
        """Column range of each of `names` in a packed row (fields flattened, in order), and
        the row width. Cached: the callback asks for it on every call."""
        cached = self._layouts.get(names)
        if cached is None:
            layout, offset = {}, 0
            for name in names:
                size = int(np.prod(self.shapes[name], dtype=np.int64))
                layout[name] = slice(offset, offset + size)
                offset += size
            cached = self._layouts[names] = (layout, offset)
        return cached

    def _kinds(self, kind: str) -> tuple[str, ...]:
        return ("step", "forward") if kind == "step_forward" else (kind,)

    def _call(self, kind: str, *datas: CData) -> tuple[CData, ...]:
        # One packed array in and one out: the callback's cost grows with its number of
        # arrays, and at small batches that cost, not the physics, sets the step time.
        dtype = datas[0].qpos.dtype
        kinds = self._kinds(kind)
        packed = jnp.concatenate(
            [jnp.ravel(getattr(d, n)).astype(dtype) for d in datas for n in STATE_FIELDS]
        )
        out_names = [self._out_names(k) for k in kinds]
        width = sum(self._layout(names)[1] for names in out_names)
        result_shape = jax.ShapeDtypeStruct((width,), dtype)

        def host(packed: np.ndarray) -> np.ndarray:
            return self.run_packed(kind, packed)

        out = jax.pure_callback(host, result_shape, packed, vmap_method="broadcast_all")
        results, offset = [], 0
        for data, names in zip(datas, out_names, strict=True):
            layout, width = self._layout(names)
            block = out[offset : offset + width]
            fields = {n: block[c].reshape(self.shapes[n]) for n, c in layout.items()}
            offset += width
            derived = {**data.derived, **{n: fields.pop(n) for n in self.fields if n in fields}}
            results.append(data.replace(**fields, derived=derived))
        return tuple(results)

    # ---------------------------------------------------------------------------------
    # Host side (numpy, float64)
    def run_packed(self, kind: str, packed: np.ndarray) -> np.ndarray:
        """The callback: `packed` is `[*batch, width]`, each row the STATE_FIELDS of one
        simulation (twice for "step_forward": the state to step, then the reset state to
        forward), flattened; returns the `_out_names` of each kind, packed the same way, in
        `packed`'s dtype. NaN rows for simulations that blew up."""
        batch_shape = packed.shape[:-1]
        n = int(np.prod(batch_shape, dtype=np.int64))
        self._record(n)
        rows = np.asarray(packed, np.float64).reshape(n, -1)  # one conversion for all fields
        in_layout, in_width = self._layout(STATE_FIELDS)
        kinds = self._kinds(kind)
        out_layouts = [self._layout(self._out_names(k)) for k in kinds]
        result = np.empty((n, sum(width for _, width in out_layouts)), np.float64)
        in_offset = out_offset = 0
        for kind_i, (layout, width) in zip(kinds, out_layouts, strict=True):
            block_in = rows[:, in_offset : in_offset + in_width]
            block_out = result[:, out_offset : out_offset + width]
            flat = {k: self._view(block_in, c, n, k) for k, c in in_layout.items()}
            out = {k: self._view(block_out, c, n, k) for k, c in layout.items()}
            block_out[self._execute(kind_i, flat, out, n)] = np.nan
            in_offset, out_offset = in_offset + in_width, out_offset + width
        return result.astype(packed.dtype, copy=False).reshape(*batch_shape, result.shape[1])

    def _view(self, block: np.ndarray, cols: slice, n: int, name: str) -> np.ndarray:
        """`block[:, cols]` as `[n, *field shape]` (a view, no copy)."""
        return block[:, cols].reshape(n, *self.shapes[name])

    def run(
        self,
        kind: str,
        inputs: dict[str, np.ndarray],
        names: tuple[str, ...],
        dtype: Any = np.float64,
    ) -> dict[str, np.ndarray]:
        """Steps ("step") or forwards ("forward") a batch of states, from Python.

        Args:
          kind: "step" or "forward".
          inputs: STATE_FIELDS arrays with any common leading batch shape (time: the batch
            shape itself).
          names: fields to return (a subset of `_out_names(kind)`).
          dtype: dtype of the returned arrays (float64 by default).

        Returns:
          `names` -> `[*batch, *field shape]` arrays; NaN rows for simulations that blew up.
        """
        batch_shape = np.shape(inputs["time"])
        n = int(np.prod(batch_shape, dtype=np.int64))
        flat = {
            k: np.ascontiguousarray(np.reshape(inputs[k], (n, *self.shapes[k])), np.float64)
            for k in STATE_FIELDS
        }
        out = {k: np.empty((n, *self.shapes[k]), np.float64) for k in names}
        self._record(n)
        bad = self._execute(kind, flat, out, n)
        result = {}
        for k, v in out.items():
            v[bad] = np.nan
            result[k] = v.astype(dtype, copy=False).reshape(tuple(batch_shape) + self.shapes[k])
        return result

    def _record(self, n: int) -> None:
        if len(self.batch_sizes) >= 64:
            del self.batch_sizes[:32]
        self.batch_sizes.append(n)

    def _execute(self, kind, flat, out, n) -> np.ndarray:
        """Runs `kind` on the n simulations of `flat` into `out`; returns the rows that blew
        up (left for the caller to fill with NaN)."""
        bad = np.zeros(n, bool)
        if kind == "step":  # what mj_step would reset silently: skip and mark NaN instead
            for k in ("qpos", "qvel"):
                x = flat[k].reshape(n, -1)
                bad |= ~np.all(np.abs(x) <= mujoco.mjMAXVAL, axis=1)  # NaN compares False
        if self.engine == "batch":
            self._run_batch(kind, flat, out, bad)
        else:
            self._run_pool(kind, flat, out, bad)
        return bad

    # -- engine "batch": mujoco.batch.Batch, one per batch size --------------------------
    def _run_batch(self, kind, flat, out, bad) -> None:
        n = len(bad)
        with self._pool_lock:
            entry = self._batches.get(n)
            if entry is None:
                b = mujoco_batch.Batch(self.mj_model, n, nthread=min(self.num_threads, n))
                views = {k: b.bind(k) for k in (*STATE_FIELDS, "qacc", *self.fields)}
                entry = self._batches[n] = (b, threading.Lock(), views)
        b, lock, views = entry
        ids = None if not bad.any() else np.flatnonzero(~bad).astype(np.int32)
        with lock:  # a Batch serves one call at a time
            for k in STATE_FIELDS:
                views[k][...] = flat[k]
            if ids is None or len(ids):
                if kind == "step":
                    before = b.warning[:, _BAD_WARNINGS, 1].sum(axis=1)
                    b.step(ids, nstep=self.frame_skip)
                    bad |= b.warning[:, _BAD_WARNINGS, 1].sum(axis=1) != before
                else:
                    b.forward(ids)
            for k, v in out.items():
                v[...] = views[k]

    # -- engine "pool": our threads, one MjData per chunk -------------------------------
    def _run_pool(self, kind, flat, out, bad) -> None:
        n = len(bad)
        chunks = min(self.num_threads, n)
        bounds = np.linspace(0, n, chunks + 1).astype(int)
        futures = []
        if chunks > 1:
            pool = self._thread_pool()
            for j in range(1, chunks):
                args = (kind, int(bounds[j]), int(bounds[j + 1]), flat, out, bad)
                futures.append(pool.submit(self._run_range, *args))
        self._run_range(kind, int(bounds[0]), int(bounds[1]), flat, out, bad)
        for f in futures:
            f.result()

    def _thread_pool(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    self.num_threads - 1, thread_name_prefix="envs-c-physics"
                )
            return self._pool

    def _run_range(self, kind, lo, hi, flat, out, bad) -> None:
        """Simulations lo..hi-1 on an MjData that no other chunk uses meanwhile."""
        try:
            d = self._free_data.get_nowait()
        except queue.Empty:  # at most one per concurrently running chunk
            d = mujoco.MjData(self.mj_model)
        try:
            self._run_range_on(d, kind, lo, hi, flat, out, bad)
        finally:
            self._free_data.put(d)

    def _run_range_on(self, d, kind, lo, hi, flat, out, bad) -> None:
        m, nstep = self.mj_model, self.frame_skip
        names = tuple(out)
        warnings = d.warning.number  # live view of the counters
        step = kind == "step"
        for i in range(lo, hi):
            if bad[i]:
                continue
            d.time = flat["time"][i]
            d.qpos[:] = flat["qpos"][i]
            d.qvel[:] = flat["qvel"][i]
            d.act[:] = flat["act"][i]
            d.qacc_warmstart[:] = flat["qacc_warmstart"][i]
            d.ctrl[:] = flat["ctrl"][i]
            if step:
                before = int(warnings[_BAD_WARNINGS].sum())
                mujoco.mj_step(m, d, nstep)
                if self.rne_post:
                    mujoco.mj_rnePostConstraint(m, d)
                if int(warnings[_BAD_WARNINGS].sum()) != before:
                    bad[i] = True
                    continue
            else:
                mujoco.mj_forward(m, d)
            for k in names:
                out[k][i] = getattr(d, k)
