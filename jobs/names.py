"""Storage names shared by every part of the app (tables, container, queue).

Names derived from them live with their stores: blob names in `jobs.blobs.outputs`, the poison queue
in `jobs.queues.storage`.
"""

from __future__ import annotations

JOBS_TABLE = "jobs"
JOB_INDEX_TABLE = "jobindex"
IDEMPOTENCY_TABLE = "idempotency"
WEBHOOK_EVENTS_TABLE = "webhookevents"
QUOTAS_TABLE = "quotas"
PACING_TABLE = "pacing"
CONVERSATIONS_TABLE = "conversations"
DELETIONS_TABLE = "deletions"
OUTPUTS_CONTAINER = "outputs"
DEFAULT_QUEUE_NAME = "generation-jobs"
# Review decisions as messages: the `review_job` function's trigger, so the portal can run it with input.
REVIEW_DECISIONS_QUEUE = "review-decisions"
