"""Blob Storage.

- `outputs`: `OutputStore`, images and previews under deterministic names, read URLs.
- `previews`: the Pillow work (PNG check, JPEG preview); `sas`: read-only SAS signers.
"""
