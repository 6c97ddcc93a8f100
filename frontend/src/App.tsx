import { useCallback, useEffect, useRef, useState } from 'react'
import { ApiError, GatewayClient, type Identity } from './api'
import { SignInForm } from './components/SignInForm'
import { loadEditor, Workspace } from './components/Workspace'
import { loadConfig, type PageConfig } from './config'
import { keyStore } from './session'

type Auth =
  | { state: 'loading' }
  | { state: 'signed-out'; error: string | null }
  | { state: 'signed-in'; client: GatewayClient; identity: Identity }

const isRejectedKey = (e: unknown) => e instanceof ApiError && (e.status === 401 || e.status === 403)
const REVOKED = 'Your API key is no longer accepted (revoked or expired). Sign in again with a valid key.'
const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e))

export function App() {
  const [config, setConfig] = useState<PageConfig | null>(null)
  const [configWarning, setConfigWarning] = useState<string | null>(null)
  const [auth, setAuth] = useState<Auth>({ state: 'loading' })
  const [announcement, setAnnouncement] = useState('')
  const announcing = useRef<number | undefined>(undefined)
  // A pending announcement never outlives the page (or a test's environment).
  useEffect(() => () => window.clearTimeout(announcing.current), [])

  /** Polite live region: answers and sign-in changes are read out without moving focus. */
  const announce = useCallback((message: string) => {
    setAnnouncement('')
    window.clearTimeout(announcing.current)
    announcing.current = window.setTimeout(() => setAnnouncement(message), 50)
  }, [])

  const signIn = useCallback(async (baseUrl: string, apiKey: string) => {
    const client = new GatewayClient(baseUrl, apiKey)
    try {
      const identity = await client.whoami()
      keyStore.set(apiKey)
      setAuth({ state: 'signed-in', client, identity })
      announce(`Signed in to account ${identity.account}.`)
    } catch (e) {
      if (isRejectedKey(e)) keyStore.clear()
      setAuth({ state: 'signed-out', error: messageOf(e) })
    }
  }, [announce])

  /** A key revoked mid-session: the page must not keep looking signed in. */
  const keyRejected = useCallback(
    (message: string) => {
      keyStore.clear()
      setAuth({ state: 'signed-out', error: message || REVOKED })
      announce(message || REVOKED)
    },
    [announce],
  )

  useEffect(() => {
    let live = true
    void loadEditor()
    loadConfig().then(async ({ config, warning }) => {
      if (!live) return
      setConfig(config)
      setConfigWarning(warning ?? null)
      const saved = keyStore.get()
      if (saved) await signIn(config.apiBaseUrl, saved)
      else setAuth({ state: 'signed-out', error: null })
    })
    return () => {
      live = false
    }
  }, [signIn])

  function signOut() {
    keyStore.clear()
    setAuth({ state: 'signed-out', error: null })
  }

  return (
    <div className="app">
      <header className="topbar">
        <div className="brand" aria-label="Smarter Passthrough">
          <span className="brand-mark" aria-hidden="true">
            S
          </span>
          <span className="brand-name">Smarter</span>
          <span className="brand-page">Passthrough</span>
        </div>
        {auth.state === 'signed-in' && (
          <div className="session">
            <span className="account" data-testid="account" title={`Key ${auth.identity.key_id}`}>
              <span className="account-label">Account</span>
              <span className="mono">{auth.identity.account}</span>
              {auth.identity.name && <span className="chip">{auth.identity.name}</span>}
            </span>
            <button type="button" data-testid="sign-out" className="button small ghost" onClick={signOut}>
              Sign out
            </button>
          </div>
        )}
      </header>

      {configWarning && (
        <div className="banner" role="status">
          {configWarning}
        </div>
      )}

      {auth.state === 'loading' && <main className="loading">Loading…</main>}
      {auth.state === 'signed-out' && config && (
        <SignInForm
          error={auth.error}
          apiBaseUrl={config.apiBaseUrl}
          onSignIn={(apiKey) => signIn(config.apiBaseUrl, apiKey)}
        />
      )}
      {auth.state === 'signed-in' && (
        <Workspace
          key={auth.identity.key_id}
          client={auth.client}
          account={auth.identity.account}
          onKeyRejected={keyRejected}
          announce={announce}
        />
      )}

      <div className="visually-hidden" role="status" aria-live="polite" data-testid="announcer">
        {announcement}
      </div>

      <footer className="footer muted">
        API: <span className="mono">{config?.apiBaseUrl || 'this origin'}</span>
      </footer>
    </div>
  )
}
