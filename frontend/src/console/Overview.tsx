import { useEffect, useMemo, useState } from 'react'
import type { ApiKeyView, Console, UsageReport } from './consoleApi'
import { explain, isRejectedKey } from './consoleApi'
import { daysBefore, formatMetric, METRIC_LABELS, today, usageSeries, type Metric, type SplitBy } from './shape'
import { UsageChart } from './UsageChart'

const RANGES = [7, 30, 90]
/** The usage counters trail each request by a second or two: refresh while the overview is open. */
export const REFRESH_MS = 3000

export function Overview({ api, keys, onKeyRejected }: { api: Console; keys: ApiKeyView[]; onKeyRejected: () => void }) {
  const [days, setDays] = useState(7)
  const [metric, setMetric] = useState<Metric>('requests')
  const [split, setSplit] = useState<SplitBy>('client')
  const [report, setReport] = useState<UsageReport | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [loading, setLoading] = useState(true)
  const to = today()
  const from = daysBefore(to, days - 1)

  useEffect(() => {
    let live = true
    let timer = 0
    const load = () => {
      api.usage(from, to).then(
        (r) => {
          if (!live) return
          setReport(r)
          setError(null)
          setLoading(false)
        },
        (e: unknown) => {
          if (!live) return
          if (isRejectedKey(e)) return onKeyRejected()
          setError(explain(e))
          setLoading(false)
        },
      )
      timer = window.setTimeout(load, REFRESH_MS)
    }
    load()
    return () => {
      live = false
      window.clearTimeout(timer)
    }
  }, [api, from, to, onKeyRejected])

  const keyNames = useMemo(() => Object.fromEntries(keys.map((k) => [k.key_id, `${k.name} (${k.key_id})`])), [keys])
  const series = useMemo(() => usageSeries(report?.rows ?? [], metric, split, from, to, keyNames), [report, metric, split, from, to, keyNames])
  const total = report?.total

  return (
    <section aria-labelledby="overview-title" className="console-section">
      <header className="section-header">
        <h2 id="overview-title">Usage</h2>
        <p className="muted">Per day (UTC), counted a second or two after each request; refreshed every few seconds.</p>
      </header>
      <div className="stat-row" data-testid="usage-totals">
        <Stat label="Requests" value={total ? formatMetric(total.requests, 'requests') : '…'} />
        <Stat label="Tokens" value={total ? formatMetric(total.total_tokens, 'total_tokens') : '…'} />
        <Stat label="Cost" value={total ? formatMetric(Number.parseFloat(total.cost_usd), 'cost_usd') : '…'} />
      </div>
      <div className="row chart-controls">
        <label className="field">
          <span className="field-label">Show</span>
          <select className="input" value={metric} onChange={(e) => setMetric(e.target.value as Metric)} data-testid="usage-metric">
            {(Object.keys(METRIC_LABELS) as Metric[]).map((m) => (
              <option key={m} value={m}>
                {METRIC_LABELS[m]}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span className="field-label">Per</span>
          <select className="input" value={split} onChange={(e) => setSplit(e.target.value as SplitBy)} data-testid="usage-split">
            <option value="client">client</option>
            <option value="key">API key</option>
          </select>
        </label>
        <label className="field">
          <span className="field-label">Days</span>
          <select className="input" value={days} onChange={(e) => setDays(Number(e.target.value))} data-testid="usage-days">
            {RANGES.map((n) => (
              <option key={n} value={n}>
                last {n} days
              </option>
            ))}
          </select>
        </label>
      </div>
      {error && (
        <p className="form-error" role="alert">
          Usage could not be loaded: {error}
        </p>
      )}
      {loading && !report ? (
        <p className="muted" aria-busy="true">
          Loading usage…
        </p>
      ) : (
        <>
          <UsageChart series={series} metric={metric} label={`${METRIC_LABELS[metric]} per day and ${split}, ${from} to ${to}`} />
          {series.total === 0 && <p className="muted">No usage in these days yet: send a request from the playground and it shows here within seconds.</p>}
          <details className="usage-table">
            <summary>Table</summary>
            <div className="table-scroll" tabIndex={0} role="region" aria-label="Usage table">
              <table className="table">
                <thead>
                  <tr>
                    <th scope="col">Day</th>
                    <th scope="col">Client</th>
                    <th scope="col">Key</th>
                    <th scope="col">Requests</th>
                    <th scope="col">Tokens</th>
                    <th scope="col">Cost</th>
                  </tr>
                </thead>
                <tbody>
                  {(report?.rows ?? []).map((r) => (
                    <tr key={`${r.day}-${r.client}-${r.key}`}>
                      <td className="mono">{r.day}</td>
                      <td>{r.client}</td>
                      <td className="mono">{keyNames[r.key ?? ''] ?? r.key}</td>
                      <td>{r.requests}</td>
                      <td>{r.total_tokens}</td>
                      <td>${r.cost_usd}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </details>
        </>
      )}
    </section>
  )
}

function Stat({ label, value }: { label: string; value: string }) {
  return (
    <div className="stat card">
      <span className="field-label">{label}</span>
      <span className="stat-value">{value}</span>
    </div>
  )
}
