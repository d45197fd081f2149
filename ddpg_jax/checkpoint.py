"""Orbax checkpoints of a run (`<run>/checkpoints/<env_step>/`): save, prune, restore.

Each checkpoint is one orbax step directory holding three items:
  policy  `Policy` (actor params, normalizer, action scale/bias), every leaf with a leading
          `[num_seeds]` axis: all that evaluation needs, restorable without the train state;
  train   the training carry as given by the caller (any pytree; typed PRNG keys allowed);
  meta    JSON: format_version, env_step, eval_return_mean, eval_returns (per seed) and the
          caller's keys (env, config, ...); non-finite numbers are stored as null.
Orbax also stores `eval_return_mean` as the step's metric, which ranks checkpoints for "best".

Retention (orbax preservation policies, applied after each save): the last `keep_last` steps,
plus, with `keep_best`, the one step with the highest finite `eval_return_mean` however old.
Steps saved without a finite eval return are never kept for being best.

Checksums: once orbax has finalised a step, `checksums.json` in the step directory records
the sha256 of every file of its items; restores verify it first, so a flipped bit is an error
naming the good steps instead of a policy that silently acts differently. Steps finalise in
the background, so a step's checksums are written at the next `save` (orbax waits for the
previous save there), at `wait()` or at `close()`. A step without `checksums.json` (a crash
between finalising and checksumming) is accepted as unverified: its data was complete, only
its fingerprint is missing.

Crash safety: orbax writes a step into `<step>.orbax-checkpoint-tmp-*` and renames it when
complete, so a half-written checkpoint is never listed (nor picked as latest). Saves are async:
`save` returns once arrays are copied to host memory (so the caller may then donate or change
them); call `wait()` or `close()` before the process exits. Typed PRNG keys are stored as their
raw `key_data` and re-wrapped with the target's key type on restore.

Every failure is a `CheckpointError` with a one-line message (the CLIs turn it into exit 2).
Orbax's log lines that a user cannot act on (read-only notices, a missing metric for a step
saved without an evaluation, the traceback of a failed save that we re-raise as one line)
are filtered out of the `absl` logger.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers as ocm

from ddpg_jax import checkpoint_io
from ddpg_jax.agent import Policy
from ddpg_jax.checkpoint_io import json_safe
from ddpg_jax.normalizer import NormalizerState
from ddpg_jax.run_dir import RunDir, atomic_write

FORMAT_VERSION = 1
POLICY, TRAIN, META = "policy", "train", "meta"
COMMIT_FILE = "commit_success.txt"  # orbax writes it into a step just before finalizing
CHECKSUM_FILE = "checksums.json"
_METRIC = "eval_return_mean"
_ADVICE = (
    "`evaluate --checkpoint STEP` scores another step, "
    "and `train --resume` falls back to the newest good checkpoint"
)


class CheckpointError(Exception):
    """No checkpoint, unknown step, unreadable checkpoint, or a failed save."""


def _best_metric(metrics: Mapping[str, Any]) -> float:
    return float(metrics[_METRIC])


class CheckpointStore:
    """The checkpoints of one run dir. Use as a context manager or call `close()`.

    `read_only=True` (for evaluate, possibly while training still runs) never writes, deletes
    or cleans anything, and re-reads the directory before answering which steps exist.
    """

    def __init__(
        self,
        run_dir: RunDir | str | os.PathLike,
        keep_last: int = 3,
        keep_best: bool = True,
        read_only: bool = False,
        async_save: bool = True,
    ):
        if keep_last < 1:
            raise ValueError(f"keep_last must be >= 1, got {keep_last}")
        root = run_dir.checkpoints_dir if isinstance(run_dir, RunDir) else pathlib.Path(run_dir)
        self.directory = root.absolute()
        self.read_only = read_only
        self._async = async_save
        self._in_flight: int | None = None  # the step orbax may still be writing
        self._unchecked: list[int] = []  # saved steps without checksums yet
        self._closed = False
        if read_only and not self.directory.is_dir():
            raise CheckpointError(
                f"no checkpoint directory {self.directory}; was the run saved by train?"
            )
        policies: list[Any] = [ocm.LatestN(n=keep_last)]
        if keep_best:
            policies.append(
                ocm.BestN(get_metric_fn=_best_metric, n=1, keep_checkpoints_without_metrics=False)
            )
        options = ocp.CheckpointManagerOptions(
            preservation_policy=ocm.AnyPreservationPolicy(policies),
            best_fn=_best_metric,
            best_mode="max",
            read_only=read_only,
            create=not read_only,
            cleanup_tmp_directories=not read_only,
            enable_async_checkpointing=async_save,
        )
        try:
            self._manager = ocp.CheckpointManager(
                self.directory,
                options=options,
                item_handlers={
                    POLICY: ocp.StandardCheckpointHandler(),
                    TRAIN: ocp.StandardCheckpointHandler(),
                    META: ocp.JsonCheckpointHandler(),
                },
            )
        except Exception as e:  # noqa: BLE001 - orbax raises many types on bad directories
            raise CheckpointError(
                f"cannot open checkpoints in {self.directory} ({checkpoint_io.first_line(e)}); "
                "move away the broken step directories"
            ) from e

    # --- which steps exist ---

    def all_steps(self) -> list[int]:
        """Completed checkpoint steps (env steps), ascending.

        A step directory without orbax's `commit_success.txt` (written just before the atomic
        rename) is not a finished checkpoint and is left out, whatever put it there."""
        self._refresh()
        return sorted(
            s
            for s in self._manager.all_steps()
            if (self.directory / str(s) / COMMIT_FILE).is_file()
        )

    def latest_step(self) -> int | None:
        steps = self.all_steps()
        return steps[-1] if steps else None

    def best_step(self) -> int | None:
        """The step with the highest finite eval return, or None if no step has one."""
        steps = set(self.all_steps())
        best = self._manager.best_step()
        return best if best in steps and self._manager.metrics(best) is not None else None

    def resolve(self, which: int | str) -> int:
        """A step number from `which`: an int step, a digit string, 'latest' or 'best'."""
        steps = self.all_steps()
        if not steps:
            raise CheckpointError(
                f"no checkpoints in {self.directory}; train longer than the checkpoint interval"
            )
        if which == "latest":
            return steps[-1]
        if which == "best":
            best = self.best_step()
            if best is None:
                raise CheckpointError(
                    f"no checkpoint in {self.directory} has a finite eval return; "
                    "use 'latest' or a step number"
                )
            return best
        if isinstance(which, str) and which.isdigit():
            which = int(which)
        if not isinstance(which, (int, np.integer)) or isinstance(which, bool):
            raise CheckpointError(f"unknown checkpoint {which!r}; use 'latest', 'best' or a step")
        if int(which) not in steps:
            raise CheckpointError(
                f"no checkpoint at step {which} in {self.directory}; available steps: "
                f"{', '.join(map(str, steps))}"
            )
        return int(which)

    # --- save ---

    def save(
        self,
        step: int,
        policy: Policy,
        train: Any,
        *,
        eval_returns: Any = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        """Save a checkpoint at env step `step` (async; see the module docstring).

        `eval_returns` `[num_seeds]` (NaN allowed, or None) ranks the checkpoint for "best" by
        its NaN-ignoring mean. `train` may be None to store only the policy. `meta` holds extra
        JSON-able keys (env, config dict, ...).
        """
        if self.read_only:
            raise CheckpointError(f"checkpoint store {self.directory} was opened read-only")
        step = int(step)
        # orbax would wait for the previous save here anyway; waiting ourselves first lets an
        # error name the step it belongs to, and that step can get its checksums now.
        self.wait()
        if step in self._manager.all_steps():
            raise CheckpointError(
                f"a checkpoint at step {step} already exists in {self.directory}; "
                "resume from the latest step or start a new run dir"
            )
        returns = None if eval_returns is None else np.asarray(eval_returns, np.float64).ravel()
        mean = None
        if returns is not None and np.isfinite(returns).any():
            mean = float(np.nanmean(np.where(np.isfinite(returns), returns, np.nan)))
        meta_doc = {
            **json_safe(dict(meta or {})),
            "format_version": FORMAT_VERSION,
            "env_step": step,
            _METRIC: mean,
            "eval_returns": None if returns is None else json_safe(returns.tolist()),
        }
        items = {
            POLICY: ocp.args.StandardSave(checkpoint_io.encode_keys(policy)),
            META: ocp.args.JsonSave(meta_doc),
        }
        if train is not None:
            items[TRAIN] = ocp.args.StandardSave(checkpoint_io.encode_keys(train))
        try:
            self._manager.save(
                step,
                args=ocp.args.Composite(**items),
                metrics=None if mean is None else {_METRIC: mean},
                force=True,
            )
        except Exception as e:  # noqa: BLE001
            raise self._save_error(step, e) from None
        self._unchecked.append(step)
        self._in_flight = step
        if not self._async:
            self.wait()

    def wait(self) -> None:
        """Block until pending async saves are on disk (old steps pruned, checksums written)."""
        step, self._in_flight = self._in_flight, None
        try:
            self._manager.wait_until_finished()
        except Exception as e:  # noqa: BLE001
            self._unchecked = [s for s in self._unchecked if s != step]
            raise self._save_error(step, e) from None
        self._write_checksums()

    def close(self) -> None:
        """Finish pending saves, then stop orbax's threads. Safe to call again, and at exit."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._in_flight is not None or self._unchecked:
                self.wait()
        finally:
            self._await_tmp_cleanup()
            try:
                self._manager.close()
            except RuntimeError as e:  # closing from an atexit hook or a finaliser
                if "interpreter shutdown" not in str(e):
                    raise

    def _await_tmp_cleanup(self) -> None:
        """A writable orbax manager removes crash leftovers (`*.orbax-checkpoint-tmp*`) in a
        background thread that only its `save` waits for; a process that exits before that
        thread ends gets its "cannot schedule new futures after interpreter shutdown"
        traceback. Wait here, so a store opened and closed without a save exits quietly."""
        cleanup = getattr(self._manager, "_cleanup_tmp_directory_future", None)
        if cleanup is None:
            return
        try:
            cleanup.result()
        except Exception:  # noqa: BLE001 - leftovers are removed again by the next writer
            pass

    def __enter__(self) -> CheckpointStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- restore ---

    def restore_train(self, step: int | str, target: Any) -> Any:
        """The `train` item of `step` ('latest', 'best' or an int) in the structure, dtypes and
        shardings of `target` (concrete, or abstract from `jax.eval_shape`)."""
        step = self.resolve(step)
        self._check(step)
        if not (self.directory / str(step) / TRAIN).is_dir():
            raise CheckpointError(
                f"checkpoint at step {step} in {self.directory} has no train state (it was saved "
                "with the policy only); resume from another step"
            )
        abstract = checkpoint_io.abstract_target(target)
        try:
            restored = self._manager.restore(
                step, args=ocp.args.Composite(**{TRAIN: ocp.args.StandardRestore(abstract)})
            )[TRAIN]
        except Exception as e:  # noqa: BLE001
            raise self._unreadable(step, TRAIN, e) from e
        return checkpoint_io.decode_keys(restored, target)

    def restore_policy(self, which: int | str = "latest") -> tuple[Policy, dict[str, Any]]:
        """`(Policy, meta)` of a step ('latest', 'best' or an int) without the train state.

        Arrays come back on the default device with their saved shapes and dtypes (leading
        `[num_seeds]` axis)."""
        step = self.resolve(which)
        self._check(step)
        try:
            metadata = self._manager.item_metadata(step)
            tree = metadata[POLICY]
            tree = getattr(tree, "tree", tree)
            device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
            abstract = jax.tree.map(
                lambda m: jax.ShapeDtypeStruct(tuple(m.shape), m.dtype, sharding=device), tree
            )
            restored = self._manager.restore(
                step,
                args=ocp.args.Composite(
                    **{POLICY: ocp.args.StandardRestore(abstract), META: ocp.args.JsonRestore()}
                ),
            )
            d = restored[POLICY]
            policy = Policy(
                actor_params=d["actor_params"],
                normalizer=NormalizerState(**d["normalizer"]),
                action_scale=d["action_scale"],
                action_bias=d["action_bias"],
            )
            meta = dict(restored[META])
        except CheckpointError:
            raise
        except Exception as e:  # noqa: BLE001
            raise self._unreadable(step, POLICY, e) from e
        return policy, meta

    def restore_meta(self, which: int | str = "latest") -> dict[str, Any]:
        """Only the JSON `meta` item of a step."""
        step = self.resolve(which)
        try:
            restored = self._manager.restore(
                step, args=ocp.args.Composite(**{META: ocp.args.JsonRestore()})
            )
            return dict(restored[META])
        except Exception as e:  # noqa: BLE001
            raise self._unreadable(step, META, e) from e

    # --- integrity ---

    def verify(self, step: int) -> str | None:
        """None if `step`'s files match the checksums written after it was saved (or it has
        none: unverified), else one line saying what differs."""
        step_dir = self.directory / str(int(step))
        if not (step_dir / COMMIT_FILE).is_file():
            return f"no finished checkpoint at step {step}"
        try:
            doc = json.loads((step_dir / CHECKSUM_FILE).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            doc = None
        recorded = doc.get("files") if isinstance(doc, dict) else None
        if not isinstance(recorded, dict):
            return f"its {CHECKSUM_FILE} is unreadable"
        for name, digest in sorted(recorded.items()):
            try:
                actual = checkpoint_io.sha256(step_dir / name)
            except FileNotFoundError:
                return f"file {name} is missing"
            except OSError as e:
                return f"file {name} cannot be read ({e.strerror or e})"
            if actual != digest:
                return f"file {name} changed since it was saved (checksum mismatch)"
        return None

    def latest_good_step(self) -> tuple[int | None, list[tuple[int, str]]]:
        """The newest step that verifies, and the newer bad ones skipped with their reasons
        (newest first); `(None, skipped)` when no step is good."""
        skipped = []
        for step in reversed(self.all_steps()):
            reason = self.verify(step)
            if reason is None:
                return step, skipped
            skipped.append((step, reason))
        return None, skipped

    def _check(self, step: int) -> None:
        reason = self.verify(step)
        if reason is not None:
            raise CheckpointError(
                f"checkpoint at step {step} in {self.directory} is unreadable: {reason}; "
                f"{self._hint(step)}"
            )

    def _hint(self, bad: int) -> str:
        good = [s for s in self.all_steps() if s != bad and self.verify(s) is None]
        if not good:
            return "no other checkpoint is good; retrain"
        return f"try another step ({', '.join(map(str, good))}): {_ADVICE}"

    def _write_checksums(self) -> None:
        """Checksum every finished step saved by this store that has none yet."""
        for step in list(self._unchecked):
            step_dir = self.directory / str(step)
            try:
                if (step_dir / COMMIT_FILE).is_file():  # else pruned by retention meanwhile
                    atomic_write(
                        step_dir / CHECKSUM_FILE,
                        json.dumps(
                            {"files": checkpoint_io.checksums(step_dir)}, indent=1, sort_keys=True
                        ),
                    )
            except FileNotFoundError:
                pass  # pruned while being read: nothing left to protect
            except OSError as e:
                self._unchecked.remove(step)
                raise self._save_error(step, e) from None
            self._unchecked.remove(step)

    def _save_error(self, step: int | None, e: BaseException) -> CheckpointError:
        checkpoint_io.hush_aborted_async_work()
        what = "a checkpoint" if step is None else f"checkpoint step {step}"
        path = self.directory if step is None else self.directory / str(step)
        if checkpoint_io.is_disk_full(e):
            return CheckpointError(
                f"no space left on device while saving {what} to {path}; the earlier "
                "checkpoints are kept: free some space, then resume"
            )
        return CheckpointError(f"saving {what} to {path} failed: {checkpoint_io.first_line(e)}")

    # --- helpers ---

    def _refresh(self) -> None:
        if self.read_only:
            self._manager.reload()

    def _unreadable(self, step: int, item: str, e: Exception) -> CheckpointError:
        checkpoint_io.hush_aborted_async_work()
        return CheckpointError(
            f"checkpoint at step {step} in {self.directory} is unreadable or does not match "
            f"(item '{item}': {checkpoint_io.first_line(e)}); {self._hint(step)}; "
            "or check the run's config"
        )
