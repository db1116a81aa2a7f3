from __future__ import annotations

import uuid

from line_webhook.retry_keys import RETRY_KEY_NAMESPACE, retry_key

JOB_ID = "8c0f6a52-3b1e-4f7a-9a4e-2d7c1b9e0f11"


def test_the_first_push_key_is_uuid5_of_the_job_id_in_the_fixed_namespace() -> None:
    assert retry_key(JOB_ID) == str(uuid.uuid5(RETRY_KEY_NAMESPACE, JOB_ID))
    # Pinned: a change here would make LINE show a retried delivery twice after an upgrade.
    assert str(RETRY_KEY_NAMESPACE) == "5b0d7c1e-2f43-4d8a-9a57-6c1e0b7f3a21"


def test_keys_are_stable_and_in_the_form_line_requires() -> None:
    key = retry_key(JOB_ID, 2)
    assert key == retry_key(JOB_ID, 2)
    parsed = uuid.UUID(key)
    assert str(parsed) == key  # lowercase hex with hyphens
    assert parsed.version == 5


def test_each_batch_and_each_job_has_its_own_key() -> None:
    keys = {retry_key(JOB_ID, batch) for batch in range(4)} | {retry_key(str(uuid.uuid4()))}
    assert len(keys) == 5
