import { forwardRef, memo, useEffect, useState } from 'react'
import { reasonPhrase, type Envelope, type PassthroughData } from '../api'
import { assembleChunks, chunksFromSseText, readReply, type Reply } from '../reply'
import type { Answer } from '../tabState'
import { CopyButton } from './CopyButton'

export type ResponseView =
  | { kind: 'answer'; answer: Answer }
  | { kind: 'failure'; message: string; durationMs: number; provider: string }

/** A request on its way: since when, and the streamed reply so far. */
export interface Sending {
  startedAt: number
  live: Reply | null
}

interface Props {
  view: ResponseView | null
  sending: Sending | null
  /** Multi-turn: the messages to append to the request before going on. */
  onContinue: (messages: Record<string, unknown>[]) => void
}

function statusTone(status: number): string {
  if (status >= 200 && status < 300) return 'ok'
  if (status >= 400 && status < 500) return 'warn'
  return 'bad'
}

function pretty(answer: Answer): string {
  return answer.envelope ? JSON.stringify(answer.envelope, null, 2) : answer.text
}

const looksLikeHtml = (text: string) => /^\s*(<!doctype html|<html|<head|<body)/i.test(text)

/** The provider's own error message, read from the usual OpenAI-style shapes without rewriting it. */
function providerMessage(body: unknown): string | null {
  if (typeof body === 'string') {
    if (!looksLikeHtml(body)) return null // shown once, as the body itself
    const title = /<title[^>]*>([^<]*)<\/title>/i.exec(body)?.[1]?.trim()
    return `The provider answered with an HTML page${title ? `: ${title}` : ''}.`
  }
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

/** Replies of streams, assembled once per answer (a 355 KB stream is thousands of chunks, read by several views). */
const assembled = new WeakMap<unknown[], Reply | null>()

/** The reply of a completion, of a stream, or of a provider's SSE text passed back as a string. */
export function replyOf(answer: Pick<Answer, 'chunks' | 'envelope'>): Reply | null {
  if (answer.chunks) {
    if (!assembled.has(answer.chunks)) assembled.set(answer.chunks, readReply(assembleChunks(answer.chunks)))
    return assembled.get(answer.chunks) ?? null
  }
  const data = answer.envelope?.data
  if (!data || data.status >= 400) return null
  if (typeof data.body === 'string') {
    const chunks = chunksFromSseText(data.body)
    return chunks ? readReply(assembleChunks(chunks)) : null
  }
  return readReply(data.body)
}

/** What a browser user can do about a gateway error, in their words rather than an operator's. */
function gatewayAdvice(envelope: Envelope<PassthroughData>, provider: string): string | null {
  switch (envelope.error?.type) {
    case 'provider_not_configured':
      return `This gateway has no API key for ${provider}, so it cannot call it for you. Pick a provider marked as configured (offline always answers), or ask the gateway's operator to add a ${provider} key.`
    case 'payload_too_large':
      return 'The body is over the 4 MiB limit: shorten it.'
    case 'provider_error':
      return /refused the connection/.test(envelope.error.message)
        ? `${envelope.error.message} Start that server, or pick another provider (offline always answers).`
        : null
    case 'provider_timeout':
      return 'The provider did not answer in time. Try again, or ask for a shorter answer (max tokens).'
    default:
      return null
  }
}

/** marked and DOMPurify load on the first reply; until then (a few ms) the text shows as is. */
let markdownModule: Promise<typeof import('../markdown')> | null = null
function useMarkdown(text: string | null): string | null {
  const [html, setHtml] = useState<string | null>(null)
  useEffect(() => {
    let live = true
    if (!text) {
      setHtml(null)
      return
    }
    markdownModule ??= import('../markdown')
    markdownModule.then((m) => live && setHtml(m.renderMarkdown(text)))
    return () => {
      live = false
    }
  }, [text])
  return html
}

/**
 * Markdown (marked, then DOMPurify) costs about a millisecond per KB and blocks
 * the page meanwhile: a reply is rendered live up to LIVE_MARKDOWN_CHARS, once
 * it has ended up to MARKDOWN_CHARS, and beyond that on request. The text
 * itself always shows at once.
 */
const LIVE_MARKDOWN_CHARS = 16 * 1024
const MARKDOWN_CHARS = 100 * 1024
/** A full response over this is folded, and drawn only when opened. */
const OPEN_RESPONSE_CHARS = 100 * 1024

/**
 * Plain text in blocks of about BLOCK_CHARS, cut after a newline: while a long
 * reply grows only its last block changes in the DOM, and blocks off screen
 * skip layout (content-visibility), so a 355 KB reply costs what is visible.
 */
const BLOCK_CHARS = 4096
const TextBlock = memo(function TextBlock({ text }: { text: string }) {
  return <div className="text-block">{text}</div>
})
export function textBlocks(text: string): string[] {
  const blocks: string[] = []
  let at = 0
  while (at < text.length) {
    let end = Math.min(at + BLOCK_CHARS, text.length)
    if (end < text.length) {
      const newline = text.indexOf('\n', end)
      end = newline === -1 || newline - end > BLOCK_CHARS ? text.length : newline + 1
    }
    blocks.push(text.slice(at, end))
    at = end
  }
  return blocks
}
function PlainText({ text }: { text: string }) {
  return (
    <>
      {textBlocks(text).map((block, i) => (
        <TextBlock key={i} text={block} />
      ))}
    </>
  )
}

function ReplyView({ reply, streaming, onContinue }: { reply: Reply; streaming: boolean; onContinue?: Props['onContinue'] }) {
  const [rich, setRich] = useState(false)
  const length = reply.text?.length ?? 0
  const markdown = rich || length <= (streaming ? LIVE_MARKDOWN_CHARS : MARKDOWN_CHARS)
  const html = useMarkdown(markdown ? reply.text : null)
  const [next, setNext] = useState('')
  const [toolResults, setToolResults] = useState<string[]>(() => reply.toolCalls.map(() => ''))

  function go() {
    const assistant: Record<string, unknown> = { role: 'assistant', content: reply.text }
    if (reply.toolCalls.length) assistant.tool_calls = reply.toolCalls
    const messages: Record<string, unknown>[] = [assistant]
    reply.toolCalls.forEach((call, i) => {
      messages.push({ role: 'tool', tool_call_id: call.id ?? `call_${i}`, content: toolResults[i] ?? '' })
    })
    if (next.trim()) messages.push({ role: 'user', content: next })
    onContinue?.(messages)
    setNext('')
  }

  return (
    <>
      {reply.text !== null && (
        <div className="reply-header">
          <span className="field-label">Reply</span>
          {!streaming && !markdown && (
            <button type="button" className="button small" data-testid="render-markdown" onClick={() => setRich(true)}>
              Show as Markdown ({Math.round(length / 1024)} KB)
            </button>
          )}
          {!streaming && <CopyButton text={reply.text} testId="copy-reply" label="Copy reply" />}
        </div>
      )}
      {reply.text !== null && (
        html !== null ? (
          <div className="markdown" data-testid="reply-markdown" dangerouslySetInnerHTML={{ __html: html }} />
        ) : (
          <div className="markdown plain" data-testid="reply-markdown">
            <PlainText text={reply.text} />
          </div>
        )
      )}
      {reply.toolCalls.map((call, i) => (
        <div key={i} className="mono tool-call">
          → {call.function.name}({call.function.arguments})
        </div>
      ))}
      {!streaming && onContinue && (
        <div className="continue" role="group" aria-label="Continue the conversation">
          {reply.toolCalls.map((call, i) => (
            <label key={i} className="continue-field">
              <span className="field-label">Result of {call.function.name}</span>
              <input
                className="input mono"
                data-testid={`tool-result-${i}`}
                value={toolResults[i] ?? ''}
                onChange={(e) => setToolResults((all) => all.map((v, j) => (j === i ? e.target.value : v)))}
                placeholder='{"temperature": 21}'
              />
            </label>
          ))}
          <label className="continue-field">
            <span className="field-label">Your next message</span>
            <textarea
              className="input"
              rows={2}
              data-testid="continue-input"
              value={next}
              onChange={(e) => setNext(e.target.value)}
              placeholder="Ask a follow-up…"
            />
          </label>
          <button type="button" className="button" data-testid="continue" onClick={go}>
            Append to the request
          </button>
        </div>
      )}
    </>
  )
}

function Summary({ answer, onContinue }: { answer: Answer; onContinue: Props['onContinue'] }) {
  const { envelope, status } = answer
  if (answer.chunks) {
    const reply = replyOf(answer)
    const failed = answer.chunks.find((c) => c && typeof c === 'object' && 'error' in c) as { error?: unknown } | undefined
    return (
      <div className={`callout ${failed ? 'bad' : 'ok'}`} data-testid="response-summary">
        {answer.cancelled && <div className="callout-title">Cancelled: what arrived before Cancel</div>}
        {failed && <div className="callout-title">The stream reported an error: {providerMessage(failed) ?? ''}</div>}
        {reply && <ReplyView reply={reply} streaming={false} onContinue={answer.cancelled ? undefined : onContinue} />}
      </div>
    )
  }
  if (!envelope) {
    return (
      <div className="callout bad" data-testid="response-summary">
        <strong>The gateway answered {status} with a body that is not JSON.</strong>
      </div>
    )
  }
  if (envelope.error) {
    const advice = gatewayAdvice(envelope, answer.provider)
    return (
      <div className="callout bad" role="alert" data-testid="response-summary">
        <div className="callout-title">Gateway error · {envelope.error.type}</div>
        <div>{advice ?? envelope.error.message}</div>
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
        <pre className="code small-code" data-testid="provider-body" tabIndex={0} aria-label="Provider's answer">
          {typeof data.body === 'string' ? data.body : JSON.stringify(data.body, null, 2)}
        </pre>
      </div>
    )
  }
  const reply = replyOf(answer)
  if (!reply) return null
  return (
    <div className="callout ok" data-testid="response-summary">
      <ReplyView key={answer.journalKey ?? envelope.metadata?.key} reply={reply} streaming={false} onContinue={onContinue} />
    </div>
  )
}

export function Clock({ startedAt, testId = 'elapsed', className = 'sending' }: { startedAt: number; testId?: string; className?: string }) {
  const [now, setNow] = useState(() => performance.now())
  useEffect(() => {
    const timer = window.setInterval(() => setNow(performance.now()), 100)
    return () => window.clearInterval(timer)
  }, [])
  return (
    <span className={className} data-testid={testId}>
      {((now - startedAt) / 1000).toFixed(1)} s
    </span>
  )
}

const providerFailed = (answer: Answer) => (answer.envelope?.data?.status ?? 0) >= 400

function tokens(reply: Reply | null, answer: Answer | null): string | null {
  const usage = reply?.usage
  if (usage && usage.total_tokens !== undefined) return `${usage.prompt_tokens ?? '?'} in + ${usage.completion_tokens ?? '?'} out = ${usage.total_tokens}`
  // A stream without stream_options carries no usage; the gateway asked for it anyway and counted it.
  const metered = answer?.metered
  if (!metered || metered.totalTokens === null) return null
  return `${metered.promptTokens ?? '?'} in + ${metered.completionTokens ?? '?'} out = ${metered.totalTokens}${metered.estimated ? ' (estimated)' : ''}`
}

/** The provider's own cost when it reports one, else the gateway's price of the request. */
function costOf(reply: Reply | null, answer: Answer | null): { text: string; source: string } | null {
  const reported = reply?.usage?.cost
  if (typeof reported === 'number') return { text: `$${reported.toFixed(6)}`, source: 'reported by the provider' }
  const priced = answer?.metered?.costUsd
  if (priced === null || priced === undefined) return null
  return { text: `$${priced}`, source: "the gateway's price" }
}

/** The whole answer as received; a long one stays folded, and is drawn only once opened. */
function FullResponse({ answer }: { answer: Answer }) {
  const text = pretty(answer)
  const [open, setOpen] = useState(() => !providerFailed(answer) && text.length <= OPEN_RESPONSE_CHARS)
  return (
    <details className="full-response" open={open} onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary className="field-label">
        {answer.chunks ? 'Events as received' : 'Full response'}
        {text.length > OPEN_RESPONSE_CHARS ? ` (${Math.round(text.length / 1024)} KB)` : ''}
      </summary>
      <div className="code-header">
        <CopyButton text={text} testId="copy" />
      </div>
      {(open || text.length <= OPEN_RESPONSE_CHARS) && (
        <pre className="code" data-testid="response-body" tabIndex={0} role="region" aria-label="Full response">
          {text}
        </pre>
      )}
    </details>
  )
}

/** The response panel; its ref is the answer's region, which takes focus when an answer arrives. */
export const ResponsePanel = forwardRef<HTMLDivElement, Props>(function ResponsePanel({ view, sending, onContinue }, ref) {
  const answer = view?.kind === 'answer' ? view.answer : null
  const reply = answer ? replyOf(answer) : null
  const live = sending?.live ?? null
  const model = reply?.model ?? answer?.requestedModel ?? null
  const journalKey = answer ? (answer.envelope?.metadata?.key ?? answer.journalKey) : null
  const cost = costOf(reply, answer)
  const tokenText = tokens(reply, answer)

  return (
    <section className="card panel response-panel" aria-labelledby="response-title" aria-busy={!!sending}>
      <header className="panel-header">
        <h2 id="response-title">Response</h2>
        {sending && (
          <span className="sending">
            {sending.live ? 'Streaming…' : 'Waiting for the provider…'} <Clock startedAt={sending.startedAt} />
          </span>
        )}
      </header>

      <div ref={ref} tabIndex={-1} className="response-output" data-testid="response-output">
        {!view && !sending && (
          <div className="empty">
            <p>Nothing sent yet.</p>
            <p className="muted">Pick a provider and a template, then press Send (or Ctrl+Enter in the editor).</p>
          </div>
        )}

        {sending && live && (
          <div className="callout ok" data-testid="stream-live">
            <ReplyView reply={live} streaming onContinue={undefined} />
          </div>
        )}

        {view?.kind === 'failure' && !sending && (
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

        {answer && !(sending && live) && (
          <div className={sending ? 'stale' : undefined}>
            <dl className="facts">
              <div>
                <dt>Status</dt>
                <dd data-testid="response-status">
                  <span className={`status-pill ${statusTone(answer.status)}`}>
                    {answer.status} {reasonPhrase(answer.status)}
                  </span>
                </dd>
              </div>
              <div>
                <dt>Total time</dt>
                <dd data-testid="response-duration">{answer.durationMs} ms</dd>
              </div>
              {answer.overheadMs !== null && (
                <div>
                  <dt>Gateway overhead</dt>
                  <dd data-testid="response-overhead">{answer.overheadMs.toFixed(1)} ms</dd>
                </div>
              )}
              <div>
                <dt>Provider · model</dt>
                <dd data-testid="response-model" className="mono">
                  {answer.provider}
                  {model ? ` · ${model}` : ''}
                  {answer.chunks ? ' · streamed' : ''}
                </dd>
              </div>
              {tokenText && (
                <div>
                  <dt>Tokens</dt>
                  <dd data-testid="response-tokens">{tokenText}</dd>
                </div>
              )}
              {cost && (
                <div>
                  <dt>Cost</dt>
                  <dd data-testid="response-cost" title={cost.source}>
                    {cost.text}
                  </dd>
                </div>
              )}
              <div className="grow">
                <dt>Journal key</dt>
                <dd data-testid="response-key" className="mono">
                  {journalKey ?? '—'}
                </dd>
              </div>
            </dl>
            <Summary answer={answer} onContinue={onContinue} />
            {/* A provider's error body is shown once, above; the envelope around it stays folded. */}
            <FullResponse answer={answer} key={journalKey ?? answer.durationMs} />
          </div>
        )}
      </div>
    </section>
  )
})
