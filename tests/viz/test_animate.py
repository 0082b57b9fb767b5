"""`dmarl animate`: frames of a recorded episode — roles, links, crashes, the map — as GIF or MP4."""

import shutil

import numpy as np
import polars as pl
import pytest
from PIL import Image

from dmarl_des.cli import main
from dmarl_des.scenario import load_scenario
from dmarl_des.study import run_scenario
from dmarl_des.viz.animate import check_output
from dmarl_des.viz.raster import draw_scene, plot_box
from dmarl_des.viz.replay import scenes_of_run
from dmarl_des.viz.scene import ROLE_COLOURS

CRASHES = {
    "n_agents": 30,
    "horizon": 20.0,
    "faults.crash.fraction": 0.3,
    "faults.crash.start": "at",
    "faults.crash.at": 8.0,
    "net.loss.model": "bernoulli",
    "net.loss.p": 0.2,
    "record.trace_every": 1.0,
    "episodes": 2,
}


@pytest.fixture(scope="module")
def coverage_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("coverage_run")
    run_scenario(load_scenario("scenarios/coverage.py", CRASHES), out=out)
    return out


def _pixels(image, colour):
    """Pixels of about ``colour`` in the plot area (not the caption or the legend)."""
    left, top, side = plot_box(image.width)
    rgb = np.asarray(image.convert("RGB"), dtype=int)[top : top + side, left : left + side]
    return int((np.abs(rgb - np.array(colour)).sum(axis=-1) < 40).sum())


def test_the_gif_has_one_frame_per_trace_sample(coverage_run, tmp_path, capsys):
    out = tmp_path / "run.gif"
    assert main(["animate", str(coverage_run), "--out", str(out), "--size", "240"]) == 0
    assert "20 frames, 240×240 px" in capsys.readouterr().out
    gif = Image.open(out)
    assert gif.n_frames == 20 and gif.size == (240, 240)  # t = 0, 1, …, 19
    assert gif.info["loop"] == 0 and gif.info["duration"] == 100
    assert out.stat().st_size < 400_000
    first, later = gif.copy(), (gif.seek(12), gif.copy())[1]
    crashed = ROLE_COLOURS["crashed"]
    assert _pixels(first, crashed) == 0 and _pixels(later, crashed) > 50  # crashes at t = 8
    thinned = tmp_path / "thin.gif"
    args = ["animate", str(coverage_run), "--out", str(thinned), "--episode", "1"]
    assert main([*args, "--every", "3", "--max-frames", "5", "--fps", "4", "--size", "200"]) == 0
    thin = Image.open(thinned)
    assert thin.n_frames == 5 and thin.size == (200, 200) and thin.info["duration"] == 250


def test_scenes_replay_the_trace_its_links_crashes_and_map(coverage_run):
    scenes = scenes_of_run(coverage_run, episode=0)
    trace = pl.read_parquet(next((coverage_run / "trace").rglob("*.parquet")))
    trace = trace.filter(pl.col("episode") == 0)
    assert [s.time for s in scenes] == [float(t) for t in range(20)]
    at_9 = trace.filter(pl.col("time") == 9.0)
    scene = scenes[9]
    assert np.allclose(scene.positions, at_9.select("x", "y").to_numpy())
    assert scene.roles == at_9["role"].to_list() and scene.counts()["crashed"] == 9
    assert len(scene.links) == sum(len(ls) for ls in at_9["links"])
    assert [len(s.flashes) for s in scenes].count(9) == 1  # the crash frame only (t = 8)
    assert len(scenes[8].flashes) == 9
    covered = [int((s.world_map.values == 255).sum()) for s in scenes]
    assert covered == sorted(covered) and covered[-1] > covered[1] > 0
    frame = np.asarray(draw_scene(scenes[-1], 300))
    assert frame.shape == (300, 300, 3)


def test_worlds_without_a_space_are_animated_on_a_circle(tmp_path):
    run_scenario(
        load_scenario(
            "scenarios/consensus.py",
            {"n_agents": 8, "horizon": 4.0, "record.trace_every": 1.0},
        ),
        out=tmp_path / "run",
    )
    scenes = scenes_of_run(tmp_path / "run")
    assert len(scenes) == 4
    assert np.allclose(np.hypot(*scenes[0].positions.T), 1.0)
    assert len(scenes[0].links) == 8 * 4 and scenes[0].world_map is None


def test_bad_requests_are_configuration_errors(coverage_run, tmp_path, capsys, monkeypatch):
    untraced = tmp_path / "untraced"
    run_scenario(
        load_scenario("scenarios/consensus.py", {"n_agents": 4, "horizon": 2.0}), out=untraced
    )
    cases = [
        ([str(untraced), "--out", str(tmp_path / "a.gif")], "record.trace_every"),
        ([str(coverage_run), "--out", str(tmp_path / "a.gif"), "--episode", "7"], "[0, 1]"),
        ([str(coverage_run), "--out", str(tmp_path / "a.png")], ".gif or .mp4"),
        ([str(tmp_path / "nothing"), "--out", str(tmp_path / "a.gif")], "RUN_DIR"),
        ([str(coverage_run), "--out", str(tmp_path / "a.gif"), "--size", "20"], "--size"),
    ]
    for args, message in cases:
        assert main(["animate", *args]) == 2
        assert message in capsys.readouterr().err
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert main(["animate", str(coverage_run), "--out", str(tmp_path / "a.mp4")]) == 2
    assert "needs ffmpeg" in capsys.readouterr().err
    assert not list(tmp_path.glob("a.*"))


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffmpeg is not installed")
def test_an_mp4_where_ffmpeg_is_installed(coverage_run, tmp_path):
    import subprocess

    out = check_output(tmp_path / "run.mp4")
    assert main(["animate", str(coverage_run), "--out", str(out), "--size", "240"]) == 0
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
         "stream=width,height,nb_read_frames", "-of", "csv=p=0", str(out)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert probe.stdout.strip() == "240,240,20"
