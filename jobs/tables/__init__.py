"""Table Storage.

- `store`: `JobStore`, job rows with ETag-guarded transitions, listing and deletion.
- `entities`: how a job is laid out in a row, its index entries and its idempotency record; lazy table
  creation.
- `index`: the per-user (and `all`) listing index and its opaque listing cursors.
- `events`: `EventLedger`, inbound event ids claimed once (webhook de-duplication).
- `cas`: read-modify-write of one entity under its ETag, for records many instances share.
- `quotas`: `QuotaStore`, per-user quota records; `limiter`: `SlotLimiter`, the shared provider limiter.
- `deletions`: `DeletionLedger`, tombstones of deleted jobs until nothing of them is left.
"""
