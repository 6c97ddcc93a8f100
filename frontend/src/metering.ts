/**
 * What the gateway counted and priced for one request, read back from its
 * journal record (GET /v1/console/journal/{key}?client=-). The gateway always
 * asks a provider for a stream's usage, so a streamed answer has its tokens
 * here even when the request had no `stream_options`; the cost is the
 * gateway's price, which providers rarely put in their answer.
 */
import type { GatewayClient } from './api'

export interface Metered {
  promptTokens: number | null
  completionTokens: number | null
  totalTokens: number | null
  /** US dollars, as the gateway's decimal string. */
  costUsd: string | null
  /** No usage came from the provider: counted from an upper estimate. */
  estimated: boolean
}

interface RecordShape {
  usage?: { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number } | null
  cost_usd?: string | number | null
  usage_estimated?: unknown
}

export function meteredOf(record: RecordShape): Metered {
  const usage = record.usage ?? {}
  const number = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null)
  const total = number(usage.total_tokens) ?? (number(usage.prompt_tokens) !== null && number(usage.completion_tokens) !== null ? usage.prompt_tokens! + usage.completion_tokens! : null)
  const cost = record.cost_usd
  return {
    promptTokens: number(usage.prompt_tokens),
    completionTokens: number(usage.completion_tokens),
    totalTokens: total,
    costUsd: typeof cost === 'string' || typeof cost === 'number' ? String(cost) : null,
    estimated: !!record.usage_estimated,
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * The journal record is written just after the answer (when a stream ends): a
 * 404 at first is normal, so ask a few times. Null when it never shows, or the
 * key may not read the platform host's records.
 */
export async function fetchMetered(client: GatewayClient, journalKey: string, tries = 5, delayMs = 400): Promise<Metered | null> {
  for (let attempt = 0; attempt < tries; attempt++) {
    try {
      const record = await client.request<RecordShape>('GET', `/v1/console/journal/${encodeURIComponent(journalKey)}?client=-`)
      return meteredOf(record)
    } catch (e) {
      const status = (e as { status?: number | null }).status
      if (status !== 404) return null
    }
    await pause(delayMs * (attempt + 1))
  }
  return null
}
