import { useState, type FormEvent } from 'react'
import { CopyButton } from '../components/CopyButton'
import type { ApiKeyView, Console, ConsoleClient, CreatedKey } from './consoleApi'
import { explain } from './consoleApi'

export const KEYS_PAGE = 20

export function Keys({
  api,
  keys,
  clients,
  error,
  currentKeyId,
  accountWide,
  onChanged,
}: {
  api: Console
  keys: ApiKeyView[] | null
  clients: ConsoleClient[] | null
  error: string | null
  currentKeyId: string
  accountWide: boolean
  onChanged: () => void
}) {
  const [name, setName] = useState('')
  const [limitTo, setLimitTo] = useState<string[]>([])
  const [days, setDays] = useState('')
  const [busy, setBusy] = useState(false)
  const [formError, setFormError] = useState<string | null>(null)
  const [created, setCreated] = useState<CreatedKey | null>(null)
  const [confirm, setConfirm] = useState<string | null>(null)
  const [rowError, setRowError] = useState<string | null>(null)
  const [shown, setShown] = useState(KEYS_PAGE)

  async function create(event: FormEvent) {
    event.preventDefault()
    if (busy) return
    setBusy(true)
    setFormError(null)
    try {
      const key = await api.createKey(name.trim(), limitTo.length ? limitTo : null, days ? Number(days) : null)
      setCreated(key)
      setName('')
      setLimitTo([])
      setDays('')
      onChanged()
    } catch (e) {
      setFormError(explain(e))
    } finally {
      setBusy(false)
    }
  }

  async function revoke(keyId: string) {
    setConfirm(null)
    setRowError(null)
    try {
      await api.revokeKey(keyId)
      onChanged()
    } catch (e) {
      setRowError(explain(e))
    }
  }

  return (
    <section aria-labelledby="keys-title" className="console-section">
      <header className="section-header">
        <h2 id="keys-title">API keys</h2>
        <p className="muted">Only a key's hash is stored: its secret is shown once, when it is created.</p>
      </header>

      {accountWide ? (
        <form className="card key-form" onSubmit={create} aria-labelledby="new-key-title">
          <h3 id="new-key-title">New key</h3>
          <div className="row">
            <label className="field">
              <span className="field-label">Name</span>
              <input className="input" data-testid="new-key-name" value={name} onChange={(e) => setName(e.target.value)} required maxLength={63} />
            </label>
            <label className="field">
              <span className="field-label">Expires after (days, optional)</span>
              <input className="input" data-testid="new-key-days" type="number" min={1} max={3650} value={days} onChange={(e) => setDays(e.target.value)} />
            </label>
          </div>
          {clients && clients.length > 0 && (
            <fieldset className="client-choice">
              <legend className="field-label">Limit to clients (none ticked: every client, and the passthrough)</legend>
              {clients.map((c) => (
                <label key={c.name} className="check">
                  <input
                    type="checkbox"
                    checked={limitTo.includes(c.name)}
                    onChange={(e) => setLimitTo((all) => (e.target.checked ? [...all, c.name] : all.filter((n) => n !== c.name)))}
                  />
                  {c.name}
                </label>
              ))}
            </fieldset>
          )}
          {formError && (
            <p className="form-error" role="alert" data-testid="key-error">
              {formError}
            </p>
          )}
          <div className="actions-left">
            <button type="submit" className="button primary" data-testid="create-key" disabled={busy || !name.trim()}>
              {busy ? 'Creating…' : 'Create key'}
            </button>
          </div>
        </form>
      ) : (
        <p className="banner-inline" role="note">
          This key is limited to some clients, so it can list keys but not create or revoke them: sign in with an account-wide key for that.
        </p>
      )}

      {created && (
        <div className="card secret-once" role="status" data-testid="new-key-secret">
          <p>
            <strong>Key “{created.name}” created.</strong> Copy its secret now: it is not shown again.
          </p>
          <code className="mono break" data-testid="new-key-value">
            {created.api_key}
          </code>
          <div className="actions-left">
            <CopyButton testId="copy-new-key" text={created.api_key} label="Copy key" />
            <button type="button" className="button small" onClick={() => setCreated(null)}>
              I have stored it
            </button>
          </div>
        </div>
      )}

      {error && (
        <p className="form-error" role="alert">
          Keys could not be loaded: {error}
        </p>
      )}
      {rowError && (
        <p className="form-error" role="alert">
          {rowError}
        </p>
      )}
      {!keys && !error && <p className="muted" aria-busy="true">Loading keys…</p>}
      {keys && (
        <div className="table-scroll" tabIndex={0} role="region" aria-label="API keys">
          <table className="table" data-testid="key-table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Id</th>
                <th scope="col">Clients</th>
                <th scope="col">State</th>
                <th scope="col">Expires</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.slice(0, shown).map((k) => (
                <tr key={k.key_id} data-testid="key-row" data-key-id={k.key_id}>
                  <td>
                    {k.name}
                    {k.key_id === currentKeyId && <span className="chip">this session</span>}
                  </td>
                  <td className="mono">{k.key_id}</td>
                  <td>{k.clients ? k.clients.join(', ') : 'all'}</td>
                  <td>
                    <span className={`status-pill ${k.state === 'active' ? 'ok' : 'bad'}`} data-testid="key-state">
                      {k.state}
                    </span>
                  </td>
                  <td className="mono">{k.expires_at ?? 'never'}</td>
                  <td>
                    {accountWide && k.state === 'active' && confirm !== k.key_id && (
                      <button type="button" className="button small" data-testid="revoke-key" onClick={() => setConfirm(k.key_id)}>
                        Revoke
                      </button>
                    )}
                    {confirm === k.key_id && (
                      <span className="inline-confirm" role="group" aria-label={`Revoke ${k.name}?`}>
                        <button type="button" className="button small danger" data-testid="confirm-revoke" autoFocus onClick={() => revoke(k.key_id)}>
                          Revoke {k.key_id === currentKeyId ? 'and sign out' : 'now'}
                        </button>
                        <button type="button" className="button small" onClick={() => setConfirm(null)}>
                          Keep
                        </button>
                      </span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {keys && keys.length > shown && (
        <button type="button" className="button small" onClick={() => setShown((n) => n + KEYS_PAGE)}>
          Show {Math.min(KEYS_PAGE, keys.length - shown)} more of {keys.length - shown}
        </button>
      )}
    </section>
  )
}
