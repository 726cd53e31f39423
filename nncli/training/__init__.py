"""Training: the Trainer's loop, early stopping, the run state its checkpoints keep."""

from nncli.training.batches import TrainingError
from nncli.training.state import RunState
from nncli.training.stopping import EarlyStopping
from nncli.training.trainer import RunResult, Trainer, train

__all__ = ["EarlyStopping", "RunResult", "RunState", "Trainer", "TrainingError", "train"]
