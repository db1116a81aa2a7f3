"""What every HTTP function answers with.

- `responses`: RFC 9457 problem details and JSON answers.
- `urls`: the client's base URL and status URLs under host.json's route prefix.
- `resource`: the public JSON shape of a job.
- `outage`: a storage outage told from a bug, and its 503 answer.
- `principal`: who the caller is behind App Service Authentication, and which jobs are theirs.
"""
