/**
 * The signed-in API key lives in sessionStorage only: it is gone when the tab
 * closes and is never written to localStorage or a cookie.
 */

const KEY = 'smarter.passthrough.apiKey'

export const keyStore = {
  get(): string | null {
    try {
      return window.sessionStorage.getItem(KEY)
    } catch {
      return null // storage disabled by the browser: the user signs in again
    }
  },
  set(apiKey: string): void {
    window.sessionStorage.setItem(KEY, apiKey)
  },
  clear(): void {
    try {
      window.sessionStorage.removeItem(KEY)
    } catch {
      // nothing stored, nothing to clear
    }
  },
}
