/**
 * The request body is the source of truth: every control on the page reads it
 * and edits it in place with jsonc-parser, which changes only the characters of
 * the value it sets, so the user's own formatting survives.
 */
import { applyEdits, modify, type FormattingOptions } from 'jsonc-parser'
import { checkJson, offsetToLineColumn } from './jsonPosition'

/** The gateway refuses bodies over 4 MiB (SMARTER_MAX_BODY_BYTES); the page warns from 90 % of it. */
export const BODY_LIMIT_BYTES = 4 * 1024 * 1024
export const BODY_WARN_BYTES = Math.floor(BODY_LIMIT_BYTES * 0.9)

export type RequestCheck =
  | { ok: true; request: Record<string, unknown> }
  | { ok: false; message: string; offset: number; line: number; column: number }

/** Valid JSON is not enough: the passthrough wants one JSON object. */
export function checkRequest(text: string): RequestCheck {
  const check = checkJson(text)
  if (!check.ok) return check
  const value = check.value
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`
    const offset = Math.max(0, text.length - text.trimStart().length)
    const { line, column } = offsetToLineColumn(text, offset)
    return { ok: false, message: `the body is ${kind}; a request must be a JSON object`, offset, line, column }
  }
  return { ok: true, request: value as Record<string, unknown> }
}

/** Indentation of the text as it is, so inserted properties look like their neighbours. */
function formatting(text: string): FormattingOptions {
  const indent = /\n([ \t]+)"/.exec(text)?.[1] ?? '  '
  return { insertSpaces: !indent.startsWith('\t'), tabSize: indent.startsWith('\t') ? 1 : indent.length, eol: '\n' }
}

/** Set (or, with undefined, remove) one value at a JSON path, keeping everything else byte for byte. */
export function setAt(text: string, path: (string | number)[], value: unknown, arrayInsert = false): string {
  // jsonc-parser formats the lines an edit touches: on a one-line body that would be all of it.
  const formattingOptions = text.trim().includes('\n') ? formatting(text) : undefined
  const edits = modify(text, path, value, { formattingOptions, isArrayInsertion: arrayInsert })
  return applyEdits(text, edits)
}

export interface Controls {
  model: string
  temperature: number | null
  maxTokens: number | null
  system: string | null
  stream: boolean
}

export function readControls(request: Record<string, unknown>): Controls {
  const messages = Array.isArray(request.messages) ? request.messages : []
  const first = messages[0] as { role?: unknown; content?: unknown } | undefined
  return {
    model: typeof request.model === 'string' ? request.model : '',
    temperature: typeof request.temperature === 'number' ? request.temperature : null,
    maxTokens:
      typeof request.max_completion_tokens === 'number'
        ? request.max_completion_tokens
        : typeof request.max_tokens === 'number'
          ? request.max_tokens
          : null,
    system: first?.role === 'system' && typeof first.content === 'string' ? first.content : null,
    stream: request.stream === true,
  }
}

/** The system prompt is the first message when its role is system; an empty prompt removes it. */
export function setSystemPrompt(text: string, request: Record<string, unknown>, prompt: string): string {
  const messages = Array.isArray(request.messages) ? request.messages : null
  const hasSystem = (messages?.[0] as { role?: unknown } | undefined)?.role === 'system'
  if (!messages) return prompt ? setAt(text, ['messages'], [{ role: 'system', content: prompt }]) : text
  if (hasSystem) return prompt ? setAt(text, ['messages', 0, 'content'], prompt) : setAt(text, ['messages', 0], undefined)
  return prompt ? setAt(text, ['messages', 0], { role: 'system', content: prompt }, true) : text
}

/** max_tokens is what every OpenAI-compatible provider reads; keep max_completion_tokens if the user wrote it. */
export function setMaxTokens(text: string, request: Record<string, unknown>, value: number | null): string {
  const field = 'max_completion_tokens' in request ? 'max_completion_tokens' : 'max_tokens'
  return setAt(text, [field], value ?? undefined)
}

/** Multi-turn: append the assistant's message (and then the user's next one) to messages. */
export function appendMessages(text: string, request: Record<string, unknown>, added: unknown[]): string {
  let next = text
  let index = Array.isArray(request.messages) ? request.messages.length : 0
  if (!Array.isArray(request.messages)) {
    return setAt(text, ['messages'], added)
  }
  for (const message of added) {
    next = setAt(next, ['messages', index], message, true)
    index++
  }
  return next
}

/** A provider switch swaps the model only while it is still the old provider's default, touching nothing else. */
export function retargetModel(text: string, fromDefault: string | undefined, toDefault: string): string {
  const check = checkRequest(text)
  if (!check.ok || fromDefault === undefined || check.request.model !== fromDefault) return text
  return setAt(text, ['model'], toDefault)
}
