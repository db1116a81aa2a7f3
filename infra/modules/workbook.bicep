// An Azure Monitor workbook over the app's OpenTelemetry metrics (customMetrics in Application
// Insights): jobs, time to finish, provider calls and 429s, pacing, queue depth, LINE deliveries.
// docs/operate.md lists the same queries.

param location string
param tags object = {}
param applicationInsightsId string

var panels = [
  {
    title: 'Jobs accepted, by channel'
    query: 'customMetrics | where name == "jobs.accepted" | summarize accepted = sum(valueSum) by channel = tostring(customDimensions.channel), bin(timestamp, 5m)'
  }
  {
    title: 'Jobs finished, by status and error code'
    query: 'customMetrics | where name == "jobs.finished" | summarize jobs = sum(valueSum) by outcome = strcat(tostring(customDimensions.status), " ", tostring(customDimensions.error_code)), bin(timestamp, 5m)'
  }
  {
    title: 'Time to finish (seconds), by kind: mean and slowest'
    query: 'customMetrics | where name == "jobs.duration" | summarize mean = sum(valueSum) / sum(valueCount), slowest = max(valueMax) by kind = tostring(customDimensions.kind), bin(timestamp, 5m)'
  }
  {
    title: 'Provider calls, by outcome'
    query: 'customMetrics | where name == "provider.calls" | summarize calls = sum(valueSum) by outcome = tostring(customDimensions.outcome), bin(timestamp, 5m)'
  }
  {
    title: 'Share of provider calls answered 429 (%)'
    query: 'customMetrics | where name == "provider.calls" | summarize share = 100.0 * sumif(valueSum, tostring(customDimensions.outcome) == "rate_limited") / sum(valueSum) by bin(timestamp, 5m)'
  }
  {
    title: 'Provider call time (seconds): mean and slowest'
    query: 'customMetrics | where name == "provider.duration" | summarize mean = sum(valueSum) / sum(valueCount), slowest = max(valueMax) by bin(timestamp, 5m)'
  }
  {
    title: 'Waiting for provider slots: mean wait to a granted slot (seconds) and asks told to wait'
    query: 'customMetrics | where name in ("pacing.wait", "pacing.not_yet") | summarize wait = sumif(valueSum, name == "pacing.wait") / sumif(valueCount, name == "pacing.wait"), told_to_wait = sumif(valueSum, name == "pacing.not_yet") by bin(timestamp, 5m)'
  }
  {
    title: 'Job queue and dead-letter depth (Storage queue; Service Bus: the namespace metrics)'
    query: 'customMetrics | where name in ("queue.depth", "queue.dead_letter_depth") | summarize depth = max(value) by name, bin(timestamp, 5m)'
  }
  {
    title: 'LINE deliveries, by reply or push'
    query: 'customMetrics | where name == "line.deliveries" | summarize deliveries = sum(valueSum) by mode = tostring(customDimensions.mode), bin(timestamp, 5m)'
  }
]

var items = [for panel in panels: {
  type: 3
  content: {
    version: 'KqlItem/1.0'
    title: panel.title
    query: panel.query
    size: 0
    timeContext: {
      durationMs: 86400000
    }
    queryType: 0
    resourceType: 'microsoft.insights/components'
    visualization: 'timechart'
  }
}]

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(applicationInsightsId, 'generation-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'Generation jobs'
    category: 'workbook'
    sourceId: applicationInsightsId
    serializedData: string({
      version: 'Notebook/1.0'
      items: concat([
        {
          type: 1
          content: {
            json: '## Generation jobs\nOne trace per job: search a job id in Transaction search (docs/operate.md).'
          }
        }
      ], items)
      fallbackResourceIds: [
        applicationInsightsId
      ]
    })
  }
}

output workbookId string = workbook.id
