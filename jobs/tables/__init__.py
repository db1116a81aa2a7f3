"""Table Storage.

- `store`: `JobStore`, job rows with ETag-guarded transitions, listing and deletion.
- `entities`: how a job is laid out in a row and in its index entries.
- `index`: the per-user (and `all`) listing index; `idempotency`: idempotency records.
- `cursor`: opaque listing cursors; `ensure`: lazy table creation.
- `events`: `EventLedger`, inbound event ids claimed once (webhook de-duplication).
"""
