"""The job queue.

- `base`: `JobQueue`, the interface (send, probe, redrive, close).
- `storage`: `StorageJobQueue`, an Azure Storage queue and its poison queue.
- `servicebus`: `ServiceBusJobQueue`, a Service Bus queue and its dead-letter queue.
"""
