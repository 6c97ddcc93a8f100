import { describe, expect, it } from 'vitest'
import type { ConsoleClient, JournalRecord, UsageRow } from './consoleApi'
import { answerText, clientRequest, daysBetween, formatMetric, replayRequest, usageSeries } from './shape'

const row = (day: string, client: string, key: string, requests: number, cost = '0.001'): UsageRow => ({
  day,
  client,
  key,
  requests,
  prompt_tokens: requests * 10,
  completion_tokens: requests * 5,
  total_tokens: requests * 15,
  cost_usd: cost,
})

const CLIENT: ConsoleClient = {
  name: 'customer-support',
  host: 'customer-support.3141-5926-5359.api.localhost',
  path: '/v1/accounts/3141-5926-5359/clients/customer-support/prompt',
  provider: 'offline',
  model: 'offline-echo',
  plugins: ['support_info'],
  deployed: true,
  ui: { appExamplePrompts: ['What are your support hours?'] },
  limits: {},
  manifest: { spec: { config: { defaultSystemRole: 'You are the support assistant.' } } },
}

describe('usage series', () => {
  it('has every day of the range, quiet days as zero', () => {
    expect(daysBetween('2026-02-27', '2026-03-02')).toEqual(['2026-02-27', '2026-02-28', '2026-03-01', '2026-03-02'])
    const series = usageSeries([row('2026-03-01', 'a', 'k1', 2)], 'requests', 'client', '2026-02-27', '2026-03-02')
    expect(series.points.map((p) => p.a)).toEqual([0, 0, 2, 0])
    expect(series.total).toBe(2)
  })

  it('stacks per client or per key, keys by name', () => {
    const rows = [row('2026-03-01', 'a', 'k1', 2), row('2026-03-01', 'b', 'k1', 3), row('2026-03-02', 'a', 'k2', 1)]
    const byClient = usageSeries(rows, 'requests', 'client', '2026-03-01', '2026-03-02')
    expect(byClient.names).toEqual(['a', 'b'])
    expect(byClient.points[0]).toEqual({ day: '2026-03-01', a: 2, b: 3 })
    const byKey = usageSeries(rows, 'total_tokens', 'key', '2026-03-01', '2026-03-02', { k1: 'ci (k1)' })
    expect(byKey.names).toEqual(['ci (k1)', 'k2'])
    expect(byKey.points[0]['ci (k1)']).toBe(75)
  })

  it('sums dollars from their decimal strings', () => {
    const series = usageSeries([row('2026-03-01', 'a', 'k', 1, '0.25'), row('2026-03-01', 'a', 'j', 1, '0.5')], 'cost_usd', 'client', '2026-03-01', '2026-03-01')
    expect(series.total).toBeCloseTo(0.75)
    expect(formatMetric(series.total, 'cost_usd')).toBe('$0.75')
    expect(formatMetric(0.0000243, 'cost_usd')).toBe('$0.000024')
    expect(formatMetric(12345, 'requests')).toBe('12,345')
  })
})

describe('requests for the playground', () => {
  it('opens a client as a chat completion with its model, system role and example prompt', () => {
    const { provider, body } = clientRequest(CLIENT)
    expect(provider).toBe('offline')
    expect(JSON.parse(body)).toEqual({
      model: 'offline-echo',
      messages: [
        { role: 'system', content: 'You are the support assistant.' },
        { role: 'user', content: 'What are your support hours?' },
      ],
    })
  })

  const record = (over: Partial<JournalRecord>): JournalRecord =>
    ({ key: 'k', created_at: '', account: 'a', client: 'customer-support', thing: 'LLMClient', command: 'prompt', api_key_id: 'x', provider: null,
       status: 200, request: { body: { messages: [{ role: 'user', content: 'hi' }], session_key: 's' } }, response: null, tool_calls: [], ...over }) as JournalRecord

  it('replays a passthrough as it was sent and a prompt through the client s provider', () => {
    const passthrough = replayRequest(record({ command: 'passthrough', provider: 'openai', client: null, request: { body: { model: 'gpt-4o', messages: [] } } }), [])
    expect(passthrough).toEqual({ provider: 'openai', body: JSON.stringify({ model: 'gpt-4o', messages: [] }, null, 2) })
    const prompt = replayRequest(record({}), [CLIENT])!
    expect(prompt.provider).toBe('offline')
    expect(JSON.parse(prompt.body)).toEqual({ model: 'offline-echo', messages: [{ role: 'user', content: 'hi' }] })
  })

  it('does not replay a record whose body was not kept', () => {
    expect(replayRequest(record({ request: { body: { omitted: 'over SMARTER_JOURNAL_BODY_BYTES', bytes: 1 } } }), [CLIENT])).toBeNull()
    expect(replayRequest(record({ request: {} }), [CLIENT])).toBeNull()
  })

  it('finds the answer of the prompt API and of the passthrough', () => {
    const choices = [{ message: { content: 'Hello' } }]
    expect(answerText({ data: { chat_completion: { choices } } })).toBe('Hello')
    expect(answerText({ data: { status: 200, body: { choices } } })).toBe('Hello')
    expect(answerText({ error: { message: 'no' } })).toBeNull()
  })
})
