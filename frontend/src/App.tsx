import { lazy, Suspense, useCallback, useEffect, useRef, useState } from 'react'
import { ApiError, GatewayClient, type Identity } from './api'
import { SignInForm } from './components/SignInForm'
import { loadEditor, Workspace } from './components/Workspace'
import { loadConfig, type PageConfig } from './config'
import type { ConsoleTab } from './console/ConsolePage'
import type { PlaygroundRequest } from './console/shape'
import { parseRoute, routeHash, type Route } from './route'
import { keyStore } from './session'

/** The console (and its charting library) loads in its own chunk, when first opened. */
const ConsolePage = lazy(() => import('./console/ConsolePage'))

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

  const [route, setRoute] = useState<Route>(() => parseRoute(window.location.hash))
  const [preload, setPreload] = useState<(PlaygroundRequest & { seq: number }) | null>(null)

  useEffect(() => {
    const follow = () => setRoute(parseRoute(window.location.hash))
    window.addEventListener('hashchange', follow)
    return () => window.removeEventListener('hashchange', follow)
  }, [])

  const go = useCallback((next: Route) => {
    window.location.hash = routeHash(next)
    setRoute(next)
  }, [])

  const openInPlayground = useCallback(
    (request: PlaygroundRequest) => {
      setPreload((p) => ({ ...request, seq: (p?.seq ?? 0) + 1 }))
      go({ view: 'playground' })
    },
    [go],
  )

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
          <span className="brand-page">{route.view === 'console' ? 'Console' : 'Passthrough'}</span>
        </div>
        {auth.state === 'signed-in' && (
          <nav className="views" aria-label="Page">
            <a href="#playground" className="view-link" data-testid="nav-playground" aria-current={route.view === 'playground' ? 'page' : undefined}>
              Playground
            </a>
            <a href="#console" className="view-link" data-testid="nav-console" aria-current={route.view === 'console' ? 'page' : undefined}>
              Console
            </a>
          </nav>
        )}
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
        // The playground stays mounted behind the console: its body, answer and history survive a visit there.
        <div hidden={route.view !== 'playground'} className="view-host">
          <Workspace
            key={auth.identity.key_id}
            client={auth.client}
            account={auth.identity.account}
            onKeyRejected={keyRejected}
            announce={announce}
            preload={preload}
          />
        </div>
      )}
      {auth.state === 'signed-in' && route.view === 'console' && (
        <Suspense fallback={<main className="loading">Loading the console…</main>}>
          <ConsolePage
            client={auth.client}
            identity={auth.identity}
            tab={route.tab}
            onTab={(tab: ConsoleTab) => go({ view: 'console', tab })}
            onOpenInPlayground={openInPlayground}
            onKeyRejected={keyRejected}
          />
        </Suspense>
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
