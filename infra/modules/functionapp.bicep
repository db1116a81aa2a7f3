// The function app on a Flex Consumption plan (FC1, Linux, Python 3.11), running as the
// user-assigned identity: deployment package, host storage and Key Vault references all use it.

param name string
param planName string
param location string
param tags object = {}
param identityId string
@description('App settings as a list of { name, value }.')
param appSettings array
param storageBlobEndpoint string
param deploymentContainerName string
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int
@description('Always-ready instances for the `durable` function group (Durable Functions triggers).')
@minValue(0)
param durableAlwaysReadyInstances int = 0

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  // azd finds the app to deploy the `api` service (azure.yaml) to by this tag.
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      // The app's own health route: 200 while table, blob and queue answer, 503 naming the one that does not.
      healthCheckPath: '/api/health'
      appSettings: appSettings
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        // Microsoft's guidance for Durable Functions on Flex: one always-ready instance in the `durable`
        // group removes the cold start of the first orchestration after a quiet spell (billed while idle).
        alwaysReady: durableAlwaysReadyInstances > 0 ? [
          {
            name: 'durable'
            instanceCount: durableAlwaysReadyInstances
          }
        ] : []
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// Deployments go through the blob container with the identity; publishing with basic credentials
// (FTP and the SCM site's user name and password) stays off.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = app.name
output defaultHostName string = app.properties.defaultHostName
output url string = 'https://${app.properties.defaultHostName}'
