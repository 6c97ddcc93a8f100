import { afterEach, describe, expect, it } from 'vitest'
import { loadTabState, saveTabState, type HistoryEntry } from './tabState'

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
})
