// The job queue on Azure. Duplicate detection drops a second message for the same job (message id =
// job id) within the window: that catches a send the SDK retried after a lost acknowledgement. The
// window is shorter than the 3 minutes after which maintenance re-sends a lost job's message, so that
// re-send is never taken for a duplicate. After maxDeliveryCount failed deliveries a message is
// dead-lettered, and the redrive_dead_letters function moves it back.

param name string
param location string
param tags object = {}
param queueName string

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource queue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: queueName
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT2M'
    maxDeliveryCount: 5
    lockDuration: 'PT5M'
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P1D'
    requiresSession: false
    enablePartitioning: false
  }
}

output name string = namespace.name
output id string = namespace.id
output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
output queueName string = queue.name
