// Key Vault in RBAC mode for the app's secrets. A secret is stored only when its value is given;
// the function app references it with @Microsoft.KeyVault(SecretUri=...) through its identity.

param name string
param location string
param tags object = {}
@secure()
param lineChannelSecret string = ''
@secure()
param lineChannelAccessToken string = ''
@secure()
param openAiApiKey string = ''
@secure()
param azureOpenAiApiKey string = ''
@secure()
param callbackSigningSecret string = ''

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    // A deleted vault and its secrets stay recoverable for the whole retention; this cannot be undone.
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
  }
}

resource lineSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(lineChannelSecret)) {
  parent: vault
  name: 'line-channel-secret'
  properties: {
    contentType: 'text/plain'
    value: lineChannelSecret
  }
}

resource lineToken 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(lineChannelAccessToken)) {
  parent: vault
  name: 'line-channel-access-token'
  properties: {
    contentType: 'text/plain'
    value: lineChannelAccessToken
  }
}

resource openAiKey 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(openAiApiKey)) {
  parent: vault
  name: 'openai-api-key'
  properties: {
    contentType: 'text/plain'
    value: openAiApiKey
  }
}

resource azureOpenAiKey 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(azureOpenAiApiKey)) {
  parent: vault
  name: 'azure-openai-api-key'
  properties: {
    contentType: 'text/plain'
    value: azureOpenAiApiKey
  }
}

resource callbackSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(callbackSigningSecret)) {
  parent: vault
  name: 'callback-signing-secret'
  properties: {
    contentType: 'text/plain'
    value: callbackSigningSecret
  }
}

// Version-less URIs, so a secret updated by a later `azd provision` is picked up on the next refresh.
var secretsUri = '${vault.properties.vaultUri}secrets/'

output name string = vault.name
output id string = vault.id
output lineChannelSecretUri string = '${secretsUri}line-channel-secret'
output lineChannelAccessTokenUri string = '${secretsUri}line-channel-access-token'
output openAiApiKeyUri string = '${secretsUri}openai-api-key'
output azureOpenAiApiKeyUri string = '${secretsUri}azure-openai-api-key'
output callbackSigningSecretUri string = '${secretsUri}callback-signing-secret'
