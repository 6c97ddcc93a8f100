import { reasonPhrase, type Envelope, type PassthroughData } from '../api'
import { CopyButton } from './CopyButton'

export type ResponseView =
  | { kind: 'response'; status: number; durationMs: number; envelope: Envelope<PassthroughData> | null; text: string }
  | { kind: 'failure'; message: string; durationMs: number }

interface Props {
  view: ResponseView | null
  sending: boolean
}

function statusTone(status: number): string {
  if (status >= 200 && status < 300) return 'ok'
  if (status >= 400 && status < 500) return 'warn'
  return 'bad'
}

function pretty(view: Extract<ResponseView, { kind: 'response' }>): string {
  return view.envelope ? JSON.stringify(view.envelope, null, 2) : view.text
}

/** The provider's own error message, read from the usual OpenAI-style shapes without rewriting it. */
function providerMessage(body: unknown): string | null {
  if (typeof body === 'string') return body
  if (body && typeof body === 'object') {
    const error = (body as { error?: unknown }).error
    if (typeof error === 'string') return error
    if (error && typeof error === 'object' && typeof (error as { message?: unknown }).message === 'string') {
      return (error as { message: string }).message
    }
    const message = (body as { message?: unknown }).message
    if (typeof message === 'string') return message
  }
  return null
}

interface Reply {
  text: string | null
  toolCalls: { name: string; arguments: string }[]
  finishReason: string | null
  usage: { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number } | null
}

/** The first choice of an OpenAI-style chat completion, when the body is one. */
function readReply(body: unknown): Reply | null {
  if (!body || typeof body !== 'object') return null
  const completion = body as {
    choices?: { message?: { content?: unknown; tool_calls?: unknown }; finish_reason?: unknown }[]
    usage?: Reply['usage']
  }
  const choice = Array.isArray(completion.choices) ? completion.choices[0] : undefined
  if (!choice?.message) return null
  const calls = Array.isArray(choice.message.tool_calls) ? choice.message.tool_calls : []
  return {
    text: typeof choice.message.content === 'string' ? choice.message.content : null,
    toolCalls: calls.map((call: { function?: { name?: unknown; arguments?: unknown } }) => ({
      name: String(call.function?.name ?? 'function'),
      arguments: typeof call.function?.arguments === 'string' ? call.function.arguments : '',
    })),
    finishReason: typeof choice.finish_reason === 'string' ? choice.finish_reason : null,
    usage: completion.usage ?? null,
  }
}

function Summary({ envelope, status }: { envelope: Envelope<PassthroughData> | null; status: number }) {
  if (!envelope) {
    return (
      <div className="callout bad" data-testid="response-summary">
        <strong>The gateway answered {status} with a body that is not JSON.</strong>
      </div>
    )
  }
  if (envelope.error) {
    return (
      <div className="callout bad" role="alert" data-testid="response-summary">
        <div className="callout-title">Gateway error · {envelope.error.type}</div>
        <div>{envelope.error.message}</div>
      </div>
    )
  }
  const data = envelope.data
  if (!data) return null
  if (data.status >= 400) {
    const message = providerMessage(data.body)
    return (
      <div className="callout warn" role="alert" data-testid="response-summary">
        <div className="callout-title">
          Provider answered {data.status} {reasonPhrase(data.status)}
        </div>
        {message && <div data-testid="provider-error-message">{message}</div>}
        <pre className="code small-code" data-testid="provider-body">
          {typeof data.body === 'string' ? data.body : JSON.stringify(data.body, null, 2)}
        </pre>
      </div>
    )
  }
  const reply = readReply(data.body)
  if (!reply) return null
  return (
    <div className="callout ok" data-testid="response-summary">
      <div className="callout-title">
        Reply
        {reply.finishReason && <span className="chip">finish: {reply.finishReason}</span>}
        {reply.usage?.total_tokens !== undefined && (
          <span className="chip">
            {reply.usage.prompt_tokens ?? '?'} + {reply.usage.completion_tokens ?? '?'} = {reply.usage.total_tokens}{' '}
            tokens
          </span>
        )}
      </div>
      {reply.text && <div className="reply-text">{reply.text}</div>}
      {reply.toolCalls.map((call, i) => (
        <div key={i} className="mono tool-call">
          → {call.name}({call.arguments})
        </div>
      ))}
    </div>
  )
}

export function ResponsePanel({ view, sending }: Props) {
  return (
    <section className="card panel response-panel" aria-labelledby="response-title" aria-busy={sending}>
      <header className="panel-header">
        <h2 id="response-title">Response</h2>
        {sending && <span className="sending">Waiting for the provider…</span>}
      </header>

      {!view && !sending && (
        <div className="empty">
          <p>Nothing sent yet.</p>
          <p className="muted">Pick a provider and a template, then press Send (or Ctrl+Enter in the editor).</p>
        </div>
      )}

      {view?.kind === 'failure' && (
        <>
          <dl className="facts">
            <div>
              <dt>Status</dt>
              <dd data-testid="response-status">
                <span className="status-pill bad">No response</span>
              </dd>
            </div>
            <div>
              <dt>Time</dt>
              <dd data-testid="response-duration">{view.durationMs} ms</dd>
            </div>
          </dl>
          <div className="callout bad" role="alert">
            {view.message}
          </div>
        </>
      )}

      {view?.kind === 'response' && (
        <div className={sending ? 'stale' : undefined}>
          <dl className="facts">
            <div>
              <dt>Status</dt>
              <dd data-testid="response-status">
                <span className={`status-pill ${statusTone(view.status)}`}>
                  {view.status} {reasonPhrase(view.status)}
                </span>
              </dd>
            </div>
            <div>
              <dt>Time</dt>
              <dd data-testid="response-duration">{view.durationMs} ms</dd>
            </div>
            <div className="grow">
              <dt>Journal key</dt>
              <dd data-testid="response-key" className="mono">
                {view.envelope?.metadata?.key ?? '—'}
              </dd>
            </div>
          </dl>
          <Summary envelope={view.envelope} status={view.status} />
          <div className="code-header">
            <span className="field-label">Full response</span>
            <CopyButton text={pretty(view)} testId="copy" />
          </div>
          <pre className="code" data-testid="response-body">
            {pretty(view)}
          </pre>
        </div>
      )}
    </section>
  )
}
