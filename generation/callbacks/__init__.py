"""Signed completion callbacks (Standard Webhooks): the URL guard, the signature, the delivery."""
