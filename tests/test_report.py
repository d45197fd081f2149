"""`ddpg_jax.report`: results tables rebuilt from run dirs (config, metrics, saved evaluations)."""

import numpy as np
import pytest

from ddpg_jax import report, run_dir
from ddpg_jax.config import Config
from ddpg_jax.metrics_log import MetricsLogger


def _evaluation(step, seed_means, episodes=10, num_seeds=None):
    seeds = [
        {"seed_index": i, "gym_mean": m, "gym_std": 0.0, "gym_returns": [m] * episodes}
        for i, m in enumerate(seed_means)
    ]
    return {
        "env": "hopper",
        "checkpoint_step": step,
        "episode_seeds": list(range(episodes)),
        "max_episode_steps": 1000,
        "seeds": seeds,
        "num_seeds": num_seeds or len(seed_means),
        "gym_mean": float(np.mean(seed_means)),
        "gym_std": float(np.std(seed_means)),
    }


def make_run(root, env="hopper", variant=None, evals=(), device="cpu: 1 x cpu", seed=None):
    """A run dir of 2 seeds with three logged eval points and the given saved evaluations."""
    rd = run_dir.create(root, env)
    extra = {"env": env, "backend": "mujoco", "device": device, "cpu_count": 2}
    if seed is not None:
        extra["run"] = {"env": env, "seed": seed}
        extra["started"] = f"2026-12-03T1{seed}:00:00+00:00"
    if variant:
        extra["variant"] = variant
    run_dir.save_config(rd, Config(num_seeds=2, num_envs=16), extra)
    with MetricsLogger(rd, tensorboard=False) as log:
        log.log(0, {"eval_return": np.array([10.0, 20.0])}, 1.0)
        log.log(5000, {"eval_return": np.array([300.0, 100.0]), "critic_loss": 0.5}, 60.0)
        log.log(10000, {"eval_return": np.array([200.0, 400.0])}, 150.0)
    for doc in evals:
        run_dir.save_evaluation(rd, doc)
    return rd.root


def test_summary_reads_config_metrics_and_the_right_evaluation(tmp_path):
    root = make_run(
        tmp_path / "run",
        evals=[
            _evaluation(10000, [1000.0, 2000.0]),
            _evaluation(10000, [5000.0], num_seeds=2),  # one seed only: not the headline
            _evaluation(5000, [9000.0, 9000.0]),  # an older checkpoint
            _evaluation(10000, [1500.0, 2500.0], episodes=3),  # fewer episodes
        ],
    )
    s = report.summarize(root)
    assert (s["env"], s["num_seeds"], s["env_steps"], s["wall_s"]) == ("hopper", 2, 10000, 150.0)
    assert s["where"] == "2-core CPU, C MuJoCo physics"
    assert s["evaluation"]["gym_mean"] == 1500.0 and len(s["evaluation"]["episode_seeds"]) == 10
    assert (s["eval_final_mean"], s["eval_final_std"]) == (300.0, 100.0)
    assert s["eval_best_mean"] == 350.0  # per-seed bests 300 and 400
    assert s["eval_curve_mean"] == pytest.approx((15.0 + 200.0 + 300.0) / 3)

    table = report.results_table([s])
    row = table.splitlines()[2]
    assert row.startswith("| Hopper-v5 | **1500 ± 500** (2 seed(s) x 10 episodes, step 10k)")
    assert "| 2 | 10k | 2.5 min (2-core CPU, C MuJoCo physics) | 1220 / 1642 | 2197 |" in row


def test_unevaluated_run_and_gpu_device(tmp_path):
    root = make_run(tmp_path / "run", env="ant", device="gpu: 1 x NVIDIA H100 80GB HBM3")
    s = report.summarize(root)
    assert s["evaluation"] is None and s["where"] == "1 x NVIDIA H100 80GB HBM3, C MuJoCo physics"
    assert "not evaluated" in report.results_table([s])


def test_study_table_and_export_of_a_sweep_folder(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    make_run(sweep / "normalize_obs=true", variant="normalize_obs=true")
    make_run(
        sweep / "normalize_obs=false",
        variant="normalize_obs=false",
        evals=[_evaluation(10000, [100.0, 300.0])],
    )
    code = report.main([str(sweep), "--study", "--export", str(tmp_path / "records")])
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = out.splitlines()[2:]
    assert (
        rows[0] == "| normalize_obs=false | 200 ± 100 | 300 ± 100 | 350 | 172 | 2 | 10k | 2.5 min |"
    )
    assert rows[1].startswith("| normalize_obs=true | — |")
    copied = tmp_path / "records" / "sweep" / "normalize_obs=false"
    assert sorted(p.name for p in copied.iterdir()) == ["config.yaml", "evaluations", "metrics.csv"]
    assert report.summarize(copied)["evaluation"]["gym_mean"] == 200.0  # records are enough


@pytest.mark.parametrize(
    "argv, message",
    [
        (["{tmp}/missing"], "does not exist"),
        (["{tmp}"], "holds no run dirs"),
        (["{run}", "--export", "{run}/.."], "already exists"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, argv, message):
    run = make_run(tmp_path / "run")
    empty = tmp_path / "empty"
    empty.mkdir()
    code = report.main([a.format(tmp=empty, run=run) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_wall_clock_of_a_run_resumed_before_the_clock_continued(tmp_path):
    root = make_run(tmp_path / "run")  # wall 1, 60, 150 s at 0, 5k, 10k
    rd = run_dir.open_existing(root)
    # An older resume restarted the clock at zero: the whole run took 150 + 40 s.
    with MetricsLogger(rd, tensorboard=False) as log:
        log.log(15000, {"critic_loss": np.array([0.1, 0.2])}, 40.0)
    s = report.summarize(root)
    assert (s["env_steps"], s["wall_s"]) == (15000, 190.0)


def test_latest_evaluation_is_shown_with_its_own_env_step(tmp_path):
    root = make_run(tmp_path / "run", variant="a")
    rd = run_dir.open_existing(root)
    with MetricsLogger(rd, resume_step=10000, tensorboard=False) as log:
        log.log(15000, {"critic_loss": np.array([0.1, 0.2])}, 10.0)  # no eval at 15k
    s = report.summarize(root)
    assert (s["env_steps"], s["eval_final_step"], s["wall_s"]) == (15000, 10000, 160.0)
    row = report.study_table([s]).splitlines()[2]
    assert row.startswith("| a | — | 300 ± 100 (at 10k) | 350 |") and row.endswith(
        "| 15k | 2.7 min |"
    )


def test_sweep_without_study_has_a_variant_column(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    make_run(sweep / "tau=0.01", variant="tau=0.01")
    make_run(sweep / "tau=0.001", variant="tau=0.001")
    assert report.main([str(sweep)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| task | variant | Gymnasium return")
    assert len(lines[1].split("|")) == len(lines[0].split("|"))
    assert lines[2].startswith("| Hopper-v5 | tau=0.001 |")
    assert lines[3].startswith("| Hopper-v5 | tau=0.01 |")
    # One run, or runs that are no variants, keep the plain table.
    assert report.main([str(sweep / "tau=0.01")]) == 0
    assert capsys.readouterr().out.startswith("| task | Gymnasium return")


def test_time_to_target_return(tmp_path, capsys):
    root = make_run(tmp_path / "run")  # seed means 15, 200, 300 at 0, 5k, 10k (1, 60, 150 s)
    assert report.main([str(root), "--target", "200"]) == 0
    header, _, row = capsys.readouterr().out.splitlines()
    assert header.endswith("| time to eval return 200 (mean over seeds) |")
    assert row.endswith("| 60 s, 5k steps |")
    assert report.main([str(root), "--target", "250", "--study"]) == 0
    assert (
        capsys.readouterr().out.splitlines()[2].endswith("| 10k | 2.5 min | 2.5 min, 10k steps |")
    )
    assert report.main([str(root), "--target", "1000"]) == 0
    assert capsys.readouterr().out.splitlines()[2].endswith("| not reached (best 300) |")
    assert report.main([str(root), "--target", "nan"]) == 2
    assert "--target must be a finite number" in capsys.readouterr().err


def test_pool_makes_one_row_of_the_seeds_of_one_setting(tmp_path, capsys):
    # Two runs of one setting (seeds 0 and 5, two seed indices each), a rerun of seed 0, and a
    # run of another task: the first two pool into one row over their four seeds.
    a = make_run(tmp_path / "a", seed=0, evals=[_evaluation(10000, [1000.0, 2000.0])])
    b = make_run(tmp_path / "b", seed=5, evals=[_evaluation(8000, [3000.0, 4000.0])])
    again = make_run(tmp_path / "again", seed=0, evals=[_evaluation(10000, [10.0, 20.0])])
    ant = make_run(tmp_path / "ant", env="ant", seed=1, evals=[_evaluation(10000, [7.0, 9.0])])
    rows = report.pool_seeds([report.summarize(p) for p in (a, b, ant)])
    assert [r["env"] for r in rows] == ["hopper", "ant"]
    hopper = rows[0]
    assert hopper["num_seeds"] == 4 and hopper["runs"] == 2
    assert hopper["evaluation"]["gym_mean"] == 2500.0
    assert hopper["evaluation"]["gym_std"] == pytest.approx(np.std([1000, 2000, 3000, 4000]))
    line = report.results_table(rows).splitlines()[2]
    assert "**2500 ± 1118** (4 seed(s) x 10 episodes, step 8k-10k) | 4 | 10k |" in line
    assert len(report.pool_seeds([report.summarize(p) for p in (a, again)])) == 2

    assert report.main(["--pool", str(a), str(b)]) == 0
    assert capsys.readouterr().out.count("Hopper-v5") == 1
    assert report.main(["--pool", "--study", str(a)]) == 2
    assert "does not combine" in capsys.readouterr().err


# --- the generated tables of RESULTS.md and README.md --------------------------------------


def test_committed_tables_equal_the_rebuilt_ones():
    """RESULTS.md and README.md hold exactly what `report --results-md` builds from
    results/runs/; after a new record or a changed spec, run it and commit the result."""
    assert report.refresh_markdown(check=True) == []


def _resolved(command: str, seed: int | None = None):
    import dataclasses
    import shlex

    from ddpg_jax import settings

    argv = shlex.split(command.replace("{seed}", str(seed)).replace("=S ", f"={seed} "))[3:]
    argv = [a for a in argv if not a.startswith("[") and not a.endswith("]")]
    resolved = settings.resolve(settings.build_parser().parse_args(argv), "cpu")
    return dataclasses.asdict(resolved.cfg), resolved.run


def _recorded(path):
    import dataclasses

    cfg, extra = run_dir.load_config(run_dir.open_existing(path))
    return dataclasses.asdict(cfg), extra


def test_every_row_command_gives_its_records_settings():
    """A row's command, run today, trains what its records ran: for the presets this says the
    records are of the current presets; a preset change that makes it fail needs new runs."""
    checked = 0
    for table in report.load_spec():
        for row in table.get("rows", []) if table["kind"] != "placeholder" else []:
            for path in row["records"]:
                recorded, extra = _recorded(report.RECORDS / path)
                seed = extra["run"]["seed"]
                resolved, run = _resolved(row["command"] + " ", seed)
                assert run.seed == seed, (table["name"], path)
                assert resolved == recorded, (table["name"], path)
                checked += 1
    assert checked >= 30


def test_every_sweep_command_gives_its_variants_settings():
    import shlex

    for table in report.load_spec():
        if table["kind"] != "study" or " ddpg_jax.sweep " not in f" {table['command']} ":
            continue
        words = shlex.split(table["command"])
        base = " ".join(w for i, w in enumerate(words) if "--grid" not in words[i - 1 : i + 1])
        for path in table["records"]:
            for variant in report.run_dirs_named([str(report.RECORDS / path)]):
                recorded, extra = _recorded(variant)
                flags = " ".join(f"--{kv}" for kv in extra["variant"].split(","))
                resolved, _ = _resolved(f"{base} {flags}")
                assert resolved == recorded, (table["name"], variant)


def test_records_cell_groups_seeds_and_links_folders():
    cell = report.records_cell(["study-ant/b128_s0", "study-ant/b128_s1", "study-ant/preset_s3"])
    assert cell == "[study-ant](results/runs/study-ant): b128_s{0,1}, preset_s3"
    assert report.records_cell(["ip"]) == "[ip](results/runs/ip)"


def test_fill_blocks_replaces_only_marked_bodies():
    text = "a\n<!-- report:t -->\nold\n<!-- /report:t -->\nb\n"
    assert report.fill_blocks(text, {"t": "new"}) == (
        "a\n<!-- report:t -->\nnew\n<!-- /report:t -->\nb\n"
    )
    with pytest.raises(report.UsageError):
        report.fill_blocks("<!-- report:x -->\n<!-- /report:x -->", {})
