import { useCallback, useEffect, useMemo, useState } from 'react'
import type { GatewayClient, Identity } from '../api'
import { Clients } from './Clients'
import { Console, explain, isRejectedKey, type ApiKeyView, type ConsoleClient } from './consoleApi'
import { Journal } from './Journal'
import { Keys } from './Keys'
import { Manifests } from './Manifests'
import { Overview } from './Overview'
import type { PlaygroundRequest } from './shape'

export type ConsoleTab = 'overview' | 'clients' | 'keys' | 'journal' | 'manifests'
export const TABS: { id: ConsoleTab; label: string }[] = [
  { id: 'overview', label: 'Overview' },
  { id: 'clients', label: 'Clients' },
  { id: 'keys', label: 'Keys' },
  { id: 'journal', label: 'Journal' },
  { id: 'manifests', label: 'Manifests' },
]

interface Props {
  client: GatewayClient
  identity: Identity
  tab: ConsoleTab
  onTab: (tab: ConsoleTab) => void
  onOpenInPlayground: (request: PlaygroundRequest) => void
  onKeyRejected: (message: string) => void
}

const REJECTED = 'Your API key is no longer accepted (revoked or expired). Sign in again with a valid key.'

/** The tenant's console: usage, clients, keys, the journal and manifests, on the console API with the signed-in key. */
export default function ConsolePage({ client, identity, tab, onTab, onOpenInPlayground, onKeyRejected }: Props) {
  const api = useMemo(() => new Console(client), [client])
  const [clients, setClients] = useState<ConsoleClient[] | null>(null)
  const [clientsError, setClientsError] = useState<string | null>(null)
  const [keys, setKeys] = useState<ApiKeyView[] | null>(null)
  const [keysError, setKeysError] = useState<string | null>(null)
  const rejected = useCallback(() => onKeyRejected(REJECTED), [onKeyRejected])
  const accountWide = identity.clients === null || identity.clients === undefined

  const loadClients = useCallback(() => {
    api.clients().then(
      (list) => (setClients(list), setClientsError(null)),
      (e: unknown) => (isRejectedKey(e) ? rejected() : setClientsError(explain(e))),
    )
  }, [api, rejected])

  const loadKeys = useCallback(() => {
    api.keys().then(
      (list) => {
        setKeys(list)
        setKeysError(null)
        // The signed-in key revoked from here: sign out rather than fail on every call.
        if (list.find((k) => k.key_id === identity.key_id)?.state === 'revoked') rejected()
      },
      (e: unknown) => (isRejectedKey(e) ? rejected() : setKeysError(explain(e))),
    )
  }, [api, rejected, identity.key_id])

  useEffect(() => {
    loadClients()
    loadKeys()
  }, [loadClients, loadKeys])

  function keyDown(event: React.KeyboardEvent, index: number) {
    const step = event.key === 'ArrowRight' ? 1 : event.key === 'ArrowLeft' ? -1 : 0
    if (!step) return
    event.preventDefault()
    const next = TABS[(index + step + TABS.length) % TABS.length]
    onTab(next.id)
    document.getElementById(`console-tab-${next.id}`)?.focus()
  }

  return (
    <main className="console">
      <h1 className="visually-hidden">Console of account {identity.account}</h1>
      <div className="console-tabs" role="tablist" aria-label="Console sections">
        {TABS.map((t, i) => (
          <button
            key={t.id}
            id={`console-tab-${t.id}`}
            type="button"
            role="tab"
            aria-selected={tab === t.id}
            aria-controls="console-panel"
            tabIndex={tab === t.id ? 0 : -1}
            data-testid={`console-tab-${t.id}`}
            className="console-tab"
            onClick={() => onTab(t.id)}
            onKeyDown={(e) => keyDown(e, i)}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div id="console-panel" role="tabpanel" aria-labelledby={`console-tab-${tab}`} className="console-panel">
        {tab === 'overview' && <Overview api={api} keys={keys ?? []} onKeyRejected={rejected} />}
        {tab === 'clients' && <Clients clients={clients} error={clientsError} onOpen={onOpenInPlayground} />}
        {tab === 'keys' && (
          <Keys api={api} keys={keys} clients={clients} error={keysError} currentKeyId={identity.key_id} accountWide={accountWide} onChanged={loadKeys} />
        )}
        {tab === 'journal' && <Journal api={api} clients={clients} accountWide={accountWide} onReplay={onOpenInPlayground} onKeyRejected={rejected} />}
        {tab === 'manifests' && (
          <Manifests
            api={api}
            accountWide={accountWide}
            onApplied={() => {
              loadClients()
              loadKeys()
            }}
          />
        )}
      </div>
    </main>
  )
}
