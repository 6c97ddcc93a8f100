import { afterEach, describe, expect, it } from 'vitest'
import { loadTabState, requestPreview, saveTabState, type HistoryEntry } from './tabState'

const entry = (i: number, size: number): HistoryEntry => ({
  id: String(i),
  at: new Date(0).toISOString(),
  provider: 'offline',
  model: 'offline-echo',
  body: 'x'.repeat(size),
  status: 200,
  durationMs: 1,
})

afterEach(() => sessionStorage.clear())

describe('the tab state', () => {
  it('belongs to one account', () => {
    saveTabState({ account: 'a', provider: 'offline', body: '{}', answer: null, history: [] })
    expect(loadTabState('a')).toMatchObject({ provider: 'offline', body: '{}' })
    expect(loadTabState('b')).toBeNull()
  })

  it('keeps at most 1 MB of history, newest first, and drops bodies over 256 KB', () => {
    const history = [entry(0, 300 * 1024), ...Array.from({ length: 10 }, (_, i) => entry(i + 1, 200 * 1024))]
    saveTabState({ account: 'a', provider: 'offline', body: '{}', answer: null, history })
    expect(loadTabState('a')!.history.map((h) => h.id)).toEqual(['1', '2', '3', '4', '5'])
  })

  it('keeps a small answer with its history entry, its envelope parsed back', () => {
    const text = JSON.stringify({ data: { status: 200, body: { ok: true } } })
    const answer = { status: 200, durationMs: 5, envelope: null, text, journalKey: 'j', overheadMs: null, chunks: null, cancelled: false, provider: 'offline', requestedModel: 'm', requestBody: '{}' }
    const big = { ...answer, text: 'x'.repeat(100 * 1024) }
    saveTabState({ account: 'a', provider: 'offline', body: '{}', answer: null, history: [{ ...entry(1, 10), answer }, { ...entry(2, 10), answer: big }] })
    const [first, second] = loadTabState('a')!.history
    expect(first.answer?.envelope?.data).toEqual({ status: 200, body: { ok: true } })
    expect(second.answer).toBeNull()
  })
})

describe('the preview of a request', () => {
  it('is its last user message, on one line', () => {
    const body = JSON.stringify({ messages: [{ role: 'user', content: 'first' }, { role: 'assistant', content: 'a' }, { role: 'user', content: 'second\n  question' }] })
    expect(requestPreview(body)).toBe('second question')
    expect(requestPreview(JSON.stringify({ messages: [{ role: 'user', content: [{ type: 'text', text: 'parts' }] }] }))).toBe('parts')
    expect(requestPreview('not json')).toBe('')
  })
})
