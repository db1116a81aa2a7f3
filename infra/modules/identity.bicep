// The user-assigned identity the function app runs as: host storage, app data, Service Bus,
// Key Vault references, Application Insights ingestion and Azure OpenAI all use it.

param name string
param location string
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
