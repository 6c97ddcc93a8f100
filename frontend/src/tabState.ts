/**
 * The page's work, kept in this tab's sessionStorage so a reload or a sign-out
 * and sign-in loses nothing: the provider, the body, the last answer and the
 * history of sent requests. It belongs to one account: another account signing
 * in on the same tab starts afresh. The API key is never part of it.
 */
import { parseEnvelope, type PassthroughData, type PassthroughResult } from './api'

const KEY = 'smarter.passthrough.state'
/** Enough to go back a while without filling the tab's ~5 MB of sessionStorage with 4 MiB bodies. */
export const HISTORY_LIMIT = 20
const HISTORY_BODY_LIMIT = 256 * 1024
const HISTORY_BYTES = 1024 * 1024
const ANSWER_TEXT_LIMIT = 512 * 1024

export interface Answer extends PassthroughResult {
  provider: string
  /** The model the request named, shown with the answer. */
  requestedModel: string
  /** The body sent, for multi-turn and for copying as code. */
  requestBody: string
}

export interface HistoryEntry {
  id: string
  at: string
  provider: string
  model: string
  body: string
  status: number | null
  durationMs: number | null
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
    if (state.answer) state.answer.envelope = state.answer.chunks ? null : parseEnvelope<PassthroughData>(state.answer.text)
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
  for (const attempt of [{ ...state, answer, history }, { ...state, answer: null, history: [] }]) {
    try {
      window.sessionStorage.setItem(KEY, JSON.stringify(attempt))
      return
    } catch {
      // over quota: try again without the answer and the history
    }
  }
}
