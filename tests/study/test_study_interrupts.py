"""Clean endings: an unreachable Dask scheduler is one line after a short timeout; Ctrl-C exits 130."""

import os
import signal
import socket
import subprocess
import time

import polars as pl
import pytest
from study_testkit import TINY, cli_command, run_files

from dmarl_des.cli import main
from dmarl_des.errors import ConfigError
from dmarl_des.study import Study, run_study


def _closed_port() -> int:
    """A localhost port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_no_scheduler_at_address_is_a_config_error_after_the_timeout(tmp_path):
    pytest.importorskip("distributed")
    address = f"tcp://127.0.0.1:{_closed_port()}"
    study = Study(TINY, grid={"world.noise": [0.0]}, base_overrides={"horizon": 2.0})
    t0 = time.monotonic()
    with pytest.raises(ConfigError) as info:
        run_study(
            study, tmp_path, executor="dask", address=address, connect_timeout=1.0, progress=False
        )
    assert time.monotonic() - t0 < 20  # the 1 s timeout, not the 30 s default of distributed
    assert info.value.field == "--address" and info.value.value == address
    assert "1 s" in info.value.allowed


def test_cli_address_without_scheduler_prints_one_line(tmp_path, capsys):
    pytest.importorskip("distributed")
    address = f"tcp://127.0.0.1:{_closed_port()}"
    argv = ["study", str(TINY), "--seeds", "1", "--set", "horizon=2", "--executor", "dask"]
    argv += ["--address", address, "--connect-timeout", "1", "--out", str(tmp_path), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("dmarl: configuration error: --address") and address in err


def _group_ends(pgid: int, timeout: float = 15.0) -> bool:
    """True once no process of the group is left (the command's workers included)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def _interrupt(args, ready, cwd):
    """Start `dmarl ARGS`, wait for ``ready`` to appear, send SIGINT to its process group."""
    proc = subprocess.Popen(
        cli_command(*args),
        cwd=cwd,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the command never got going"
            time.sleep(0.02)
        time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert _group_ends(proc.pid), "a worker process outlived the command"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, out, err


@pytest.mark.slow
def test_ctrl_c_during_run_exits_130_with_one_line(tmp_path):
    ready = tmp_path / "ready"
    args = ["run", str(TINY), "--set", "horizon=1e6", "--set", f"world.ready_file={ready}"]
    args += ["--out", str(tmp_path / "out"), "--quiet"]
    code, _, err = _interrupt(args, ready, tmp_path)
    assert code == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert err.strip().splitlines() == [
        "dmarl: interrupted; no table written (a run writes its tables when it ends)"
    ]
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_ctrl_c_during_a_pooled_study_exits_130_and_says_what_was_kept(tmp_path):
    ready = tmp_path / "ready"
    out = tmp_path / "out"
    # the last grid point runs for ever and announces itself; the others finish first
    args = ["study", str(TINY), "--grid", "horizon=2,3,1e6", "--seeds", "1"]
    args += ["--set", f"world.ready_file={ready}", "--workers", "2"]
    args += ["--out", str(out), "--quiet", "--no-report"]
    code, _, err = _interrupt(args, ready, tmp_path)
    assert code == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dmarl: interrupted; ")
    complete = [p for p in run_files(out) if pl.read_parquet(p)["status"][0] == "ok"]
    assert f"{len(complete)} of 3 runs complete and kept under {out}" in lines[0]
    assert "the same command resumes" in lines[0]
