"""Training runs: the training-project contract, recorded runs with lineage, and the validation gate."""

from mlops.runs.evaluation import LOWER_IS_BETTER, evaluate, improvement
from mlops.runs.store import RunStore, new_run_id

__all__ = ["LOWER_IS_BETTER", "RunStore", "evaluate", "improvement", "new_run_id"]
