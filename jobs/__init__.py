"""The core every channel shares: the Job record and the stores it lives in.

Sub-packages, one concern each (import from their modules; the packages re-export nothing):

- `jobs.domain`: the Job model and its statuses, pure transitions, the errors.
- `jobs.tables`: Table Storage: the job store (row, index, idempotency, cursor) and the event ledger.
- `jobs.blobs`: Blob Storage: outputs and previews, read-only SAS URLs.
- `jobs.queues`: the job queue (`JobQueue`: send, probe, redrive) on Storage queues or Service Bus.
- `jobs.config`: the typed settings, loaded once, and the connection settings.
- `jobs.http`: HTTP answers (problem details, JSON), absolute URLs and the public job resource.
- `jobs.names`: storage names (tables, container, queue).
- `jobs.contracts`: names and payloads shared across packages (functions, events, instance ids, job
  errors, activity payloads, the job queue message).
- `jobs.services`: the stores built from the settings, one set per event loop.
- `jobs.removal`: removing everything of a deleted job (row, blobs, orchestration history).

The core imports no channel package (`generation`, `status`, `line_webhook`).
"""
