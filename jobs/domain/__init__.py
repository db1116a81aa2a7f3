"""The job domain, free of I/O.

- `models`: `Job`, `JobStatus`, `JobKind`, `Channel`, `JobRequest`, `Output`, `JobError`, limits, and
  the pure status changes applied to a freshly read job.
- `errors`: every exception the core raises.
- `limiter_rules`: the provider limiter's decisions (the quota decisions live with their store,
  `jobs.tables.quotas`).
"""
