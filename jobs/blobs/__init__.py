"""Blob Storage.

- `outputs`: `OutputStore`, images and previews under deterministic names, and read-only SAS URLs
  (account-key or user-delegation signers).
- `previews`: the Pillow work (PNG check, JPEG preview).
"""
