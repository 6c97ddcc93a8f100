import type { HistoryEntry } from '../tabState'

function tone(status: number | null): string {
  if (status === null || status >= 500) return 'bad'
  return status < 300 ? 'ok' : 'warn'
}

/** The requests sent from this tab, newest first, each restorable. */
export function HistoryList({ history, onRestore }: { history: HistoryEntry[]; onRestore: (entry: HistoryEntry) => void }) {
  if (!history.length) return null
  return (
    <details className="history" data-testid="history">
      <summary>History ({history.length})</summary>
      <ol className="history-list">
        {history.map((h) => (
          <li key={h.id} data-testid="history-item">
            <span className="mono">{new Date(h.at).toLocaleTimeString()}</span>
            <span className="mono">
              {h.provider} · {h.model || '—'}
            </span>
            <span className={`status-pill ${tone(h.status)}`}>
              {h.status ?? '—'}
            </span>
            <button type="button" className="button small" data-testid="history-restore" onClick={() => onRestore(h)}>
              Restore
            </button>
          </li>
        ))}
      </ol>
    </details>
  )
}
