"""Task metrics: a model judged by what it is for — classify (top-1, agreement), detect (detections kept/added,
mAP with COCO annotations), landmarks (pixel error, NME), segment (mIoU), embed (cosine, k-NN overlap), regress
(MAE/RMSE) or the user's own metric — each with a paired seeded bootstrap interval, read by compare's reports and
by every budget (``--max-drop``, ``--optimize accuracy``, ``check``) through ``TaskFigures.loss``.

``spec.resolve`` picks the task (flags, the file's record, else a guess from the outputs) and what it needs;
``judge.judge`` computes its figures from two runs' outputs. One module per task; numpy only (the board side).
"""

from edgelite.runtime.tasks.base import METRICS, TASKS, EvalContext, MetricInfo, TaskFigures, TaskMetric

__all__ = ["METRICS", "TASKS", "EvalContext", "MetricInfo", "TaskFigures", "TaskMetric"]
