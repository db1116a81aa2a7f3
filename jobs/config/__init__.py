"""Configuration.

- `settings`: `Settings`, every setting the app reads, loaded and checked once.
- `connections`: Storage and Service Bus connections (connection strings or identity-based URIs).
- `pacing`: which shared provider limiter (and which rate) a job's calls go through.
"""
