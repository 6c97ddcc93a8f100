import { afterEach, describe, expect, it } from 'vitest'
import { keyStore } from './session'

afterEach(() => {
  sessionStorage.clear()
  localStorage.clear()
})

describe('keyStore', () => {
  it('keeps the key in sessionStorage only', () => {
    keyStore.set('sk-secret')
    expect(keyStore.get()).toBe('sk-secret')
    expect(Object.values({ ...sessionStorage })).toContain('sk-secret')
    expect(localStorage.length).toBe(0)
    expect(document.cookie).toBe('')
  })

  it('forgets the key on clear', () => {
    keyStore.set('sk-secret')
    keyStore.clear()
    expect(keyStore.get()).toBeNull()
    expect(sessionStorage.length).toBe(0)
  })
})
