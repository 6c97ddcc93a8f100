/** The assistant's answer, read from a chat completion or assembled from its streamed chunks. */
import { createParser } from 'eventsource-parser'

export interface Usage {
  prompt_tokens?: number
  completion_tokens?: number
  total_tokens?: number
  /** Some gateways (OpenRouter, LiteLLM) put the price of the call here. */
  cost?: number
}

export interface ToolCall {
  id?: string
  type?: string
  function: { name: string; arguments: string }
}

export interface Reply {
  model: string | null
  text: string | null
  toolCalls: ToolCall[]
  finishReason: string | null
  usage: Usage | null
}

type Json = Record<string, unknown>
const isObject = (value: unknown): value is Json => !!value && typeof value === 'object' && !Array.isArray(value)

function readUsage(value: unknown): Usage | null {
  return isObject(value) ? (value as Usage) : null
}

/** The first choice of an OpenAI-style chat completion, when the body is one. */
export function readReply(body: unknown): Reply | null {
  if (!isObject(body) || !Array.isArray(body.choices)) return null
  const choice = body.choices[0]
  if (!isObject(choice) || !isObject(choice.message)) return null
  const message = choice.message
  const calls = Array.isArray(message.tool_calls) ? message.tool_calls.filter(isObject) : []
  return {
    model: typeof body.model === 'string' ? body.model : null,
    text: typeof message.content === 'string' ? message.content : null,
    toolCalls: calls.map((call) => {
      const fn = isObject(call.function) ? call.function : {}
      return {
        ...(typeof call.id === 'string' ? { id: call.id } : {}),
        type: typeof call.type === 'string' ? call.type : 'function',
        function: {
          name: String(fn.name ?? 'function'),
          arguments: typeof fn.arguments === 'string' ? fn.arguments : JSON.stringify(fn.arguments ?? {}),
        },
      }
    }),
    finishReason: typeof choice.finish_reason === 'string' ? choice.finish_reason : null,
    usage: readUsage(body.usage),
  }
}

/**
 * Folds `chat.completion.chunk` events into one chat completion, as the
 * non-streamed answer would have been, one chunk at a time: a long stream
 * (thousands of events) costs each event once, not once per screen update.
 */
export class StreamAssembler {
  private id: unknown
  private model: unknown
  private usage: unknown = null
  private parts: string[] | null = null
  private joined: string | null = null
  private finish: unknown = null
  private calls: { id?: string; type: string; function: { name: string; arguments: string } }[] = []
  count = 0

  add(chunk: unknown): void {
    this.count++
    if (!isObject(chunk)) return
    this.id ??= chunk.id
    this.model ??= chunk.model
    if (isObject(chunk.usage)) this.usage = chunk.usage
    const choice = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined
    if (!isObject(choice)) return
    if (typeof choice.finish_reason === 'string') this.finish = choice.finish_reason
    const delta = isObject(choice.delta) ? choice.delta : {}
    if (typeof delta.content === 'string') {
      ;(this.parts ??= []).push(delta.content)
      this.joined = null
    }
    for (const part of Array.isArray(delta.tool_calls) ? delta.tool_calls.filter(isObject) : []) {
      const index = typeof part.index === 'number' ? part.index : this.calls.length
      const call = (this.calls[index] ??= { type: 'function', function: { name: '', arguments: '' } })
      if (typeof part.id === 'string') call.id = part.id
      const fn = isObject(part.function) ? part.function : {}
      if (typeof fn.name === 'string') call.function.name += fn.name
      if (typeof fn.arguments === 'string') call.function.arguments += fn.arguments
    }
  }

  completion(): Json {
    if (this.parts && this.joined === null) this.joined = this.parts.join('')
    const message: Json = { role: 'assistant', content: this.parts ? this.joined : null }
    if (this.calls.length) message.tool_calls = this.calls.filter(Boolean).map((c) => ({ ...c, function: { ...c.function } }))
    return {
      id: this.id ?? null,
      object: 'chat.completion',
      model: this.model ?? null,
      choices: [{ index: 0, message, finish_reason: this.finish }],
      ...(this.usage ? { usage: this.usage } : {}),
    }
  }
}

/** Fold `chat.completion.chunk` events into one chat completion, as the non-streamed answer would have been. */
export function assembleChunks(chunks: unknown[]): Json {
  const assembler = new StreamAssembler()
  for (const chunk of chunks) assembler.add(chunk)
  return assembler.completion()
}

/** Reads server-sent events as they arrive; `[DONE]` ends the stream. */
export class ChunkReader {
  readonly chunks: unknown[] = []
  done = false
  private parser = createParser({
    onEvent: (event) => {
      if (event.data === '[DONE]') {
        this.done = true
        return
      }
      try {
        this.chunks.push(JSON.parse(event.data))
      } catch {
        this.chunks.push({ unparsed: event.data })
      }
    },
  })

  feed(text: string): void {
    this.parser.feed(text)
  }
}

/** A provider's raw SSE text (what a gateway without streaming support hands back as a string), as chunks. */
export function chunksFromSseText(text: string): unknown[] | null {
  if (!/^\s*data:/.test(text)) return null
  const reader = new ChunkReader()
  reader.feed(text.endsWith('\n\n') ? text : `${text}\n\n`)
  return reader.chunks.length ? reader.chunks : null
}

/** The assistant message to append to `messages` for the next turn. */
export function assistantMessage(reply: Reply): Json {
  const message: Json = { role: 'assistant', content: reply.text }
  if (reply.toolCalls.length) message.tool_calls = reply.toolCalls
  return message
}
