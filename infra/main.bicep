// The whole deployment for `azd up`: a resource group holding the function app (Flex Consumption),
// its storage, the Service Bus job queue, Key Vault, monitoring and, optionally, Azure OpenAI.
// Every connection is identity-based through one user-assigned identity; no keys or connection
// strings are stored anywhere. Parameters and outputs are described in docs/deploy.md.

targetScope = 'subscription'

// ---------------------------------------------------------------- environment
@minLength(1)
@maxLength(64)
@description('Name of the azd environment; names the resource group and seeds unique resource names.')
param environmentName string

@minLength(1)
@description('Azure region for every resource; it must offer the Flex Consumption plan.')
// The regions that offer Flex Consumption (`az functionapp list-flexconsumption-locations`); a region
// outside the list fails here, before anything is created, instead of halfway through the deployment.
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'eastus2euap'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group to create; empty means rg-<environmentName>.')
param resourceGroupName string = ''

// ---------------------------------------------------------------- pipeline
@description('Which provider generates outputs: offline (placeholders, no model needed), openai or azure_openai.')
@allowed([
  'offline'
  'openai'
  'azure_openai'
])
param generationProvider string = 'offline'

@description('Job queue the app uses: servicebus (recommended) or storage.')
@allowed([
  'servicebus'
  'storage'
])
param jobsQueueKind string = 'servicebus'

@description('Seconds a job may run before it is failed with deadline_exceeded.')
@minValue(30)
param generationDeadlineSeconds int = 600

@description('Days jobs, output images and de-duplication records are kept.')
@minValue(1)
param jobRetentionDays int = 30

@description('Durable Functions task hub (letters and digits, starting with a letter). A new name on an upgrade starts orchestrations afresh; maintenance restarts the jobs in flight (docs/deploy.md, Upgrading).')
@minLength(3)
@maxLength(45)
param taskHubName string = 'generationhub'

@description('Token budget of the earlier turns a text job sees of its conversation (estimated; docs/conversations.md).')
@minValue(1)
param conversationMaxTokens int = 4000

@description('Most earlier turns a text job sees of its conversation.')
@minValue(0)
param conversationMaxTurns int = 20

@description('Human review of outputs before delivery: off, flagged (moderation or REVIEW_TERMS) or all (docs/review.md).')
@allowed([
  'off'
  'flagged'
  'all'
])
param reviewMode string = 'off'

@description('Comma-separated terms that hold an output for review (case-insensitive) when reviewMode is flagged.')
param reviewTerms string = ''

@description('Seconds a held output waits for a reviewer before the job fails as review_timeout.')
@minValue(1)
@maxValue(2592000)
param reviewTimeoutSeconds int = 86400

@description('Per-user limit of unfinished jobs; empty means unlimited.')
param quotaJobsInFlight string = ''

@description('Per-user limit of images accepted per UTC day; empty means unlimited.')
param quotaImagesPerDay string = ''

@description('Images per minute the provider allows (shared by every instance); empty: learned from its answers.')
param providerImagesPerMinute string = ''

@description('Requests per minute the provider allows; empty: learned from its answers.')
param providerRequestsPerMinute string = ''

@description('Tokens per minute the text deployment allows; empty: learned from its answers.')
param providerTokensPerMinute string = ''

@description('Simulated latency of the offline provider, in milliseconds.')
@minValue(0)
param offlineLatencyMs int = 1500

// ---------------------------------------------------------------- scale
@description('Most instances the Flex Consumption plan scales out to (Flex accepts 40 to 1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Always-ready instances for the durable group (orchestrators and activities); 0 scales to zero.')
@minValue(0)
@maxValue(10)
param durableAlwaysReadyInstances int = 0

@description('Memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

// ---------------------------------------------------------------- alerts
@description('E-mail address that receives the alerts (docs/operate.md); empty deploys no alert resources.')
param alertEmail string = ''

@description('Alert when more than this percent of the jobs finished in 15 minutes failed.')
@minValue(1)
@maxValue(100)
param alertFailureRatePercent int = 10

@description('Alert when more than this percent of the provider calls in 15 minutes were answered 429.')
@minValue(1)
@maxValue(100)
param alertRateLimitedPercent int = 20

@description('Alert when more than this many invocations failed or exceptions were logged in 15 minutes.')
@minValue(0)
param alertFunctionErrorCount int = 5

// ---------------------------------------------------------------- OpenAI
@secure()
@description('OpenAI API key (GENERATION_PROVIDER=openai); stored in Key Vault when given.')
param openAiApiKey string = ''

@description('OpenAI-compatible base URL; empty means api.openai.com.')
param openAiBaseUrl string = ''

@description('OpenAI model for image jobs.')
param openAiImageModel string = 'gpt-image-1'

@description('OpenAI model for text jobs.')
param openAiTextModel string = 'gpt-4o-mini'

// ---------------------------------------------------------------- Azure OpenAI
@description('Create an Azure OpenAI account with an image and a text model deployment.')
param deployAzureOpenAi bool = false

@description('Region of the Azure OpenAI account; empty means the main location.')
param azureOpenAiLocation string = ''

@description('Endpoint of an existing Azure OpenAI account (used when deployAzureOpenAi is false).')
param azureOpenAiEndpoint string = ''

@secure()
@description('API key of an existing Azure OpenAI account; empty means Entra ID with the app identity.')
param azureOpenAiApiKey string = ''

@description('Azure OpenAI API version the app calls.')
param openAiApiVersion string = '2025-04-01-preview'

@description('Image deployment name on an existing account (used when deployAzureOpenAi is false).')
param azureOpenAiImageDeployment string = ''

@description('Text deployment name on an existing account (used when deployAzureOpenAi is false).')
param azureOpenAiTextDeployment string = ''

@description('Image model to deploy (deployAzureOpenAi); the deployment has the same name.')
param imageModelName string = 'gpt-image-1'

@description('Version of the image model to deploy.')
param imageModelVersion string = '2025-04-15'

@description('Deployment type (SKU) of the image model.')
param imageDeploymentSku string = 'GlobalStandard'

@description('Capacity of the image deployment (its rate limit unit).')
@minValue(1)
param imageModelCapacity int = 2

@description('Text model to deploy (deployAzureOpenAi); the deployment has the same name.')
param textModelName string = 'gpt-4o-mini'

@description('Version of the text model to deploy.')
param textModelVersion string = '2024-07-18'

@description('Deployment type (SKU) of the text model.')
param textDeploymentSku string = 'GlobalStandard'

@description('Capacity of the text deployment, in thousands of tokens per minute.')
@minValue(1)
param textModelCapacity int = 10

// ---------------------------------------------------------------- callbacks
@secure()
@description('Standard Webhooks secret (whsec_ + base64) that signs completion callbacks; stored in Key Vault when given. Without it a callback_url is refused.')
param callbackSigningSecret string = ''

// ---------------------------------------------------------------- LINE
@secure()
@description('LINE channel secret (webhook signatures); stored in Key Vault when given.')
param lineChannelSecret string = ''

@secure()
@description('LINE channel access token (replies and pushes); stored in Key Vault when given.')
param lineChannelAccessToken string = ''

@description('Another host for the LINE Messaging API; empty means the real one.')
param lineApiHost string = ''

@description('What a LINE text message asks for: image or text.')
@allowed([
  'image'
  'text'
])
param lineDefaultKind string = 'image'

@description('Seconds after the event a LINE reply token is still used; later results are pushed.')
@minValue(1)
param lineReplyTokenTtlSeconds int = 50

@description('Hours the image links sent to LINE stay valid (at most 168, the user-delegation key limit).')
@minValue(1)
@maxValue(168)
param lineImageUrlTtlHours int = 168

// ---------------------------------------------------------------- sign-in (optional)
@description('Client id of an Entra ID app registration. Set: App Service Authentication (Easy Auth) signs callers in with Entra ID and the signed-in principal owns its jobs. Empty (default): function keys only.')
param easyAuthClientId string = ''

// ---------------------------------------------------------------- names
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = 'func-${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(resourceToken, 7)}'
var openAiAccountName = 'oai-${resourceToken}'
// Names the app reads through settings; the consistency test checks them against jobs/names.py.
var jobsQueueName = 'generation-jobs'

resource rg 'Microsoft.Resources/resourceGroups@2022-09-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    jobRetentionDays: jobRetentionDays
    queueName: jobsQueueName
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  scope: rg
  params: {
    name: 'sb-${resourceToken}'
    location: location
    tags: tags
    queueName: jobsQueueName
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
    lineChannelSecret: lineChannelSecret
    lineChannelAccessToken: lineChannelAccessToken
    openAiApiKey: openAiApiKey
    azureOpenAiApiKey: azureOpenAiApiKey
    callbackSigningSecret: callbackSigningSecret
  }
}

module openAi 'modules/openai.bicep' = if (deployAzureOpenAi) {
  name: 'openai'
  scope: rg
  params: {
    name: openAiAccountName
    location: !empty(azureOpenAiLocation) ? azureOpenAiLocation : location
    tags: tags
    imageModelName: imageModelName
    imageModelVersion: imageModelVersion
    imageDeploymentSku: imageDeploymentSku
    imageModelCapacity: imageModelCapacity
    textModelName: textModelName
    textModelVersion: textModelVersion
    textDeploymentSku: textDeploymentSku
    textModelCapacity: textModelCapacity
    principalId: identity.outputs.principalId
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  scope: rg
  params: {
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
  }
}

module alerts 'modules/alerts.bicep' = if (!empty(alertEmail)) {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    alertEmail: alertEmail
    failureRatePercent: alertFailureRatePercent
    rateLimitedPercent: alertRateLimitedPercent
    functionErrorCount: alertFunctionErrorCount
    jobsQueueKind: jobsQueueKind
    serviceBusNamespaceId: serviceBus.outputs.id
    jobsQueueName: jobsQueueName
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    serviceBusNamespaceName: serviceBus.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultName: keyVault.outputs.name
  }
}

// ---------------------------------------------------------------- app settings
// A secret setting is a Key Vault reference when the secret was given, otherwise empty (= not set).
var lineChannelSecretSetting = empty(lineChannelSecret) ? '' : '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.lineChannelSecretUri})'
var lineChannelAccessTokenSetting = empty(lineChannelAccessToken) ? '' : '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.lineChannelAccessTokenUri})'
var openAiApiKeySetting = empty(openAiApiKey) ? '' : '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.openAiApiKeyUri})'
var azureOpenAiApiKeySetting = empty(azureOpenAiApiKey) ? '' : '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.azureOpenAiApiKeyUri})'
var callbackSigningSecretSetting = empty(callbackSigningSecret) ? '' : '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.callbackSigningSecretUri})'
// A deployed account's endpoint and deployment names follow from its name, so no conditional
// module output is read here.
var azureOpenAiEndpointSetting = deployAzureOpenAi ? 'https://${openAiAccountName}.openai.azure.com/' : azureOpenAiEndpoint
var azureOpenAiImageDeploymentSetting = deployAzureOpenAi ? imageModelName : azureOpenAiImageDeployment
var azureOpenAiTextDeploymentSetting = deployAzureOpenAi ? textModelName : azureOpenAiTextDeployment
var clientId = identity.outputs.clientId

var appSettings = [
  // Host storage (task hub, timers, keys), identity-based.
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'AzureWebJobsStorage__clientId'
    value: clientId
  }
  {
    name: 'AzureWebJobsStorage__blobServiceUri'
    value: storage.outputs.blobEndpoint
  }
  {
    name: 'AzureWebJobsStorage__queueServiceUri'
    value: storage.outputs.queueEndpoint
  }
  {
    name: 'AzureWebJobsStorage__tableServiceUri'
    value: storage.outputs.tableEndpoint
  }
  {
    name: 'TASK_HUB_NAME'
    value: taskHubName
  }
  // App data (job rows, outputs, Storage job queue), identity-based; the connection of the Storage
  // queue trigger too.
  {
    name: 'GENERATION_STORAGE__credential'
    value: 'managedidentity'
  }
  {
    name: 'GENERATION_STORAGE__clientId'
    value: clientId
  }
  {
    name: 'GENERATION_STORAGE__blobServiceUri'
    value: storage.outputs.blobEndpoint
  }
  {
    name: 'GENERATION_STORAGE__queueServiceUri'
    value: storage.outputs.queueEndpoint
  }
  {
    name: 'GENERATION_STORAGE__tableServiceUri'
    value: storage.outputs.tableEndpoint
  }
  // Job queue; the trigger of the queue kind not in use is switched off.
  {
    name: 'JOBS_QUEUE_KIND'
    value: jobsQueueKind
  }
  {
    name: 'JOBS_QUEUE_NAME'
    value: jobsQueueName
  }
  {
    name: 'ServiceBusConnection__fullyQualifiedNamespace'
    value: serviceBus.outputs.fullyQualifiedNamespace
  }
  {
    name: 'ServiceBusConnection__credential'
    value: 'managedidentity'
  }
  {
    name: 'ServiceBusConnection__clientId'
    value: clientId
  }
  {
    name: 'AzureWebJobs.start_generation_from_queue.Disabled'
    value: jobsQueueKind == 'storage' ? 'false' : 'true'
  }
  {
    name: 'AzureWebJobs.start_generation_from_service_bus.Disabled'
    value: jobsQueueKind == 'servicebus' ? 'false' : 'true'
  }
  // The review decisions queue is polled only when outputs can be held for review.
  {
    name: 'AzureWebJobs.review_job.Disabled'
    value: reviewMode == 'off' ? 'true' : 'false'
  }
  // The identity the app's own SDK clients (Table, Blob, Service Bus, Azure OpenAI) use.
  {
    name: 'AZURE_CLIENT_ID'
    value: clientId
  }
  // Status URLs are built from X-Forwarded-Proto/-Host: the Functions front end terminates TLS.
  {
    name: 'TRUST_FORWARDED_HEADERS'
    value: 'true'
  }
  // Monitoring, with identity-based ingestion.
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: monitoring.outputs.connectionString
  }
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'ClientId=${clientId};Authorization=AAD'
  }
  // Provider.
  {
    name: 'GENERATION_PROVIDER'
    value: generationProvider
  }
  {
    name: 'OPENAI_API_KEY'
    value: openAiApiKeySetting
  }
  {
    name: 'OPENAI_BASE_URL'
    value: openAiBaseUrl
  }
  {
    name: 'OPENAI_IMAGE_MODEL'
    value: openAiImageModel
  }
  {
    name: 'OPENAI_TEXT_MODEL'
    value: openAiTextModel
  }
  {
    name: 'AZURE_OPENAI_ENDPOINT'
    value: azureOpenAiEndpointSetting
  }
  {
    name: 'AZURE_OPENAI_API_KEY'
    value: azureOpenAiApiKeySetting
  }
  {
    name: 'OPENAI_API_VERSION'
    value: openAiApiVersion
  }
  {
    name: 'AZURE_OPENAI_IMAGE_DEPLOYMENT'
    value: azureOpenAiImageDeploymentSetting
  }
  {
    name: 'AZURE_OPENAI_TEXT_DEPLOYMENT'
    value: azureOpenAiTextDeploymentSetting
  }
  // Completion callbacks. Plain-HTTP callbacks to loopback are for local development only.
  {
    name: 'CALLBACK_SIGNING_SECRET'
    value: callbackSigningSecretSetting
  }
  {
    name: 'CALLBACK_ALLOW_LOOPBACK_HTTP'
    value: 'false'
  }
  // LINE.
  {
    name: 'LINE_CHANNEL_SECRET'
    value: lineChannelSecretSetting
  }
  {
    name: 'LINE_CHANNEL_ACCESS_TOKEN'
    value: lineChannelAccessTokenSetting
  }
  {
    name: 'LINE_API_HOST'
    value: lineApiHost
  }
  {
    name: 'LINE_DEFAULT_KIND'
    value: lineDefaultKind
  }
  {
    name: 'LINE_REPLY_TOKEN_TTL_SECONDS'
    value: string(lineReplyTokenTtlSeconds)
  }
  {
    name: 'LINE_IMAGE_URL_TTL_HOURS'
    value: string(lineImageUrlTtlHours)
  }
  // Pipeline.
  {
    name: 'OFFLINE_LATENCY_MS'
    value: string(offlineLatencyMs)
  }
  {
    name: 'GENERATION_DEADLINE_SECONDS'
    value: string(generationDeadlineSeconds)
  }
  {
    name: 'JOB_RETENTION_DAYS'
    value: string(jobRetentionDays)
  }
  // Conversations of text jobs (docs/conversations.md).
  {
    name: 'CONVERSATION_MAX_TOKENS'
    value: string(conversationMaxTokens)
  }
  {
    name: 'CONVERSATION_MAX_TURNS'
    value: string(conversationMaxTurns)
  }
  // The human review gate (docs/review.md).
  {
    name: 'REVIEW_MODE'
    value: reviewMode
  }
  {
    name: 'REVIEW_TERMS'
    value: reviewTerms
  }
  {
    name: 'REVIEW_TIMEOUT_SECONDS'
    value: string(reviewTimeoutSeconds)
  }
  // One trace per job and the job metrics, through the Azure Monitor OpenTelemetry distro
  // (docs/operate.md); host.json puts the host in OpenTelemetry mode too.
  {
    name: 'TELEMETRY_EXPORTER'
    value: 'azure-monitor'
  }
  {
    name: 'PYTHON_ENABLE_OPENTELEMETRY'
    value: 'true'
  }
  // Per-user quotas at accept (docs/quotas.md).
  {
    name: 'QUOTA_JOBS_IN_FLIGHT'
    value: quotaJobsInFlight
  }
  {
    name: 'QUOTA_IMAGES_PER_DAY'
    value: quotaImagesPerDay
  }
  // Provider pacing shared by every instance (docs/pacing.md).
  {
    name: 'PROVIDER_IMAGES_PER_MINUTE'
    value: providerImagesPerMinute
  }
  {
    name: 'PROVIDER_REQUESTS_PER_MINUTE'
    value: providerRequestsPerMinute
  }
  {
    name: 'PROVIDER_TOKENS_PER_MINUTE'
    value: providerTokensPerMinute
  }
]

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    appSettings: appSettings
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    durableAlwaysReadyInstances: durableAlwaysReadyInstances
    easyAuthClientId: easyAuthClientId
  }
  // The app resolves Key Vault references and reaches storage as soon as it starts.
  dependsOn: [
    roles
    openAi
  ]
}

// ---------------------------------------------------------------- outputs
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output FUNCTION_APP_NAME string = functionApp.outputs.name
output FUNCTION_APP_URL string = functionApp.outputs.url
output WEB_PAGE_URL string = '${functionApp.outputs.url}/api/ui'
output API_BASE_URL string = '${functionApp.outputs.url}/api'
output LINE_WEBHOOK_URL string = '${functionApp.outputs.url}/api/line/webhook'
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
output SERVICE_BUS_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output KEY_VAULT_NAME string = keyVault.outputs.name
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_OPENAI_ACCOUNT_ENDPOINT string = deployAzureOpenAi ? azureOpenAiEndpointSetting : ''
