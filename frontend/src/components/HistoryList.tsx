import type { HistoryEntry } from '../tabState'

function tone(status: number | null): string {
  if (status === null || status >= 500) return 'bad'
  return status < 300 ? 'ok' : 'warn'
}

function facts(h: HistoryEntry): string {
  const parts = [h.durationMs !== null ? `${h.durationMs} ms` : null, h.tokens ? `${h.tokens} tokens` : null, typeof h.cost === 'number' ? `$${h.cost.toFixed(6)}` : null]
  return parts.filter(Boolean).join(' · ')
}

/** The requests sent from this tab, newest first, each restorable with its answer when it was kept. */
export function HistoryList({
  history,
  running,
  onRestore,
}: {
  history: HistoryEntry[]
  /** The id of the entry whose request is running now. */
  running?: string
  onRestore: (entry: HistoryEntry) => void
}) {
  if (!history.length) return null
  return (
    <details className="history" data-testid="history">
      <summary>History ({history.length})</summary>
      <ol className="history-list">
        {history.map((h) => (
          <li key={h.id} data-testid="history-item">
            <div className="history-main">
              <span className="history-preview" data-testid="history-preview" title={h.preview || undefined}>
                {h.preview || '(no user message)'}
              </span>
              <span className="mono muted history-meta">
                {new Date(h.at).toLocaleTimeString()} · {h.provider} · {h.model || '—'}
                {facts(h) ? ` · ${facts(h)}` : ''}
              </span>
            </div>
            <span className={`status-pill ${h.id === running ? 'warn' : tone(h.status)}`} data-testid="history-status">
              {h.status ?? (h.id === running ? 'running' : 'no answer')}
            </span>
            <button
              type="button"
              className="button small"
              data-testid="history-restore"
              aria-label={`Restore ${h.preview ? `“${h.preview}”` : 'the request'} of ${new Date(h.at).toLocaleTimeString()}${h.answer ? ' with its answer' : ''}`}
              onClick={() => onRestore(h)}
            >
              Restore
            </button>
          </li>
        ))}
      </ol>
    </details>
  )
}
