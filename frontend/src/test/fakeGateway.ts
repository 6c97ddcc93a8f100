import { vi } from 'vitest'

export const GOOD_KEY = 'sk-good'

export const PROVIDERS = [
  {
    name: 'openai',
    base_url: 'https://api.openai.com/v1',
    default_model: 'gpt-4o-mini',
    is_default: true,
    docs_url: 'https://platform.openai.com/docs',
    configured: true,
  },
  {
    name: 'mistral',
    base_url: 'https://api.mistral.ai/v1',
    default_model: 'mistral-small-latest',
    is_default: false,
    docs_url: 'https://docs.mistral.ai',
    configured: true,
  },
]

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

const unauthorized = (command: string) =>
  json(401, {
    api: 'smarter.sh/v1',
    thing: 'ApiKey',
    metadata: { command, key: 'j-401' },
    error: { type: 'unauthorized', message: 'The API key is not valid.', status: 401 },
  })

export interface FakeGateway {
  fetch: ReturnType<typeof vi.fn>
  /** Bodies sent to /v1/passthrough/{provider}, in order. */
  sent: { provider: string; body: string; authorization: string | null }[]
  /** Answer the next passthrough call with this; by default a completion. */
  nextPassthrough: (() => Promise<Response>) | null
}

/** A fetch that answers like the gateway: config.json, whoami, providers and passthrough. */
export function installFakeGateway(): FakeGateway {
  const gateway: FakeGateway = { fetch: vi.fn(), sent: [], nextPassthrough: null }
  gateway.fetch.mockImplementation(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(String(input), window.location.href)
    const authorization = new Headers(init.headers).get('Authorization')
    const signedIn = authorization === `Bearer ${GOOD_KEY}`
    if (url.pathname.endsWith('/config.json')) return json(200, { apiBaseUrl: '' })
    if (url.pathname === '/v1/whoami') {
      if (!signedIn) return unauthorized('whoami')
      return json(200, {
        api: 'smarter.sh/v1',
        thing: 'ApiKey',
        metadata: { command: 'whoami', key: 'j-whoami' },
        data: { account: '3141-5926-5359', key_id: 'k-1', name: 'demo', clients: null },
      })
    }
    if (url.pathname === '/v1/providers') {
      if (!signedIn) return unauthorized('providers')
      return json(200, { api: 'smarter.sh/v1', thing: 'Provider', metadata: { key: 'j-p' }, data: { providers: PROVIDERS } })
    }
    if (url.pathname.startsWith('/v1/console/journal/')) {
      if (!signedIn) return unauthorized('record')
      return json(200, { api: 'smarter.sh/v1', thing: 'Console', data: { usage: { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 }, cost_usd: '0.0000042' } })
    }
    const passthrough = /^\/v1\/passthrough\/(.+)$/.exec(url.pathname)
    if (passthrough && init.method === 'POST') {
      gateway.sent.push({ provider: passthrough[1], body: String(init.body), authorization })
      const next = gateway.nextPassthrough
      gateway.nextPassthrough = null
      if (next) return next()
      return json(200, {
        api: 'smarter.sh/v1',
        thing: 'Prompt',
        metadata: { command: 'passthrough', key: 'j-200', provider: passthrough[1] },
        data: {
          status: 200,
          body: {
            id: 'chatcmpl-1',
            object: 'chat.completion',
            choices: [{ index: 0, message: { role: 'assistant', content: 'Hello, world!' }, finish_reason: 'stop' }],
            usage: { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 },
          },
        },
      })
    }
    return json(404, { error: { type: 'not_found', message: 'no route', status: 404 } })
  })
  vi.stubGlobal('fetch', gateway.fetch)
  return gateway
}

export { json }
