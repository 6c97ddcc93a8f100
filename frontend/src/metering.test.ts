import { describe, expect, it } from 'vitest'
import { GatewayClient } from './api'
import { fetchMetered, meteredOf } from './metering'

const envelope = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

describe('what the gateway metered', () => {
  it('reads tokens and the price from a journal record', () => {
    expect(meteredOf({ usage: { prompt_tokens: 12, completion_tokens: 8, total_tokens: 20 }, cost_usd: '0.0000066' })).toEqual({
      promptTokens: 12,
      completionTokens: 8,
      totalTokens: 20,
      costUsd: '0.0000066',
      estimated: false,
    })
    expect(meteredOf({ usage: { prompt_tokens: 3, completion_tokens: 4 }, usage_estimated: true }).totalTokens).toBe(7)
  })

  it('asks again while the record is not written yet, then reads it', async () => {
    const answers = [envelope(404, { error: { type: 'not_found', message: 'no record', status: 404 } }), envelope(200, { data: { usage: { total_tokens: 5 }, cost_usd: '0.01' } })]
    const asked: string[] = []
    const client = new GatewayClient('', 'sk', async (url) => (asked.push(String(url)), answers.shift()!))
    expect(await fetchMetered(client, 'K', 3, 1)).toMatchObject({ totalTokens: 5, costUsd: '0.01' })
    expect(asked).toEqual(['/v1/console/journal/K?client=-', '/v1/console/journal/K?client=-'])
  })

  it('gives up quietly when the key may not read the record', async () => {
    const client = new GatewayClient('', 'sk', async () => envelope(403, { error: { type: 'forbidden', message: 'no', status: 403 } }))
    expect(await fetchMetered(client, 'K', 3, 1)).toBeNull()
  })
})
