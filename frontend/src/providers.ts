/** Which provider to preselect, how to list them, and model suggestions per provider. */
import type { Provider } from './api'

/** These answer without a platform key: `offline` in-process, `local` if something listens on the machine. */
const KEYLESS = new Set(['offline', 'local'])

/**
 * The first Send must work: the default provider if it is configured, else
 * the first configured provider that needs a key (one somebody set up on
 * purpose), else `offline`, which always answers.
 */
export function preferredProvider(list: Provider[]): Provider | undefined {
  const configured = (p: Provider) => p.configured !== false
  return (
    list.find((p) => p.is_default && configured(p) && p.name !== 'local') ??
    list.find((p) => configured(p) && !KEYLESS.has(p.name)) ??
    list.find((p) => p.name === 'offline') ??
    list.find(configured) ??
    list[0]
  )
}

/** Why a provider cannot answer from here, in a few words for its option and chip; null when it can. */
export function providerProblem(provider: Provider): string | null {
  if (provider.unreachable) return 'nothing answers at its address'
  if (provider.configured === false) return 'no platform key configured'
  return null
}

/** Only absolute http(s) links are links; anything else (a path in the repository) is shown as text. */
export function docsLink(url: string | null | undefined): string | null {
  if (!url) return null
  try {
    const parsed = new URL(url)
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.toString() : null
  } catch {
    return null
  }
}

/**
 * Suggestions for the model field; the field takes any name, so a provider's
 * newer models work without a page release. The provider's default comes first.
 */
const SUGGESTIONS: Record<string, string[]> = {
  openai: ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini', 'gpt-4.1', 'o4-mini'],
  anthropic: ['claude-3-5-haiku-latest', 'claude-sonnet-4-0', 'claude-opus-4-0'],
  googleai: ['gemini-2.0-flash', 'gemini-2.5-flash', 'gemini-2.5-pro'],
  mistral: ['mistral-small-latest', 'mistral-medium-latest', 'mistral-large-latest', 'codestral-latest'],
  togetherai: ['meta-llama/Llama-3.3-70B-Instruct-Turbo', 'Qwen/Qwen2.5-72B-Instruct-Turbo'],
  fireworks: ['accounts/fireworks/models/llama-v3p1-8b-instruct', 'accounts/fireworks/models/llama-v3p1-70b-instruct'],
  groq: ['llama-3.1-8b-instant', 'llama-3.3-70b-versatile'],
  local: ['llama3.2', 'qwen2.5', 'mistral'],
  offline: ['offline-echo'],
}

export function modelSuggestions(provider: Provider): string[] {
  return [...new Set([provider.default_model, ...(SUGGESTIONS[provider.name] ?? [])])]
}
