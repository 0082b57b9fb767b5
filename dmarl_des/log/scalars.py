"""TensorBoard scalars of a training run, for people who watch curves live (the `tensorboard` extra).

Written with ``torch.utils.tensorboard``: ``episode/team_return`` (and ``discounted_return``,
``success``) per episode, tagged by phase, at the episode's number; ``train/<metric>`` per learner
update at the update's number; ``eval/mean_return`` per evaluation round at the number of
training episodes before it. The Parquet tables stay the record; this is a view.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dmarl_des.errors import ConfigError
from dmarl_des.log.recorder import Recorder

SKIPPED = frozenset({"run_id", "update", "episode", "sim_time", "wall_s"})


class TensorBoardScalars:
    """Writes a run's scalars into an event file under ``folder`` as the run goes."""

    def __init__(self, folder: str | Path, recorder: Recorder | None = None) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError(
                "--tensorboard",
                str(folder),
                "TensorBoard installed: pip install -e '.[tensorboard]'",
            ) from None
        self.writer = SummaryWriter(log_dir=str(folder))
        self.recorder = recorder
        self._train_rows = 0

    def episode(self, row: dict[str, Any]) -> None:
        """The scalars of one episode row, and the updates recorded since the last call."""
        phase, step = row.get("phase", "train"), int(row["episode"])
        for name in ("team_return", "discounted_return", "success"):
            if row.get(name) is not None:
                self.writer.add_scalar(f"episode/{name}/{phase}", float(row[name]), step)
        if self.recorder is not None and self.recorder.has("train"):
            for update in self.recorder.rows("train", self._train_rows):
                for name, value in update.items():
                    if name not in SKIPPED and value is not None:
                        self.writer.add_scalar(f"train/{name}", float(value), int(update["update"]))
                self._train_rows += 1

    def evaluation(self, trained_episodes: int, mean_return: float) -> None:
        self.writer.add_scalar("eval/mean_return", mean_return, trained_episodes)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()
