import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts'
import { formatMetric, type Metric, type Series } from './shape'

/** Colours that keep 3:1 contrast against both the light and the dark surface. */
export const PALETTE = ['#4f7ff0', '#e0813a', '#2fa36b', '#c0569a', '#8a6ee0', '#c9a227', '#3aa3b8', '#d0584f']

/** A stacked bar per day (recharts, SVG); the same numbers are in the table below it. */
export function UsageChart({ series, metric, label }: { series: Series; metric: Metric; label: string }) {
  const shortDay = (day: string) => day.slice(5)
  return (
    <figure className="usage-figure" data-testid="usage-chart" aria-label={label} data-total={series.total}>
      <div className="usage-chart-box">
        <ResponsiveContainer width="100%" height="100%" minWidth={200}>
          {/* recharts' accessibility layer: the chart takes focus and the arrow keys walk the days' tooltips. */}
          <BarChart data={series.points} margin={{ top: 8, right: 8, bottom: 0, left: 0 }} accessibilityLayer title={label}>
            <CartesianGrid vertical={false} className="chart-grid" />
            <XAxis dataKey="day" tickFormatter={shortDay} minTickGap={12} tickLine={false} />
            <YAxis width={76} tickFormatter={(v: number) => formatMetric(v, metric)} allowDecimals={metric === 'cost_usd'} tickLine={false} />
            <Tooltip
              cursor={{ className: 'chart-cursor' }}
              wrapperClassName="chart-tooltip"
              formatter={(value) => formatMetric(Number(value), metric)}
            />
            <Legend wrapperStyle={{ fontSize: 12 }} />
            {series.names.map((name, i) => (
              <Bar key={name} dataKey={name} stackId="usage" fill={PALETTE[i % PALETTE.length]} isAnimationActive={false} />
            ))}
          </BarChart>
        </ResponsiveContainer>
      </div>
      <figcaption className="visually-hidden">{label}</figcaption>
    </figure>
  )
}
