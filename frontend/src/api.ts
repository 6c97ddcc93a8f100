import { ChunkReader, readReply, StreamAssembler, type Reply } from './reply'

/** The gateway's platform routes, as the page uses them. Every JSON answer is an envelope. */

export interface EnvelopeError {
  type: string
  message: string
  status: number
}

export interface Envelope<T = unknown> {
  api?: string
  thing?: string
  metadata?: { command?: string; key?: string; [name: string]: unknown }
  data?: T
  error?: EnvelopeError
}

export interface Identity {
  account: string
  key_id: string
  name: string
  clients: string[] | null
}

export interface Provider {
  name: string
  base_url: string
  default_model: string
  is_default: boolean
  docs_url?: string | null
  configured?: boolean
  /** A keyless provider (`local`) where nothing accepted a connection when listed. */
  unreachable?: boolean
}

export interface PassthroughData {
  status: number
  body: unknown
}

/** What came back from one passthrough call, whatever its status. */
export interface PassthroughResult {
  status: number
  durationMs: number
  /** The parsed envelope, or null when the body was not JSON (or was a stream). */
  envelope: Envelope<PassthroughData> | null
  /** The body exactly as received. */
  text: string
  /** X-Smarter-Journal-Key, the journal entry of this call. */
  journalKey: string | null
  /** X-Smarter-Overhead-Duration-Ms: the gateway's own share of the time. */
  overheadMs: number | null
  /** Set when the answer was `text/event-stream`: the chunks as they came. */
  chunks: unknown[] | null
  /** The user pressed Cancel: what arrived until then. */
  cancelled: boolean
}

export interface SendOptions {
  signal?: AbortSignal
  /** The reply so far while a streamed answer grows, at most every PROGRESS_MS (a long stream is thousands of events). */
  onProgress?: (live: Reply) => void
}

/** How often a growing stream is shown: ten times a second reads as live and leaves the page idle in between. */
export const PROGRESS_MS = 100

const isAbort = (e: unknown) => e instanceof DOMException && e.name === 'AbortError'

/** A failed gateway call: the envelope's error when there is one, otherwise the HTTP status or network failure. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    readonly type: string,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

export class GatewayClient {
  constructor(
    readonly baseUrl: string,
    readonly apiKey: string,
    private readonly fetchImpl: typeof fetch = (...args) => fetch(...args),
  ) {}

  whoami(): Promise<Identity> {
    return this.getData<Identity>('/v1/whoami')
  }

  async providers(): Promise<Provider[]> {
    const data = await this.getData<{ providers: Provider[] }>('/v1/providers')
    return data.providers ?? []
  }

  /**
   * Send the editor's text as is; the provider's status is the response's status.
   * A `text/event-stream` answer is read chunk by chunk; errors before the stream
   * starts are JSON envelopes like any other answer.
   */
  async passthrough(provider: string, body: string, options: SendOptions = {}): Promise<PassthroughResult> {
    const started = performance.now()
    const response = await this.call(`/v1/passthrough/${encodeURIComponent(provider)}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      body,
      signal: options.signal,
    })
    const overhead = Number.parseFloat(response.headers.get('X-Smarter-Overhead-Duration-Ms') ?? '')
    const result = {
      status: response.status,
      journalKey: response.headers.get('X-Smarter-Journal-Key'),
      overheadMs: Number.isFinite(overhead) ? overhead : null,
    }
    const elapsed = () => Math.round(performance.now() - started)
    if ((response.headers.get('Content-Type') ?? '').includes('text/event-stream') && response.body) {
      const reader = new ChunkReader()
      const assembler = new StreamAssembler()
      const decoder = new TextDecoder()
      const pieces: string[] = []
      let cancelled = false
      let shownAt = -Infinity
      let trailing: ReturnType<typeof setTimeout> | undefined
      const show = () => {
        trailing = undefined
        shownAt = performance.now()
        const live = readReply(assembler.completion())
        if (live) options.onProgress?.(live)
      }
      const stream = response.body.getReader()
      try {
        for (;;) {
          const { done, value } = await stream.read()
          if (done) break
          const piece = decoder.decode(value, { stream: true })
          pieces.push(piece)
          const before = reader.chunks.length
          reader.feed(piece)
          for (let i = before; i < reader.chunks.length; i++) assembler.add(reader.chunks[i])
          if (reader.chunks.length === before || !options.onProgress || trailing !== undefined) continue
          // At most one update per PROGRESS_MS; what arrives in between is shown at the end of it.
          const wait = shownAt + PROGRESS_MS - performance.now()
          if (wait <= 0) show()
          else trailing = setTimeout(show, wait)
        }
      } catch (e) {
        if (!isAbort(e)) throw e
        cancelled = true
      } finally {
        clearTimeout(trailing)
      }
      return { ...result, durationMs: elapsed(), envelope: null, text: pieces.join(''), chunks: reader.chunks, cancelled }
    }
    const text = await response.text()
    return { ...result, durationMs: elapsed(), envelope: parseEnvelope(text), text, chunks: null, cancelled: false }
  }

  private url(path: string): string {
    return `${this.baseUrl}${path}`
  }

  private async call(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers)
    headers.set('Authorization', `Bearer ${this.apiKey}`)
    if (!headers.has('Accept')) headers.set('Accept', 'application/json')
    try {
      return await this.fetchImpl(this.url(path), { ...init, headers, credentials: 'omit' })
    } catch (e) {
      if (isAbort(e)) throw e
      const reason = e instanceof Error ? e.message : String(e)
      const where = this.baseUrl || window.location.origin
      throw new ApiError(`Could not reach the API at ${where} (${reason}).`, null, 'network')
    }
  }

  /** A JSON call whose answer is an envelope: its data, or an ApiError saying what went wrong. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const init: RequestInit = { method }
    if (body !== undefined) {
      init.headers = { 'Content-Type': 'application/json' }
      init.body = JSON.stringify(body)
    }
    return this.getData<T>(path, init)
  }

  private async getData<T>(path: string, init: RequestInit = {}): Promise<T> {
    const response = await this.call(path, init)
    const envelope = parseEnvelope<T>(await response.text())
    if (!response.ok || envelope?.error) {
      const error = envelope?.error
      throw new ApiError(
        error?.message ?? `The API answered HTTP ${response.status}.`,
        response.status,
        error?.type ?? 'http_error',
      )
    }
    if (!envelope || envelope.data === undefined) {
      throw new ApiError('The API answered without data.', response.status, 'bad_response')
    }
    return envelope.data
  }
}

export function parseEnvelope<T = unknown>(text: string): Envelope<T> | null {
  try {
    const value: unknown = JSON.parse(text)
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Envelope<T>) : null
  } catch {
    return null
  }
}

const REASONS: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
}

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? ''
}
