import type { ConsoleClient } from './consoleApi'
import { clientRequest, type PlaygroundRequest } from './shape'

export function Clients({
  clients,
  error,
  onOpen,
}: {
  clients: ConsoleClient[] | null
  error: string | null
  onOpen: (request: PlaygroundRequest) => void
}) {
  return (
    <section aria-labelledby="clients-title" className="console-section">
      <header className="section-header">
        <h2 id="clients-title">LLM clients</h2>
        <p className="muted">Change a client by applying its manifest (Manifests tab).</p>
      </header>
      {error && (
        <p className="form-error" role="alert">
          Clients could not be loaded: {error}
        </p>
      )}
      {!clients && !error && <p className="muted" aria-busy="true">Loading clients…</p>}
      {clients?.length === 0 && <p className="muted">No clients yet: apply an LLMClient manifest in the Manifests tab.</p>}
      <ul className="client-list">
        {clients?.map((c) => (
          <li key={c.name} className="card client-card" data-testid="client-card">
            <div className="client-head">
              <h3>{c.name}</h3>
              {!c.deployed && <span className="chip warn">not deployed</span>}
            </div>
            {c.description && <p className="muted">{c.description}</p>}
            <dl className="facts">
              <dt>Host</dt>
              <dd className="mono break">{c.host}</dd>
              {c.custom_domain && (
                <>
                  <dt>Custom domain</dt>
                  <dd className="mono break">{c.custom_domain}</dd>
                </>
              )}
              <dt>Provider · model</dt>
              <dd className="mono">
                {c.provider} · {c.model}
              </dd>
              <dt>Plugins</dt>
              <dd>{c.plugins.length ? c.plugins.join(', ') : 'none'}</dd>
            </dl>
            <details>
              <summary>Manifest</summary>
              <pre className="code-block" tabIndex={0} aria-label={`Manifest of ${c.name}`}>
                {JSON.stringify(c.manifest, null, 2)}
              </pre>
            </details>
            <div className="actions-left">
              <button type="button" className="button small primary" data-testid="open-in-playground" onClick={() => onOpen(clientRequest(c))}>
                Open in playground
              </button>
            </div>
          </li>
        ))}
      </ul>
    </section>
  )
}
