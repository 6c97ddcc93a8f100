import { lazy, Suspense, useCallback, useEffect, useMemo, useRef, useState } from 'react'
import { ApiError, type GatewayClient, type Provider } from '../api'
import { fetchMetered } from '../metering'
import { docsLink, modelSuggestions, preferredProvider, providerProblem } from '../providers'
import {
  appendMessages,
  BODY_LIMIT_BYTES,
  BODY_WARN_BYTES,
  checkRequest,
  readControls,
  retargetModel,
  setAt,
} from '../request'
import { snippet, SNIPPET_LABELS, type SnippetLanguage } from '../snippets'
import { HISTORY_LIMIT, loadTabState, requestPreview, saveTabState, type Answer, type HistoryEntry } from '../tabState'
import { TEMPLATES, templateText, type RequestTemplate } from '../templates'
import type { CodeEditorHandle } from './CodeEditor'
import { CopyButton } from './CopyButton'
import { HistoryList } from './HistoryList'
import { RequestControls } from './RequestControls'
import { Clock, ResponsePanel, replyOf, type ResponseView, type Sending } from './ResponsePanel'

export { retargetModel }

/** CodeMirror is the biggest part of the page: it loads in its own chunk, fetched while the user signs in. */
export const loadEditor = () => import('./CodeEditor')
const CodeEditor = lazy(() => loadEditor().then((m) => ({ default: m.CodeEditor })))

interface Props {
  client: GatewayClient
  account: string
  /** The gateway no longer accepts the key: sign out with this message. */
  onKeyRejected: (message: string) => void
  /** Something screen readers should hear now. */
  announce: (message: string) => void
  /** A request the console asks to open here ("Open in playground", "Replay"); a new `seq` each time. */
  preload?: { provider: string; body: string; seq: number } | null
}

const byteLength = (text: string) => new TextEncoder().encode(text).length
const formatBytes = (n: number) => `${(n / 1024 / 1024).toFixed(2)} MiB`
const isRejectedKey = (e: unknown) => e instanceof ApiError && e.status === 401

export function Workspace({ client, account, onKeyRejected, announce, preload = null }: Props) {
  const restored = useMemo(() => loadTabState(account), [account])
  const [providers, setProviders] = useState<Provider[] | null>(null)
  const [providersError, setProvidersError] = useState<string | null>(null)
  const [providerName, setProviderName] = useState(restored?.provider ?? '')
  const [text, setText] = useState(restored?.body ?? '')
  const [sending, setSending] = useState<Sending | null>(null)
  const [view, setView] = useState<ResponseView | null>(restored?.answer ? { kind: 'answer', answer: restored.answer } : null)
  const [history, setHistory] = useState<HistoryEntry[]>(restored?.history ?? [])
  const [pendingTemplate, setPendingTemplate] = useState<RequestTemplate | null>(null)
  const [undo, setUndo] = useState<{ label: string; text: string } | null>(null)
  const editor = useRef<CodeEditorHandle>(null)
  const output = useRef<HTMLDivElement>(null)
  const sendButton = useRef<HTMLButtonElement>(null)
  const cancelButton = useRef<HTMLButtonElement>(null)
  const inFlight = useRef<AbortController | null>(null)
  /** Set when an answer came: once it is on screen (after the render), focus and scroll to it. */
  const answered = useRef<{ focus: boolean } | null>(null)
  /** The text of the last template loaded, to tell whether the user has edited it since. */
  const pristine = useRef<string | null>(restored ? null : '')
  const preloaded = useRef(preload)
  preloaded.current = preload

  const check = useMemo(() => checkRequest(text), [text])
  const size = useMemo(() => byteLength(text), [text])
  const provider = providers?.find((p) => p.name === providerName)
  const controls = check.ok ? readControls(check.request) : null
  const answer = view?.kind === 'answer' ? view.answer : null

  useEffect(() => {
    saveTabState({ account, provider: providerName, body: text, answer, history })
  }, [account, providerName, text, answer, history])

  useEffect(() => {
    let live = true
    client.providers().then(
      (list) => {
        if (!live) return
        setProviders(list)
        const wanted = preloaded.current?.provider ?? restored?.provider
        const chosen = list.find((p) => p.name === wanted) ?? preferredProvider(list)
        if (chosen) {
          setProviderName(chosen.name)
          setText((current) => {
            if (current) return current
            const fresh = templateText(TEMPLATES[0], chosen.default_model)
            pristine.current = fresh
            return fresh
          })
        }
      },
      (e: unknown) => {
        if (!live) return
        if (isRejectedKey(e)) onKeyRejected('Your API key is no longer accepted (revoked or expired). Sign in again.')
        else setProvidersError(e instanceof Error ? e.message : String(e))
      },
    )
    return () => {
      live = false
    }
  }, [client, restored, onKeyRejected])

  useEffect(() => {
    if (!preload) return
    setProviderName((current) => (providers && !providers.some((p) => p.name === preload.provider) ? current : preload.provider))
    replaceBody(preload.body, 'Loaded the request from the console.')
    if (!inFlight.current) setView(null)
    // eslint-disable-next-line react-hooks/exhaustive-deps -- once per request the console sends
  }, [preload?.seq])

  /** Replace the whole body as one change the editor can undo (Ctrl+Z), and offer an Undo button too. */
  function replaceBody(next: string, label: string) {
    const previous = editor.current?.getText() ?? text
    if (previous === next) return
    setUndo({ label, text: previous })
    setText(next)
  }

  /** The user typed: an Undo offered for an earlier replacement would now throw their typing away. */
  function typed(next: string) {
    setText(next)
    setUndo(null)
  }

  function chooseProvider(name: string) {
    const next = providers?.find((p) => p.name === name)
    if (!next) return
    const current = editor.current?.getText() ?? text
    setText(retargetModel(current, provider?.default_model, next.default_model))
    setProviderName(name)
    // The answer on screen belongs to the provider it came from; it stays in History.
    if (!sending) setView(null)
  }

  function loadTemplate(template: RequestTemplate, confirmed = false) {
    const current = editor.current?.getText() ?? text
    const edited = current.trim() !== '' && current !== pristine.current && !TEMPLATES.some((t) => templateText(t, provider?.default_model ?? '') === current)
    if (edited && !confirmed) {
      setPendingTemplate(template)
      return
    }
    setPendingTemplate(null)
    const next = templateText(template, provider?.default_model ?? '')
    pristine.current = next
    replaceBody(next, `Loaded “${template.label}”.`)
  }

  function edit(change: (text: string, request: Record<string, unknown>) => string) {
    const current = editor.current?.getText() ?? text
    const checked = checkRequest(current)
    if (!checked.ok) return
    setText(change(current, checked.request))
  }

  function format() {
    if (check.ok) setText(JSON.stringify(check.request, null, 2))
  }

  const tooBig = size > BODY_LIMIT_BYTES
  const canSend = check.ok && !tooBig && !!providerName

  const send = useCallback(async () => {
    const body = editor.current?.getText() ?? text
    const checked = checkRequest(body)
    // inFlight is set synchronously: a second Ctrl+Enter before React re-renders finds it and stops here.
    if (inFlight.current || !checked.ok || !providerName || byteLength(body) > BODY_LIMIT_BYTES) return
    const controller = new AbortController()
    inFlight.current = controller
    const focusWasOnSend = document.activeElement === sendButton.current || document.activeElement === document.body
    /** Whether the focus is still where Send put it (Send, Cancel, or nowhere once Cancel went away). */
    const focusIsOurs = () => [sendButton.current, cancelButton.current, document.body, null].includes(document.activeElement as HTMLButtonElement | null)
    const startedAt = performance.now()
    const requestedModel = readControls(checked.request).model
    setSending({ startedAt, live: null })
    const rect = output.current?.getBoundingClientRect()
    if (rect && (rect.top > window.innerHeight - 80 || rect.bottom < 0)) {
      output.current?.scrollIntoView({ block: 'start', behavior: 'smooth' })
    }
    let entry: HistoryEntry = {
      id: `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`,
      at: new Date().toISOString(),
      provider: providerName,
      model: requestedModel,
      body,
      status: null,
      durationMs: null,
      preview: requestPreview(body),
    }
    // In History at once, so a reload before the answer keeps the request.
    setHistory((all) => [entry, ...all].slice(0, HISTORY_LIMIT))
    try {
      const result = await client.passthrough(providerName, body, {
        signal: controller.signal,
        onProgress: (live) => setSending({ startedAt, live }),
      })
      const answer: Answer = { ...result, provider: providerName, requestedModel, requestBody: body }
      const usage = replyOf(answer)?.usage
      entry = {
        ...entry,
        status: result.status,
        durationMs: result.durationMs,
        answer,
        tokens: usage?.total_tokens ?? null,
        cost: typeof usage?.cost === 'number' ? usage.cost : null,
      }
      if (result.status === 401 && result.envelope?.error?.type === 'unauthorized') {
        onKeyRejected('Your API key is no longer accepted (revoked or expired). Sign in again.')
        return
      }
      setView({ kind: 'answer', answer })
      const journalKey = result.journalKey ?? result.envelope?.metadata?.key
      if (journalKey) void meter(answer, journalKey, entry.id)
      const reply = replyOf(answer)
      announce(
        `${result.cancelled ? 'Cancelled' : 'Answer'}: ${result.status}, ${result.durationMs} ms.` +
          (reply?.text ? ` ${reply.text.slice(0, 300)}` : ''),
      )
    } catch (e) {
      const cancelled = e instanceof DOMException && e.name === 'AbortError'
      const message = cancelled ? 'Cancelled before the provider answered.' : e instanceof Error ? e.message : String(e)
      setView({ kind: 'failure', message, durationMs: Math.round(performance.now() - startedAt), provider: providerName })
      announce(message)
    } finally {
      inFlight.current = null
      setSending(null)
      const finished = entry
      setHistory((all) => all.map((h) => (h.id === finished.id ? finished : h)))
    }
    answered.current = { focus: focusWasOnSend ? focusIsOurs() : document.activeElement === document.body }
  }, [announce, client, onKeyRejected, providerName, text])

  useEffect(() => {
    const done = answered.current
    if (!done || sending) return
    answered.current = null
    if (done.focus) output.current?.focus({ preventScroll: true })
    // The answer starts below its facts (status, time, tokens): bring the output's top up when it sits low or off screen.
    const rect = output.current?.getBoundingClientRect()
    // Smooth, so it takes over from the scroll Send may have started towards the output.
    if (rect && (rect.top > window.innerHeight / 3 || rect.top < 0)) output.current?.scrollIntoView({ block: 'start', behavior: 'smooth' })
  }, [view, sending])

  /** Read back what the gateway counted and priced, and show it with the answer and in History. */
  async function meter(answer: Answer, journalKey: string, entryId: string) {
    const metered = await fetchMetered(client, journalKey)
    if (!metered) return
    const priced = { ...answer, metered }
    setView((v) => (v?.kind === 'answer' && v.answer === answer ? { kind: 'answer', answer: priced } : v))
    setHistory((all) =>
      all.map((h) =>
        h.id === entryId
          ? { ...h, answer: h.answer === answer ? priced : h.answer, tokens: h.tokens ?? metered.totalTokens, cost: h.cost ?? (metered.costUsd !== null ? Number(metered.costUsd) : null) }
          : h,
      ),
    )
  }

  function cancel() {
    inFlight.current?.abort()
  }

  const running = sending !== null
  useEffect(() => {
    if (!running) return
    // Send is inert while a request runs: the keyboard user lands on Cancel, the next thing they can do.
    if (document.activeElement === sendButton.current) cancelButton.current?.focus()
    const onKey = (event: KeyboardEvent) => {
      if (event.key === 'Escape' && !event.defaultPrevented) {
        event.preventDefault()
        inFlight.current?.abort()
      }
    }
    document.addEventListener('keydown', onKey)
    return () => document.removeEventListener('keydown', onKey)
  }, [running])

  function restore(entry: HistoryEntry) {
    if (providers?.some((p) => p.name === entry.provider)) setProviderName(entry.provider)
    replaceBody(entry.body, `Restored the request of ${new Date(entry.at).toLocaleTimeString()}${entry.answer ? ' and its answer' : ''}.`)
    if (!inFlight.current && entry.answer) setView({ kind: 'answer', answer: entry.answer })
  }

  function continueWith(messages: Record<string, unknown>[]) {
    const base = answer?.requestBody ?? (editor.current?.getText() ?? text)
    const checked = checkRequest(base)
    if (!checked.ok) return
    replaceBody(appendMessages(base, checked.request, messages), 'Appended the reply to the request.')
    editor.current?.focus()
  }

  const configured = providers?.filter((p) => p.configured !== false) ?? []
  const notConfigured = providers?.filter((p) => p.configured === false) ?? []
  const docs = provider ? docsLink(provider.docs_url) : null

  return (
    <main className="workspace">
      <h1 className="visually-hidden">Passthrough playground</h1>
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
              {configured.length > 0 && (
                <optgroup label="Configured">
                  {configured.map((p) => (
                    <option key={p.name} value={p.name}>
                      {p.name}
                      {p.is_default ? ' (default)' : ''}
                    </option>
                  ))}
                </optgroup>
              )}
              {notConfigured.length > 0 && (
                <optgroup label="Not available on this gateway">
                  {notConfigured.map((p) => (
                    <option key={p.name} value={p.name}>
                      {p.name}
                      {p.is_default ? ' (default)' : ''} — {p.unreachable ? 'not running' : 'not configured'}
                    </option>
                  ))}
                </optgroup>
              )}
            </select>
          </div>
          <div className="field">
            <label htmlFor="model" className="field-label">
              Model
            </label>
            <input
              id="model"
              data-testid="model-input"
              className="input mono"
              list="model-suggestions"
              value={controls?.model ?? ''}
              disabled={!controls}
              onChange={(e) => edit((t) => setAt(t, ['model'], e.target.value))}
            />
            <datalist id="model-suggestions">
              {provider && modelSuggestions(provider).map((m) => <option key={m} value={m} />)}
            </datalist>
          </div>
        </div>
        {provider && (
          <p className="provider-line muted" data-testid="provider-line">
            <span className="mono">{provider.base_url}</span>
            {docs ? (
              <>
                {' · '}
                <a href={docs} target="_blank" rel="noreferrer noopener" data-testid="provider-docs">
                  {provider.name} docs
                </a>
              </>
            ) : provider.docs_url ? (
              <span> · see {provider.docs_url} in the Smarter repository</span>
            ) : null}
            {providerProblem(provider) && <span className="chip warn" data-testid="provider-problem">{providerProblem(provider)}</span>}
          </p>
        )}
        {providersError && (
          <p className="form-error" role="alert">
            Providers could not be listed: {providersError}
          </p>
        )}

        <RequestControls controls={controls} edit={edit} />

        <div className="field">
          <span className="field-label" id="templates-label">
            Templates
          </span>
          <div className="templates" role="group" aria-labelledby="templates-label">
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
          {pendingTemplate && (
            <div className="inline-confirm" role="alertdialog" aria-labelledby="confirm-text" data-testid="template-confirm">
              <span id="confirm-text">Replace your edited body with “{pendingTemplate.label}”?</span>
              <button type="button" className="button small primary" data-testid="template-replace" autoFocus onClick={() => loadTemplate(pendingTemplate, true)}>
                Replace
              </button>
              <button type="button" className="button small" data-testid="template-keep" onClick={() => setPendingTemplate(null)}>
                Keep mine
              </button>
            </div>
          )}
          {undo && !pendingTemplate && (
            <div className="inline-note" role="status" data-testid="undo-bar">
              <span>{undo.label}</span>
              <button
                type="button"
                className="button small"
                data-testid="undo"
                onClick={() => {
                  setText(undo.text)
                  setUndo(null)
                  editor.current?.focus()
                }}
              >
                Undo
              </button>
            </div>
          )}
        </div>

        <div className="field grow-field">
          <div className="editor-header">
            <span className="field-label" id="body-label">
              Body (JSON)
            </span>
            <div className="editor-tools">
              <button type="button" data-testid="format" className="button small" onClick={format} disabled={!check.ok}>
                Format
              </button>
              <span className="muted copy-as">Copy as</span>
              {(Object.keys(SNIPPET_LABELS) as SnippetLanguage[]).map((language) => (
                <CopyButton
                  key={language}
                  testId={`copy-${language}`}
                  label={language === 'curl' ? 'curl' : language === 'python' ? 'Python' : 'JavaScript'}
                  text={() => snippet(language, client.baseUrl || window.location.origin, providerName, editor.current?.getText() ?? text)}
                />
              ))}
            </div>
          </div>
          <Suspense fallback={<div className="editor loading-editor">Loading the editor…</div>}>
            <CodeEditor
              ref={editor}
              value={text}
              onChange={typed}
              errorOffset={check.ok ? null : check.offset}
              onSubmit={send}
              label="Request body (JSON)"
              autoFocus // after sign-in the caret goes to the editor, not to <body>
            />
          </Suspense>
          {check.ok ? (
            <p className={`json-status ${size > BODY_WARN_BYTES ? 'bad' : 'ok'}`} data-testid="json-ok">
              Valid request · {size.toLocaleString('en')} bytes
              {tooBig
                ? ` — over the ${formatBytes(BODY_LIMIT_BYTES)} limit: the gateway would refuse it`
                : size > BODY_WARN_BYTES
                  ? ` — close to the ${formatBytes(BODY_LIMIT_BYTES)} limit`
                  : ''}
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
          <span className="muted hint">{sending ? 'Esc cancels' : 'Ctrl+Enter sends'}</span>
          {sending && <Clock startedAt={sending.startedAt} testId="send-elapsed" className="muted send-elapsed" />}
          <button
            type="button"
            ref={sendButton}
            data-testid="send"
            className="button primary"
            onClick={send}
            disabled={!canSend}
            aria-disabled={sending ? true : undefined}
          >
            {sending ? 'Sending…' : 'Send'}
          </button>
          {sending && (
            <button type="button" ref={cancelButton} data-testid="cancel" className="button" onClick={cancel} aria-keyshortcuts="Escape">
              Cancel
            </button>
          )}
        </div>

        <HistoryList history={history} running={sending ? history[0]?.id : undefined} onRestore={restore} />
      </section>

      <ResponsePanel ref={output} view={view} sending={sending} onContinue={continueWith} />
    </main>
  )
}
