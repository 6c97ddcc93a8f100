import { useEffect, useMemo, useRef, useState } from 'react'
import { ApiError, type GatewayClient, type Provider } from '../api'
import { checkJson } from '../jsonPosition'
import { TEMPLATES, templateText, type RequestTemplate } from '../templates'
import { JsonEditor, type JsonEditorHandle } from './JsonEditor'
import { ResponsePanel, type ResponseView } from './ResponsePanel'

/** Swap the model in the editor for the new provider's default, but only if it still holds the old default. */
export function retargetModel(text: string, from: Provider | undefined, to: Provider): string {
  const check = checkJson(text)
  if (!check.ok || !from) return text
  const request = check.value as { model?: unknown }
  if (request === null || typeof request !== 'object' || Array.isArray(request)) return text
  if (request.model !== from.default_model) return text
  return JSON.stringify({ ...request, model: to.default_model }, null, 2)
}

const byteLength = (text: string) => new TextEncoder().encode(text).length

export function Workspace({ client }: { client: GatewayClient }) {
  const [providers, setProviders] = useState<Provider[] | null>(null)
  const [providersError, setProvidersError] = useState<string | null>(null)
  const [providerName, setProviderName] = useState('')
  const [text, setText] = useState('')
  const [sending, setSending] = useState(false)
  const [view, setView] = useState<ResponseView | null>(null)
  const editor = useRef<JsonEditorHandle>(null)

  const check = useMemo(() => checkJson(text), [text])
  const provider = providers?.find((p) => p.name === providerName)

  useEffect(() => {
    let live = true
    client.providers().then(
      (list) => {
        if (!live) return
        setProviders(list)
        const chosen = list.find((p) => p.is_default) ?? list[0]
        if (chosen) {
          setProviderName(chosen.name)
          setText((current) => current || templateText(TEMPLATES[0], chosen.default_model))
        }
      },
      (e: unknown) => live && setProvidersError(e instanceof Error ? e.message : String(e)),
    )
    return () => {
      live = false
    }
  }, [client])

  function chooseProvider(name: string) {
    const next = providers?.find((p) => p.name === name)
    if (!next) return
    setText((current) => retargetModel(current, provider, next))
    setProviderName(name)
  }

  function loadTemplate(template: RequestTemplate) {
    setText(templateText(template, provider?.default_model ?? ''))
  }

  function format() {
    if (check.ok) setText(JSON.stringify(check.value, null, 2))
  }

  const canSend = check.ok && !sending && !!providerName

  async function send() {
    if (!canSend) return
    setSending(true)
    const started = performance.now()
    try {
      const result = await client.passthrough(providerName, text)
      setView({ kind: 'response', ...result })
    } catch (e) {
      const message = e instanceof ApiError || e instanceof Error ? e.message : String(e)
      setView({ kind: 'failure', message, durationMs: Math.round(performance.now() - started) })
    } finally {
      setSending(false)
    }
  }

  return (
    <main className="workspace">
      <section className="card panel request-panel" aria-labelledby="request-title">
        <header className="panel-header">
          <h2 id="request-title">Request</h2>
          <span className="muted mono endpoint">POST /v1/passthrough/{providerName || '…'}</span>
        </header>

        <div className="row">
          <div className="field">
            <label htmlFor="provider" className="field-label">
              Provider
            </label>
            <select
              id="provider"
              data-testid="provider-select"
              className="input"
              value={providerName}
              onChange={(e) => chooseProvider(e.target.value)}
              disabled={!providers?.length}
            >
              {!providers && <option value="">{providersError ? 'Unavailable' : 'Loading…'}</option>}
              {providers?.length === 0 && <option value="">No providers</option>}
              {providers?.map((p) => (
                <option key={p.name} value={p.name}>
                  {p.name}
                  {p.is_default ? ' (default)' : ''}
                  {p.configured === false ? ' — not configured' : ''}
                </option>
              ))}
            </select>
          </div>
          <div className="field provider-facts">
            {provider && (
              <>
                <span className="field-label">Default model</span>
                <span className="mono">{provider.default_model}</span>
              </>
            )}
          </div>
        </div>
        {provider && (
          <p className="provider-line muted">
            <span className="mono">{provider.base_url}</span>
            {provider.docs_url && (
              <>
                {' · '}
                <a href={provider.docs_url} target="_blank" rel="noreferrer noopener">
                  docs
                </a>
              </>
            )}
            {provider.configured === false && <span className="chip warn">no platform key configured</span>}
          </p>
        )}
        {providersError && (
          <p className="form-error" role="alert">
            Providers could not be listed: {providersError}
          </p>
        )}

        <div className="field">
          <span className="field-label">Templates</span>
          <div className="templates" role="group" aria-label="Request templates">
            {TEMPLATES.map((t) => (
              <button
                key={t.id}
                type="button"
                data-testid={`template-${t.id}`}
                className="button template"
                title={t.description}
                onClick={() => loadTemplate(t)}
                disabled={!provider}
              >
                {t.label}
              </button>
            ))}
          </div>
        </div>

        <div className="field grow-field">
          <div className="editor-header">
            <span className="field-label">Body (JSON)</span>
            <button type="button" data-testid="format" className="button small" onClick={format} disabled={!check.ok}>
              Format
            </button>
          </div>
          <JsonEditor
            ref={editor}
            value={text}
            onChange={setText}
            errorLine={check.ok ? null : check.line}
            onSubmit={send}
            label="Request body (JSON)"
          />
          {check.ok ? (
            <p className="json-status ok" data-testid="json-ok">
              Valid JSON · {byteLength(text).toLocaleString('en')} bytes
            </p>
          ) : (
            <p className="json-status bad" data-testid="json-error" role="status">
              <button type="button" className="link" onClick={() => editor.current?.focusAt(check.offset)}>
                Line {check.line}, column {check.column}
              </button>
              : {check.message}
            </p>
          )}
        </div>

        <div className="actions">
          <span className="muted hint">Ctrl+Enter sends</span>
          <button type="button" data-testid="send" className="button primary" onClick={send} disabled={!canSend}>
            {sending ? 'Sending…' : 'Send'}
          </button>
        </div>
      </section>

      <ResponsePanel view={view} sending={sending} />
    </main>
  )
}
