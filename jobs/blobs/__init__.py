"""Blob Storage.

- `outputs`: `OutputStore`, images and previews under deterministic names, read-only SAS URLs
  (account-key or user-delegation signers), and the Pillow work (PNG check, JPEG preview).
"""
