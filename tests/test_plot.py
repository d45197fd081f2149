"""Learning-curve plot: a PNG from metrics.csv files written with MetricsLogger, against env
steps or wall-clock time; the caller's matplotlib backend is left alone; bad input."""

from __future__ import annotations

import numpy as np
import pytest

from ddpg_jax import Config, plot, run_dir
from ddpg_jax.metrics_log import MetricsLogger

NUM_SEEDS = 3


def make_run(root, env: str = "hopper", variant: str | None = None, slope: float = 1.0):
    """A run dir whose metrics.csv looks like training: losses every chunk, eval every other."""
    rd = run_dir.create(root, env)
    extra = {"env": env, **({"variant": variant} if variant else {})}
    run_dir.save_config(rd, Config(num_seeds=NUM_SEEDS), extra)
    rng = np.random.default_rng(0)
    with MetricsLogger(rd, tensorboard=False) as logger:
        logger.log(0, {"eval_return": rng.normal(10, 2, NUM_SEEDS)}, 0.0)
        for k in range(1, 11):
            step = k * 5000
            row = {
                "critic_loss": np.abs(rng.normal(1.0 / k, 0.1, NUM_SEEDS)),
                "q_mean": slope * k + rng.normal(0, 0.5, NUM_SEEDS),
            }
            if k % 2 == 0:
                row["eval_return"] = slope * 100 * k + rng.normal(0, 30, NUM_SEEDS)
            logger.log(step, row, float(k))
    return rd


def _main(argv, capsys):
    code = plot.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_plot_writes_png(tmp_path, capsys):
    a = make_run(tmp_path / "ddpg-a")
    b = make_run(tmp_path / "b", variant="td3", slope=1.5)
    out = tmp_path / "curves.png"
    code, stdout, err = _main([a.root, b.root, "--out", out], capsys)
    assert code == 0, err
    assert out.is_file() and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    image = matplotlib.image.imread(out)
    assert image.shape[1] > 1000 and image.shape[0] > 300  # 12 x 3.6 in at 120 dpi
    run = plot.load_run(str(b.root))
    assert run["label"] == "td3" and plot.load_run(str(a.root))["label"] == "ddpg-a"
    steps, mean, std, seeds = run["curves"]["eval_return"]
    assert steps.tolist() == [0, 10000, 20000, 30000, 40000, 50000]
    assert (seeds == NUM_SEEDS).all() and np.isfinite(mean).all() and (std > 0).all()
    assert run["curves"]["critic_loss"][0][0] == 5000  # no loss logged at step 0


def test_plot_leaves_the_callers_backend_alone(tmp_path, capsys):
    import matplotlib

    before = matplotlib.get_backend()
    other = "svg" if before.lower() != "svg" else "pdf"
    matplotlib.use(other)  # e.g. a notebook's inline backend, which Agg would replace
    try:
        a = make_run(tmp_path / "a")
        code, _, err = _main([a.root, "--out", tmp_path / "c.png"], capsys)
        assert code == 0, err
        assert matplotlib.get_backend().lower() == other
    finally:
        matplotlib.use(before)


def test_plot_against_wall_clock_time(tmp_path, capsys):
    a = make_run(tmp_path / "a")  # chunk k logged at wall time k seconds
    run = plot.load_run(str(a.root))
    steps = run["curves"]["eval_return"][0]
    np.testing.assert_allclose(plot.wall_clock(run, steps), [0, 2, 4, 6, 8, 10])
    out = tmp_path / "time.png"
    code, _, err = _main([a.root, "--out", out, "--x", "time"], capsys)
    assert code == 0, err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, err = _main([a.root, "--out", out, "--x", "hours"], capsys)
    assert code == 2 and "--x" in err and "time" in err


def test_plot_labels_option(tmp_path, capsys):
    a = make_run(tmp_path / "a")
    code, _, err = _main([a.root, "--out", tmp_path / "c.svg", "--labels", "mine"], capsys)
    assert code == 0, err
    assert (tmp_path / "c.svg").is_file()


@pytest.fixture
def paths(tmp_path):
    good = make_run(tmp_path / "good")
    empty = run_dir.create(tmp_path / "empty", "hopper")
    run_dir.save_config(empty, Config(), {"env": "hopper"})
    return {
        "good": good.root,
        "empty": empty.root,
        "missing": tmp_path / "nope",
        "out": tmp_path / "x.png",
        "badout": tmp_path / "no_dir" / "x.png",
    }


BAD_INPUTS = {
    "missing run dir": (["{missing}", "--out", "{out}"], "does not exist"),
    "no metrics": (["{empty}", "--out", "{out}"], "no metrics"),
    "no --out": (["{good}"], "--out"),
    "bad suffix": (["{good}", "--out", "x.jpeg"], ".png"),
    "missing out folder": (["{good}", "--out", "{badout}"], "does not exist"),
    "label count": (["{good}", "--out", "{out}", "--labels", "a,b"], "--labels"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line(case, paths, capsys):
    argv, expected = BAD_INPUTS[case]
    code, out, err = _main([a.format(**paths) for a in argv], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: ") and expected in err, err
