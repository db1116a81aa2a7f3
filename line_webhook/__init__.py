"""LINE channel: the webhook (signature, events → jobs) and the delivery activity (reply or push)."""
