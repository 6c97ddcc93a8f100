import type { ConsoleClient, JournalRecord, UsageRow } from './consoleApi'

/** Pure helpers of the console: chart series from usage rows, requests for the playground. */

export type Metric = 'requests' | 'total_tokens' | 'cost_usd'
export type SplitBy = 'client' | 'key'

export const METRIC_LABELS: Record<Metric, string> = {
  requests: 'Requests',
  total_tokens: 'Tokens',
  cost_usd: 'US dollars',
}

export interface Series {
  /** One point per day: `day` and one number per series name. */
  points: Record<string, number | string>[]
  names: string[]
  total: number
}

const valueOf = (row: UsageRow, metric: Metric) => (metric === 'cost_usd' ? Number.parseFloat(row.cost_usd) || 0 : row[metric] || 0)

/** Every day from `from` to `to` (YYYY-MM-DD, UTC), so quiet days show as zero, not as gaps. */
export function daysBetween(from: string, to: string): string[] {
  const days: string[] = []
  const end = Date.parse(`${to}T00:00:00Z`)
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= end && days.length < 400; t += 86_400_000) {
    days.push(new Date(t).toISOString().slice(0, 10))
  }
  return days
}

/** Usage rows (per day, client and key) as a stacked series per client or per key. */
export function usageSeries(rows: UsageRow[], metric: Metric, split: SplitBy, from: string, to: string, keyNames: Record<string, string> = {}): Series {
  const label = (row: UsageRow) => (split === 'client' ? row.client || '-' : keyNames[row.key ?? ''] ?? row.key ?? '-')
  const names = [...new Set(rows.map(label))].sort()
  const byDay = new Map<string, Record<string, number | string>>()
  for (const day of daysBetween(from, to)) byDay.set(day, { day, ...Object.fromEntries(names.map((n) => [n, 0])) })
  let total = 0
  for (const row of rows) {
    const point = byDay.get(row.day ?? '')
    if (!point) continue
    const value = valueOf(row, metric)
    point[label(row)] = (point[label(row)] as number) + value
    total += value
  }
  return { points: [...byDay.values()], names, total }
}

export function formatMetric(value: number, metric: Metric): string {
  if (metric === 'cost_usd') return `$${value < 0.01 && value > 0 ? value.toPrecision(2) : value.toFixed(2)}`
  return Math.round(value).toLocaleString('en')
}

/** The day `n` days before `day` (YYYY-MM-DD). */
export function daysBefore(day: string, n: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) - n * 86_400_000).toISOString().slice(0, 10)
}

export const today = () => new Date().toISOString().slice(0, 10)

export interface PlaygroundRequest {
  provider: string
  body: string
}

/** A chat completion a client would send: its model, its system role, an example prompt. */
export function clientRequest(client: ConsoleClient): PlaygroundRequest {
  const messages: { role: string; content: string }[] = []
  const system = client.manifest?.spec?.config?.defaultSystemRole
  if (system) messages.push({ role: 'system', content: system })
  messages.push({ role: 'user', content: client.ui?.appExamplePrompts?.[0] || 'Hello!' })
  return { provider: client.provider, body: JSON.stringify({ model: client.model, messages }, null, 2) }
}

/** A journal record sent again from the playground: a passthrough as it was, a prompt as a chat completion. */
export function replayRequest(record: JournalRecord, clients: ConsoleClient[]): PlaygroundRequest | null {
  const body = record.request?.body
  if (!body || typeof body !== 'object' || Array.isArray(body) || 'omitted' in body) return null
  if (record.command === 'passthrough' && record.provider) {
    return { provider: record.provider, body: JSON.stringify(body, null, 2) }
  }
  const client = clients.find((c) => c.name === record.client)
  const messages = (body as { messages?: unknown }).messages
  if (!client || !Array.isArray(messages)) return null
  const { model, ...rest } = body as Record<string, unknown>
  delete rest.session_key
  return { provider: client.provider, body: JSON.stringify({ model: model ?? client.model, ...rest, messages }, null, 2) }
}

/** The model's answer in a journaled response, whichever API wrote it. */
export function answerText(response: unknown): string | null {
  const data = (response as { data?: unknown })?.data as Record<string, unknown> | undefined
  const completion = (data?.chat_completion ?? (data?.body as unknown) ?? data) as { choices?: { message?: { content?: unknown } }[] } | undefined
  const content = completion?.choices?.[0]?.message?.content
  return typeof content === 'string' ? content : null
}
