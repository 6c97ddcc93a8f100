import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { GatewayClient } from '../api'
import { Console, type ApiKeyView } from './consoleApi'
import { Journal } from './Journal'
import { Keys } from './Keys'
import { Manifests, STARTER } from './Manifests'

const envelope = (status: number, data: unknown, error?: { type: string; message: string }) =>
  new Response(JSON.stringify(error ? { api: 'smarter.sh/v1', error: { ...error, status } } : { api: 'smarter.sh/v1', data }), {
    status,
    headers: { 'Content-Type': 'application/json' },
  })

type Handler = (url: URL, init: RequestInit) => Response | undefined

function consoleWith(handler: Handler) {
  const calls: { method: string; url: URL; body: unknown }[] = []
  const fetchImpl = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(String(input), 'http://localhost')
    calls.push({ method: init.method ?? 'GET', url, body: init.body ? JSON.parse(String(init.body)) : undefined })
    return handler(url, init) ?? envelope(404, null, { type: 'not_found', message: 'no route' })
  })
  return { api: new Console(new GatewayClient('', 'smk_test', fetchImpl as typeof fetch)), calls }
}

afterEach(cleanup)

const KEY: ApiKeyView = { key_id: 'abc123', name: 'ci', clients: null, state: 'active', created_at: '2026-12-01T00:00:00Z', expires_at: null, revoked_at: null }

describe('Keys', () => {
  it('shows a new key once and revokes a key after a confirmation', async () => {
    const { api, calls } = consoleWith((url, init) => {
      if (url.pathname === '/v1/console/keys' && init.method === 'POST') return envelope(201, { ...KEY, key_id: 'new1', name: 'deploy', api_key: 'smk_new1_secret' })
      if (url.pathname === '/v1/console/keys/abc123/revoke') return envelope(200, { ...KEY, state: 'revoked' })
    })
    const changed = vi.fn()
    render(<Keys api={api} keys={[KEY]} clients={[]} error={null} currentKeyId="other" accountWide onChanged={changed} />)
    fireEvent.change(screen.getByTestId('new-key-name'), { target: { value: 'deploy' } })
    fireEvent.click(screen.getByTestId('create-key'))
    expect((await screen.findByTestId('new-key-value')).textContent).toBe('smk_new1_secret')
    expect(calls.at(-1)!.body).toEqual({ name: 'deploy' })
    fireEvent.click(screen.getByTestId('revoke-key'))
    fireEvent.click(screen.getByTestId('confirm-revoke'))
    await waitFor(() => expect(changed).toHaveBeenCalledTimes(2))
    expect(calls.at(-1)!.url.pathname).toBe('/v1/console/keys/abc123/revoke')
  })

  it('says what to do when the API refuses, and hides create for a limited key', async () => {
    const { api } = consoleWith(() => envelope(400, null, { type: 'bad_request', message: "a live key is already named 'ci': choose another name" }))
    const { rerender } = render(<Keys api={api} keys={[KEY]} clients={[]} error={null} currentKeyId="x" accountWide onChanged={() => {}} />)
    fireEvent.change(screen.getByTestId('new-key-name'), { target: { value: 'ci' } })
    fireEvent.click(screen.getByTestId('create-key'))
    expect((await screen.findByTestId('key-error')).textContent).toContain('choose another name')
    rerender(<Keys api={api} keys={[KEY]} clients={[]} error={null} currentKeyId="x" accountWide={false} onChanged={() => {}} />)
    expect(screen.queryByTestId('create-key')).toBeNull()
    expect(screen.queryByTestId('revoke-key')).toBeNull()
    expect(screen.getByRole('note').textContent).toContain('account-wide key')
  })

  it('pages a long list of keys', () => {
    const many = Array.from({ length: 45 }, (_, i) => ({ ...KEY, key_id: `k${i}`, name: `key-${i}` }))
    const { api } = consoleWith(() => undefined)
    render(<Keys api={api} keys={many} clients={[]} error={null} currentKeyId="x" accountWide onChanged={() => {}} />)
    expect(screen.getAllByTestId('key-row')).toHaveLength(20)
    fireEvent.click(screen.getByText(/Show 20 more of 25/))
    expect(screen.getAllByTestId('key-row')).toHaveLength(40)
  })
})

describe('Manifests', () => {
  it('applies only what a dry run of the same text validated', async () => {
    const { api, calls } = consoleWith((url) => {
      if (url.pathname !== '/v1/console/apply') return undefined
      const dryRun = (calls.at(-1)!.body as { dryRun: boolean }).dryRun
      const change = { kind: 'LLMClient', name: 'my-client', action: 'created', warnings: ['spec.x: ignored'], diff: '+name: my-client', result: 'applied' }
      return envelope(200, { dryRun, changes: [change] })
    })
    const applied = vi.fn()
    render(<Manifests api={api} accountWide onApplied={applied} />)
    const apply = screen.getByTestId('manifest-apply') as HTMLButtonElement
    expect(apply.disabled).toBe(true)
    fireEvent.click(screen.getByTestId('manifest-validate'))
    const changes = await screen.findByTestId('manifest-changes')
    expect(changes.textContent).toContain('would be created')
    expect(changes.textContent).toContain('Warning: spec.x: ignored')
    expect(apply.disabled).toBe(false)
    fireEvent.change(screen.getByTestId('manifest-editor'), { target: { value: 'kind: Plugin' } })
    expect(apply.disabled).toBe(true) // edited since the dry run
    fireEvent.change(screen.getByTestId('manifest-editor'), { target: { value: STARTER } })
    fireEvent.click(screen.getByTestId('manifest-validate'))
    await waitFor(() => expect(apply.disabled).toBe(false))
    fireEvent.click(apply)
    await waitFor(() => expect(applied).toHaveBeenCalled())
    expect(calls.at(-1)!.body).toMatchObject({ dryRun: false })
  })

  it('shows the API s error in an alert tied to the editor', async () => {
    const { api } = consoleWith(() =>
      envelope(400, null, { type: 'invalid_manifest', message: "manifest, document 1 (LLMClient/x): spec.config.provider: no provider named 'opnai'" }),
    )
    render(<Manifests api={api} accountWide onApplied={() => {}} />)
    fireEvent.click(screen.getByTestId('manifest-validate'))
    const alert = await screen.findByTestId('manifest-error')
    expect(alert.getAttribute('role')).toBe('alert')
    expect(alert.textContent).toContain('spec.config.provider')
    expect(screen.getByTestId('manifest-editor').getAttribute('aria-describedby')).toBe('manifest-error')
  })
})

describe('Journal', () => {
  const summary = (key: string, status = 200) => ({ key, created_at: '2026-12-03T09:00:00Z', account: 'a', client: 'customer-support', thing: 'LLMClient',
    command: 'prompt', api_key_id: 'k', provider: 'offline', status, durations: { total_ms: 12 } })

  it('pages with the cursor, filters by status and opens a record', async () => {
    const { api, calls } = consoleWith((url) => {
      if (url.pathname === '/v1/console/journal') {
        return url.searchParams.get('cursor')
          ? envelope(200, { records: [summary('k1', 500)], next: null })
          : envelope(200, { records: [summary('k3'), summary('k2')], next: 'k2' })
      }
      if (url.pathname === '/v1/console/journal/k3') {
        return envelope(200, { ...summary('k3'), request: { method: 'POST', body: { messages: [{ role: 'user', content: 'hi' }] } },
          response: { data: { chat_completion: { choices: [{ message: { content: 'Hello there' } }] } } }, tool_calls: [], durations: { total_ms: 12, provider_ms: 3 } })
      }
    })
    render(<Journal api={api} clients={[]} accountWide onReplay={() => {}} onKeyRejected={() => {}} />)
    const list = await screen.findByTestId('journal-list')
    expect(within(list).getAllByTestId('journal-item')).toHaveLength(2)
    expect(calls[0].url.searchParams.get('exclude_thing')).toBe('Console')
    fireEvent.click(screen.getByTestId('journal-more'))
    await waitFor(() => expect(screen.getAllByTestId('journal-item')).toHaveLength(3))
    expect(screen.queryByTestId('journal-more')).toBeNull()
    fireEvent.click(within(screen.getAllByTestId('journal-item')[0]).getByRole('button'))
    expect((await screen.findByTestId('record-answer')).textContent).toBe('Hello there')
    expect(screen.getByTestId('record-durations').textContent).toContain('provider 3 ms')
    fireEvent.change(screen.getByTestId('journal-status'), { target: { value: 'error' } })
    await waitFor(() => expect(calls.at(-1)!.url.searchParams.get('status')).toBe('error'))
  })

  it('signs out when the key is no longer accepted', async () => {
    const { api } = consoleWith(() => envelope(401, null, { type: 'unauthorized', message: 'this API key has been revoked' }))
    const rejected = vi.fn()
    render(<Journal api={api} clients={[]} accountWide onReplay={() => {}} onKeyRejected={rejected} />)
    await waitFor(() => expect(rejected).toHaveBeenCalled())
  })
})
