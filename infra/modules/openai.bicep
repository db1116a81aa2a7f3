// An optional Azure OpenAI account with an image model deployment and a text model deployment.
// Local (key) authentication is off: the app calls it with its managed identity, which gets the
// Cognitive Services OpenAI User role here (the module is deployed only when it is wanted).

param name string
param location string
param tags object = {}
param imageModelName string
param imageModelVersion string
param imageDeploymentSku string
param imageModelCapacity int
param textModelName string
param textModelVersion string
param textDeploymentSku string
param textModelCapacity int
@description('Principal id of the identity that calls the models.')
param principalId string

var cognitiveServicesOpenAiUser = '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd'

resource account 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  name: name
  location: location
  tags: tags
  kind: 'OpenAI'
  sku: {
    name: 'S0'
  }
  properties: {
    customSubDomainName: name
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

resource imageDeployment 'Microsoft.CognitiveServices/accounts/deployments@2024-10-01' = {
  parent: account
  name: imageModelName
  sku: {
    name: imageDeploymentSku
    capacity: imageModelCapacity
  }
  properties: {
    model: {
      format: 'OpenAI'
      name: imageModelName
      version: imageModelVersion
    }
  }
}

// Deployments of one account are created one after the other; in parallel the second is refused.
resource textDeployment 'Microsoft.CognitiveServices/accounts/deployments@2024-10-01' = {
  parent: account
  name: textModelName
  sku: {
    name: textDeploymentSku
    capacity: textModelCapacity
  }
  properties: {
    model: {
      format: 'OpenAI'
      name: textModelName
      version: textModelVersion
    }
  }
  dependsOn: [
    imageDeployment
  ]
}

resource openAiUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, principalId, cognitiveServicesOpenAiUser)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', cognitiveServicesOpenAiUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output name string = account.name
output id string = account.id
output endpoint string = account.properties.endpoint
output imageDeploymentName string = imageDeployment.name
output textDeploymentName string = textDeployment.name
