import { useState } from 'react'
import type { ApplyResult, Console } from './consoleApi'
import { explain } from './consoleApi'

export const STARTER = `apiVersion: smarter.sh/v1
kind: LLMClient
metadata:
  name: my-client
spec:
  config:
    provider: offline
    defaultModel: offline-echo
    defaultSystemRole: You are a helpful assistant.
`

/** Edit a manifest, validate it against the API (a dry run: the plan, warnings and diff), then apply it. */
export function Manifests({ api, accountWide, onApplied }: { api: Console; accountWide: boolean; onApplied: () => void }) {
  const [text, setText] = useState(STARTER)
  const [checked, setChecked] = useState<{ text: string; result: ApplyResult } | null>(null)
  const [applied, setApplied] = useState<ApplyResult | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState<'validate' | 'apply' | null>(null)

  async function run(dryRun: boolean) {
    setBusy(dryRun ? 'validate' : 'apply')
    setError(null)
    setApplied(null)
    try {
      const result = await api.apply(text, dryRun)
      if (dryRun) setChecked({ text, result })
      else {
        setApplied(result)
        setChecked(null)
        onApplied()
      }
    } catch (e) {
      setChecked(null)
      setError(explain(e))
    } finally {
      setBusy(null)
    }
  }

  const validated = checked?.text === text
  const shown = applied ?? (validated ? checked.result : null)

  return (
    <section aria-labelledby="manifests-title" className="console-section">
      <header className="section-header">
        <h2 id="manifests-title">Manifests</h2>
        <p className="muted">
          YAML or JSON, one or several documents: LLMClient, Plugin, ApiPlugin, SqlPlugin, connections, ApiKey. Validated exactly as{' '}
          <code>smarter apply</code> does; Account and Secret manifests stay with the CLI.
        </p>
      </header>
      {!accountWide && (
        <p className="banner-inline" role="note">
          Applying needs an account-wide key; this one is limited to some clients.
        </p>
      )}
      <label className="field">
        <span className="field-label">Manifest</span>
        <textarea
          className="input mono manifest-editor"
          data-testid="manifest-editor"
          spellCheck={false}
          rows={14}
          value={text}
          onChange={(e) => setText(e.target.value)}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? 'manifest-error' : undefined}
        />
      </label>
      {error && (
        <p id="manifest-error" className="form-error" role="alert" data-testid="manifest-error">
          {error}
        </p>
      )}
      <div className="actions-left">
        <button type="button" className="button" data-testid="manifest-validate" disabled={!!busy || !text.trim()} onClick={() => run(true)}>
          {busy === 'validate' ? 'Validating…' : 'Validate (dry run)'}
        </button>
        <button
          type="button"
          className="button primary"
          data-testid="manifest-apply"
          disabled={!!busy || !validated || !accountWide}
          title={validated ? undefined : 'Validate first: apply stores what the dry run showed'}
          onClick={() => run(false)}
        >
          {busy === 'apply' ? 'Applying…' : 'Apply'}
        </button>
        {!validated && !applied && <span className="muted">Validate to see what would change, then apply.</span>}
      </div>
      {shown && (
        <ul className="change-list" data-testid="manifest-changes" role="status">
          {shown.changes.map((c) => (
            <li key={`${c.kind}/${c.name}`} className="card change">
              <strong>
                {c.kind}/{c.name}
              </strong>{' '}
              {shown.dryRun ? `would be ${c.action}` : `${c.result ?? 'applied'} (${c.action})`}
              {c.warnings.map((w) => (
                <p key={w} className="warn-text">
                  Warning: {w}
                </p>
              ))}
              {c.api_key && (
                <p>
                  New key {c.key_id}, shown once: <code className="mono break">{c.api_key}</code>
                </p>
              )}
              {c.diff && (
                <pre className="code-block diff" tabIndex={0} aria-label={`Changes to ${c.kind}/${c.name}`}>
                  {c.diff}
                </pre>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  )
}
