/**
 * The page's work, kept in this tab's sessionStorage so a reload or a sign-out
 * and sign-in loses nothing: the provider, the body, the last answer and the
 * history of sent requests. It belongs to one account: another account signing
 * in on the same tab starts afresh. The API key is never part of it.
 */
import { parseEnvelope, type PassthroughData, type PassthroughResult } from './api'
import type { Metered } from './metering'

const KEY = 'smarter.passthrough.state'
/** Enough to go back a while without filling the tab's ~5 MB of sessionStorage with 4 MiB bodies. */
export const HISTORY_LIMIT = 20
const HISTORY_BODY_LIMIT = 256 * 1024
const HISTORY_BYTES = 1024 * 1024
const ANSWER_TEXT_LIMIT = 512 * 1024
/** A history entry keeps its answer up to this size (the body is kept regardless, up to HISTORY_BODY_LIMIT). */
const HISTORY_ANSWER_LIMIT = 64 * 1024

export interface Answer extends PassthroughResult {
  provider: string
  /** The model the request named, shown with the answer. */
  requestedModel: string
  /** The body sent, for multi-turn and for copying as code. */
  requestBody: string
  /** Tokens and price as the gateway counted them (its journal record), once read. */
  metered?: Metered | null
}

export interface HistoryEntry {
  id: string
  at: string
  provider: string
  model: string
  body: string
  /** null while the request runs, and for good when the tab was reloaded before its answer came. */
  status: number | null
  durationMs: number | null
  /** The answer, when it was small enough to keep: Restore shows it again. */
  answer?: Answer | null
  /** What the request asked (its last user message), to tell entries apart. */
  preview?: string
  /** Tokens in + out and the cost, when the answer said. */
  tokens?: number | null
  cost?: number | null
}

/** The last user message of a chat request, on one line, for the History list. */
export function requestPreview(body: string): string {
  try {
    const request = JSON.parse(body) as { messages?: { role?: string; content?: unknown }[] }
    const messages = Array.isArray(request?.messages) ? request.messages : []
    const last = [...messages].reverse().find((m) => m && m.role === 'user')
    const content = last?.content
    const text =
      typeof content === 'string'
        ? content
        : Array.isArray(content)
          ? content.map((part: { text?: unknown }) => (typeof part?.text === 'string' ? part.text : '')).join(' ')
          : ''
    return text.replace(/\s+/g, ' ').trim().slice(0, 80)
  } catch {
    return ''
  }
}

export interface TabState {
  account: string
  provider: string
  body: string
  answer: Answer | null
  history: HistoryEntry[]
}

export function loadTabState(account: string): TabState | null {
  try {
    const raw = window.sessionStorage.getItem(KEY)
    if (!raw) return null
    const state = JSON.parse(raw) as TabState
    if (state.account !== account) return null
    // The envelope is stored as its text only; parse it back.
    const revive = (answer: Answer) => {
      answer.envelope = answer.chunks ? null : parseEnvelope<PassthroughData>(answer.text)
    }
    if (state.answer) revive(state.answer)
    for (const entry of state.history ?? []) if (entry.answer) revive(entry.answer)
    return state
  } catch {
    return null
  }
}

/** Best effort: an answer over 512 KB is not kept, and a full storage only costs the restore. */
export function saveTabState(state: TabState): void {
  const answer = state.answer && state.answer.text.length <= ANSWER_TEXT_LIMIT ? { ...state.answer, envelope: null } : null
  // At most 1 MB of history bodies, newest first: the tab's storage holds about 5 MB in all.
  let budget = HISTORY_BYTES
  const history = state.history
    .slice(0, HISTORY_LIMIT)
    .filter((entry) => entry.body.length <= HISTORY_BODY_LIMIT && (budget -= entry.body.length) >= 0)
    .map((entry) => {
      const kept = entry.answer && entry.answer.text.length <= HISTORY_ANSWER_LIMIT && (budget -= entry.answer.text.length) >= 0
      return { ...entry, answer: kept ? { ...entry.answer!, envelope: null } : null }
    })
  for (const attempt of [{ ...state, answer, history }, { ...state, answer: null, history: [] }]) {
    try {
      window.sessionStorage.setItem(KEY, JSON.stringify(attempt))
      return
    } catch {
      // over quota: try again without the answer and the history
    }
  }
}
