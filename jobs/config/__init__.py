"""Configuration.

- `settings`: `Settings`, every setting the app reads, loaded and checked once (with what follows from
  them: which shared provider limiter, and which rate, each kind's calls go through).
- `connections`: Storage and Service Bus connections (connection strings or identity-based URIs).
"""
