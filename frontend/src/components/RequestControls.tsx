import { setAt, setMaxTokens, setSystemPrompt, type Controls } from '../request'

type Edit = (change: (text: string, request: Record<string, unknown>) => string) => void

/** Temperature, max tokens, Stream and the system prompt: each reads the body and edits it in place. */
export function RequestControls({ controls, edit }: { controls: Controls | null; edit: Edit }) {
  return (
    <fieldset className="controls" disabled={!controls}>
      <legend className="field-label">Parameters (they edit the JSON)</legend>
      <label className="control">
        <span>Temperature</span>
        <input
          type="number"
          className="input"
          data-testid="temperature"
          min={0}
          max={2}
          step={0.1}
          value={controls?.temperature ?? ''}
          placeholder="default"
          onChange={(e) => edit((t) => setAt(t, ['temperature'], e.target.value === '' ? undefined : Number(e.target.value)))}
        />
      </label>
      <label className="control">
        <span>Max tokens</span>
        <input
          type="number"
          className="input"
          data-testid="max-tokens"
          min={1}
          step={1}
          value={controls?.maxTokens ?? ''}
          placeholder="default"
          onChange={(e) => edit((t, r) => setMaxTokens(t, r, e.target.value === '' ? null : Math.trunc(Number(e.target.value))))}
        />
      </label>
      <label className="control checkbox">
        <input
          type="checkbox"
          data-testid="stream"
          checked={controls?.stream ?? false}
          onChange={(e) => edit((t) => setAt(t, ['stream'], e.target.checked ? true : undefined))}
        />
        <span>Stream</span>
      </label>
      <label className="control wide">
        <span>System prompt</span>
        <textarea
          className="input"
          rows={2}
          data-testid="system-prompt"
          value={controls?.system ?? ''}
          placeholder="none"
          onChange={(e) => edit((t, r) => setSystemPrompt(t, r, e.target.value))}
        />
      </label>
    </fieldset>
  )
}
