// Alert rules on the app's telemetry (docs/operate.md says what each means and what to do), sent to one
// action group that e-mails `alertEmail`. main.bicep deploys this module only when an e-mail is given.

param location string
param tags object = {}
param applicationInsightsId string
param alertEmail string
@description('Failed jobs, in percent of finished jobs over 15 minutes, above which to alert.')
param failureRatePercent int
@description('Provider calls answered 429, in percent over 15 minutes, above which to alert.')
param rateLimitedPercent int
@description('Failed invocations and logged exceptions over 15 minutes above which to alert.')
param functionErrorCount int
param jobsQueueKind string
param serviceBusNamespaceId string
param jobsQueueName string

var deadLetterQuery = '''
customMetrics
| where name == "queue.dead_letter_depth"
| summarize depth = max(value)
'''

// Shares are computed only over windows with at least 10 calls or jobs, enough to mean something.
// (Multi-line strings take no interpolation, hence the literal.)
var failureRateQuery = '''
customMetrics
| where name == "jobs.finished"
| extend status = tostring(customDimensions.status)
| summarize finished = sum(valueSum), failed = sumif(valueSum, status == "failed")
| where finished >= 10
| project failure_percent = 100.0 * failed / finished
'''

var functionErrorQuery = '''
union (requests | where success == false), exceptions
| summarize errors = count()
'''

var rateLimitedQuery = '''
customMetrics
| where name == "provider.calls"
| extend outcome = tostring(customDimensions.outcome)
| summarize calls = sum(valueSum), limited = sumif(valueSum, outcome == "rate_limited")
| where calls >= 10
| project rate_limited_percent = 100.0 * limited / calls
'''

var logAlerts = [
  {
    name: 'dead-letter-depth'
    description: 'Job messages were dead-lettered (Storage queue: the poison queue is not empty).'
    severity: 1
    query: deadLetterQuery
    measure: 'depth'
    aggregation: 'Maximum'
    threshold: 0
    enabled: jobsQueueKind == 'storage'
  }
  {
    name: 'job-failure-rate'
    description: 'More than ${failureRatePercent}% of finished jobs failed in 15 minutes.'
    severity: 2
    query: failureRateQuery
    measure: 'failure_percent'
    aggregation: 'Maximum'
    threshold: failureRatePercent
    enabled: true
  }
  {
    name: 'function-errors'
    description: 'More than ${functionErrorCount} failed invocations or logged exceptions in 15 minutes.'
    severity: 2
    query: functionErrorQuery
    measure: 'errors'
    aggregation: 'Total'
    threshold: functionErrorCount
    enabled: true
  }
  {
    name: 'provider-rate-limited-share'
    description: 'More than ${rateLimitedPercent}% of provider calls were answered 429 in 15 minutes.'
    severity: 3
    query: rateLimitedQuery
    measure: 'rate_limited_percent'
    aggregation: 'Maximum'
    threshold: rateLimitedPercent
    enabled: true
  }
]

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-generation'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'generation'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

resource rules 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = [for rule in logAlerts: if (rule.enabled) {
  name: 'alert-${rule.name}'
  location: location
  tags: tags
  properties: {
    displayName: rule.name
    description: rule.description
    severity: rule.severity
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: rule.query
          timeAggregation: rule.aggregation
          metricMeasureColumn: rule.measure
          operator: 'GreaterThan'
          threshold: rule.threshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}]

// Service Bus publishes its dead-letter count itself; no app metric is needed for it.
resource serviceBusDeadLetters 'Microsoft.Insights/metricAlerts@2018-03-01' = if (jobsQueueKind == 'servicebus') {
  name: 'alert-dead-letter-depth'
  location: 'global'
  tags: tags
  properties: {
    description: 'Job messages were dead-lettered on the Service Bus queue.'
    severity: 1
    enabled: true
    scopes: [
      serviceBusNamespaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'dead-lettered'
          metricName: 'DeadletteredMessages'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                jobsQueueName
              ]
            }
          ]
          timeAggregation: 'Maximum'
          operator: 'GreaterThan'
          threshold: 0
        }
      ]
    }
    autoMitigate: true
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

output actionGroupId string = actionGroup.id
