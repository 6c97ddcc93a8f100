import { ApiError, type GatewayClient } from '../api'

/** The console's platform API (/v1/console/..., docs/api.md), typed as the page uses it. */

export interface ConsoleClient {
  name: string
  description?: string | null
  host: string
  path: string
  custom_domain?: string | null
  provider: string
  model: string
  plugins: string[]
  deployed: boolean
  ui: { appExamplePrompts?: string[] | null; [name: string]: unknown }
  limits: Record<string, unknown>
  manifest: { spec?: { config?: { defaultSystemRole?: string | null } } } & Record<string, unknown>
}

export interface ApiKeyView {
  key_id: string
  name: string
  clients: string[] | null
  state: 'active' | 'revoked' | 'expired'
  created_at: string | null
  expires_at: string | null
  revoked_at: string | null
}

export interface CreatedKey extends ApiKeyView {
  api_key: string
}

export interface UsageRow {
  day?: string
  client?: string
  key?: string
  requests: number
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
  cost_usd: string
}

export interface UsageReport {
  from: string
  to: string
  group: string
  rows: UsageRow[]
  total: UsageRow
}

export interface JournalSummary {
  key: string
  created_at: string
  account: string | null
  client: string | null
  thing: string
  command: string
  api_key_id: string | null
  provider: string | null
  status: number
  method?: string | null
  path?: string | null
  durations?: { total_ms?: number; provider_ms?: number }
  usage?: Record<string, number>
  cost_usd?: string
  error?: string
  tool_call_count?: number
}

export interface JournalPage {
  records: JournalSummary[]
  next: string | null
}

export interface JournalRecord extends JournalSummary {
  request: { method?: string; path?: string; host?: string; body?: unknown }
  response: unknown
  tool_calls: Record<string, unknown>[]
}

export interface PlannedChange {
  kind: string
  name: string
  action: 'created' | 'configured' | 'unchanged'
  warnings: string[]
  diff: string
  result?: string
  api_key?: string
  key_id?: string
}

export interface ApplyResult {
  dryRun: boolean
  changes: PlannedChange[]
}

export interface JournalFilter {
  client?: string
  status?: string
  from?: string
  to?: string
  hideConsole?: boolean
}

const query = (params: Record<string, string | undefined>) => {
  const search = new URLSearchParams()
  for (const [name, value] of Object.entries(params)) if (value) search.set(name, value)
  const text = search.toString()
  return text ? `?${text}` : ''
}

export class Console {
  constructor(readonly gateway: GatewayClient) {}

  clients() {
    return this.gateway.request<{ clients: ConsoleClient[] }>('GET', '/v1/console/clients').then((d) => d.clients)
  }

  keys() {
    return this.gateway.request<{ keys: ApiKeyView[] }>('GET', '/v1/console/keys').then((d) => d.keys)
  }

  createKey(name: string, clients: string[] | null, expiresInDays: number | null) {
    const body: Record<string, unknown> = { name }
    if (clients) body.clients = clients
    if (expiresInDays) body.expiresInDays = expiresInDays
    return this.gateway.request<CreatedKey>('POST', '/v1/console/keys', body)
  }

  revokeKey(keyId: string) {
    return this.gateway.request<ApiKeyView>('POST', `/v1/console/keys/${encodeURIComponent(keyId)}/revoke`)
  }

  usage(from: string, to: string, group = 'detail') {
    return this.gateway.request<UsageReport>('GET', `/v1/console/usage${query({ from, to, group })}`)
  }

  journal(filter: JournalFilter, cursor: string | null, limit = 25) {
    const params = {
      client: filter.client,
      status: filter.status,
      from: filter.from ? new Date(filter.from).toISOString() : undefined,
      to: filter.to ? new Date(filter.to).toISOString() : undefined,
      exclude_thing: filter.hideConsole ? 'Console' : undefined,
      limit: String(limit),
      cursor: cursor ?? undefined,
    }
    return this.gateway.request<JournalPage>('GET', `/v1/console/journal${query(params)}`)
  }

  record(key: string, client: string | null) {
    return this.gateway.request<JournalRecord>('GET', `/v1/console/journal/${encodeURIComponent(key)}${query({ client: client ?? '-' })}`)
  }

  apply(manifest: string, dryRun: boolean) {
    return this.gateway.request<ApplyResult>('POST', '/v1/console/apply', { manifest, dryRun })
  }
}

/** What to tell the user about a failed console call: the API's own message, and what to do next. */
export function explain(e: unknown): string {
  if (!(e instanceof ApiError)) return `${e instanceof Error ? e.message : String(e)} Try again.`
  if (e.status === null) return `${e.message} Check that the gateway is running and reachable, then try again.`
  if (e.status === 403) return e.message
  if (e.status === 429) return `${e.message} Wait a moment and try again.`
  if (e.status !== null && e.status >= 500) return `${e.message} Try again; if it keeps failing, give the operator the journal key.`
  return e.message
}

export const isRejectedKey = (e: unknown) => e instanceof ApiError && e.status === 401
