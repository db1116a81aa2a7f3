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
@description('Client id of the Entra ID app registration for App Service Authentication; empty leaves it off.')
param easyAuthClientId string = ''

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

// Optional sign-in (Easy Auth) with Entra ID. The platform then signs people in, writes the caller into
// X-MS-CLIENT-PRINCIPAL-* headers (stripping any a client sent) and sets WEBSITE_AUTH_ENABLED, which is
// how the app knows to make the principal the owner of its jobs. Function keys still apply on top.
resource auth 'Microsoft.Web/sites/config@2024-04-01' = if (!empty(easyAuthClientId)) {
  // checkov reads every sites/config resource as the site's `web` config; these checks are about that one.
  //checkov:skip=CKV_AZURE_13:this resource is the App Service Authentication setting itself
  //checkov:skip=CKV_AZURE_63:HTTP logging belongs to the web config, not to authsettingsV2
  //checkov:skip=CKV_AZURE_65:detailed errors belong to the web config, not to authsettingsV2
  //checkov:skip=CKV_AZURE_66:request tracing belongs to the web config, not to authsettingsV2
  //checkov:skip=CKV_AZURE_80:no .NET Framework here (Python app)
  //checkov:skip=CKV_AZURE_88:storage mounts belong to the web config, not to authsettingsV2
  parent: app
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'RedirectToLoginPage'
      redirectToProvider: 'azureactivedirectory'
      // LINE cannot sign in (its signature is the check); the probe and the API description hold nothing private.
      excludedPaths: [
        '/api/line/webhook'
        '/api/health'
        '/api/openapi.json'
      ]
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: easyAuthClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            easyAuthClientId
          ]
        }
      }
    }
    login: {
      // The web page asks /.auth/me who is signed in, which the token store answers.
      tokenStore: {
        enabled: true
      }
    }
    httpSettings: {
      requireHttps: true
    }
  }
}

output name string = app.name
output defaultHostName string = app.properties.defaultHostName
output url string = 'https://${app.properties.defaultHostName}'
