import { describe, expect, it, vi } from 'vitest'
import { loadConfig, normaliseBaseUrl } from './config'

describe('config.json', () => {
  it('drops a trailing slash from apiBaseUrl', () => {
    expect(normaliseBaseUrl('https://api.example.com/')).toBe('https://api.example.com')
    expect(normaliseBaseUrl('')).toBe('')
    expect(normaliseBaseUrl(undefined)).toBe('')
  })

  it('is read from beside the page', async () => {
    const fetchImpl = vi.fn(async () => new Response(JSON.stringify({ apiBaseUrl: 'https://api.example.com' })))
    const loaded = await loadConfig(fetchImpl)
    expect(loaded).toEqual({ config: { apiBaseUrl: 'https://api.example.com' } })
    expect(String((fetchImpl.mock.calls[0] as unknown[])[0])).toMatch(/\/config\.json$/)
  })

  it('falls back to the page origin and says so when missing', async () => {
    const loaded = await loadConfig(async () => new Response('nope', { status: 404 }))
    expect(loaded.config.apiBaseUrl).toBe('')
    expect(loaded.warning).toMatch(/HTTP 404/)
  })
})
