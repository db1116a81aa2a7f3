"""The job domain, free of I/O.

- `models`: `Job`, `JobStatus`, `JobKind`, `Channel`, `JobRequest`, `Output`, `JobError`, limits.
- `transitions`: pure status changes applied to a freshly read job.
- `errors`: every exception the core raises.
- `quota_rules`: per-user quota decisions; `limiter_rules`: the provider limiter's decisions.
"""
