import { useCallback, useEffect, useState } from 'react'
import type { Console, ConsoleClient, JournalFilter, JournalRecord, JournalSummary } from './consoleApi'
import { explain, isRejectedKey } from './consoleApi'
import { answerText, replayRequest, type PlaygroundRequest } from './shape'

const tone = (status: number) => (status < 300 ? 'ok' : status < 500 ? 'warn' : 'bad')

export function Journal({
  api,
  clients,
  accountWide,
  onReplay,
  onKeyRejected,
}: {
  api: Console
  clients: ConsoleClient[] | null
  accountWide: boolean
  onReplay: (request: PlaygroundRequest) => void
  onKeyRejected: () => void
}) {
  const [filter, setFilter] = useState<JournalFilter>({ hideConsole: true })
  const [records, setRecords] = useState<JournalSummary[] | null>(null)
  const [next, setNext] = useState<string | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [loadingMore, setLoadingMore] = useState(false)
  const [open, setOpen] = useState<{ summary: JournalSummary; record: JournalRecord | null; error: string | null } | null>(null)

  const fail = useCallback(
    (e: unknown) => {
      if (isRejectedKey(e)) onKeyRejected()
      else setError(explain(e))
    },
    [onKeyRejected],
  )

  const load = useCallback(() => {
    setError(null)
    setRecords(null)
    let live = true
    api.journal(filter, null).then((page) => {
      if (!live) return
      setRecords(page.records)
      setNext(page.next)
    }, (e: unknown) => live && fail(e))
    return () => {
      live = false
    }
  }, [api, filter, fail])

  useEffect(() => load(), [load])

  async function more() {
    if (!next) return
    setLoadingMore(true)
    try {
      const page = await api.journal(filter, next)
      setRecords((all) => [...(all ?? []), ...page.records])
      setNext(page.next)
    } catch (e) {
      fail(e)
    } finally {
      setLoadingMore(false)
    }
  }

  async function openRecord(summary: JournalSummary) {
    setOpen({ summary, record: null, error: null })
    try {
      const record = await api.record(summary.key, summary.client)
      setOpen({ summary, record, error: null })
    } catch (e) {
      if (isRejectedKey(e)) return onKeyRejected()
      setOpen({ summary, record: null, error: explain(e) })
    }
  }

  const set = (change: Partial<JournalFilter>) => setFilter((f) => ({ ...f, ...change }))

  return (
    <section aria-labelledby="journal-title" className="console-section">
      <header className="section-header">
        <h2 id="journal-title">Journal</h2>
        <p className="muted">Every request, errors included, newest first.</p>
      </header>
      <div className="row journal-filters">
        <label className="field">
          <span className="field-label">Client</span>
          <select className="input" data-testid="journal-client" value={filter.client ?? ''} onChange={(e) => set({ client: e.target.value || undefined })}>
            <option value="">all</option>
            {clients?.map((c) => (
              <option key={c.name} value={c.name}>
                {c.name}
              </option>
            ))}
            {accountWide && <option value="-">platform host (passthrough, console)</option>}
          </select>
        </label>
        <label className="field">
          <span className="field-label">Status</span>
          <select className="input" data-testid="journal-status" value={filter.status ?? ''} onChange={(e) => set({ status: e.target.value || undefined })}>
            <option value="">any</option>
            <option value="ok">succeeded</option>
            <option value="error">failed (4xx, 5xx)</option>
            <option value="4xx">4xx</option>
            <option value="5xx">5xx</option>
            <option value="401">401</option>
            <option value="429">429</option>
          </select>
        </label>
        <label className="field">
          <span className="field-label">From</span>
          <input className="input" type="datetime-local" value={filter.from ?? ''} onChange={(e) => set({ from: e.target.value || undefined })} />
        </label>
        <label className="field">
          <span className="field-label">To</span>
          <input className="input" type="datetime-local" value={filter.to ?? ''} onChange={(e) => set({ to: e.target.value || undefined })} />
        </label>
        <label className="check">
          <input type="checkbox" checked={!!filter.hideConsole} onChange={(e) => set({ hideConsole: e.target.checked })} />
          Hide the console's own requests
        </label>
        <button type="button" className="button small" data-testid="journal-refresh" onClick={load}>
          Refresh
        </button>
      </div>
      {error && (
        <p className="form-error" role="alert">
          The journal could not be read: {error}
        </p>
      )}
      {!records && !error && <p className="muted" aria-busy="true">Loading the journal…</p>}
      {records && records.length === 0 && <p className="muted">No records match: widen the filters, or send a request from the playground.</p>}
      {records && records.length > 0 && (
        <ol className="journal-list" data-testid="journal-list">
          {records.map((r) => (
            <li key={r.key} data-testid="journal-item">
              <button type="button" className="journal-row" aria-expanded={open?.summary.key === r.key} onClick={() => openRecord(r)}>
                <span className={`status-pill ${tone(r.status)}`}>{r.status}</span>
                <span className="mono">{new Date(r.created_at).toLocaleString()}</span>
                <span>
                  {r.client ?? 'platform'} · {r.command}
                  {r.provider ? ` · ${r.provider}` : ''}
                </span>
                <span className="muted mono">
                  {r.durations?.total_ms != null ? `${Math.round(r.durations.total_ms)} ms` : ''}
                  {r.cost_usd && r.cost_usd !== '0' ? ` · $${r.cost_usd}` : ''}
                </span>
              </button>
            </li>
          ))}
        </ol>
      )}
      {next && (
        <button type="button" className="button small" data-testid="journal-more" onClick={more} disabled={loadingMore}>
          {loadingMore ? 'Loading…' : 'Older records'}
        </button>
      )}
      {open && <RecordView open={open} clients={clients ?? []} onReplay={onReplay} onClose={() => setOpen(null)} />}
    </section>
  )
}

function RecordView({
  open,
  clients,
  onReplay,
  onClose,
}: {
  open: { summary: JournalSummary; record: JournalRecord | null; error: string | null }
  clients: ConsoleClient[]
  onReplay: (request: PlaygroundRequest) => void
  onClose: () => void
}) {
  const { summary, record, error } = open
  const replay = record ? replayRequest(record, clients) : null
  const answer = record ? answerText(record.response) : null
  return (
    <article className="card record-view" data-testid="journal-record" aria-labelledby="record-title">
      <header className="panel-header">
        <h3 id="record-title">
          Record <span className="mono">{summary.key}</span>
        </h3>
        <button type="button" className="button small" onClick={onClose}>
          Close
        </button>
      </header>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {!record && !error && <p className="muted" aria-busy="true">Loading the record…</p>}
      {record && (
        <>
          <dl className="facts">
            <dt>Status</dt>
            <dd>{record.status}</dd>
            <dt>Durations</dt>
            <dd data-testid="record-durations">
              total {record.durations?.total_ms ?? '—'} ms · provider {record.durations?.provider_ms ?? '—'} ms
            </dd>
            <dt>Tokens · cost</dt>
            <dd>
              {record.usage?.total_tokens ?? 0} tokens · ${record.cost_usd ?? '0'}
            </dd>
            <dt>Request</dt>
            <dd className="mono break">
              {record.request?.method} {record.request?.host}
              {record.request?.path}
            </dd>
          </dl>
          {answer !== null && (
            <>
              <h4>Answer</h4>
              <p className="answer-text" data-testid="record-answer">
                {answer}
              </p>
            </>
          )}
          <details open={record.tool_calls?.length > 0}>
            <summary>Tool calls ({record.tool_calls?.length ?? 0})</summary>
            <pre className="code-block" tabIndex={0} aria-label="Tool calls">
              {JSON.stringify(record.tool_calls ?? [], null, 2)}
            </pre>
          </details>
          <details>
            <summary>Request body</summary>
            <pre className="code-block" tabIndex={0} aria-label="Request body">
              {JSON.stringify(record.request?.body ?? null, null, 2)}
            </pre>
          </details>
          <details>
            <summary>Response</summary>
            <pre className="code-block" tabIndex={0} aria-label="Response">
              {JSON.stringify(record.response, null, 2)}
            </pre>
          </details>
          <div className="actions-left">
            <button type="button" className="button small primary" data-testid="replay" disabled={!replay} onClick={() => replay && onReplay(replay)}>
              Replay in playground
            </button>
            {!replay && <span className="muted">This record has no request body to send again (not kept, or not a chat request).</span>}
          </div>
        </>
      )}
    </article>
  )
}
