/** Runtime configuration, written next to the page at deploy time (public/config.json in development). */

export interface PageConfig {
  /** Where the API lives, without a trailing slash; "" means this page's own origin. */
  apiBaseUrl: string
}

export interface LoadedConfig {
  config: PageConfig
  /** Set when config.json could not be read and the page fell back to its own origin. */
  warning?: string
}

export function normaliseBaseUrl(value: unknown): string {
  return typeof value === 'string' ? value.trim().replace(/\/+$/, '') : ''
}

/** config.json sits beside index.html, i.e. under the page's base path (/passthrough/). */
export function configUrl(): string {
  return new URL('config.json', new URL(import.meta.env.BASE_URL, window.location.href)).toString()
}

export async function loadConfig(fetchImpl: typeof fetch = fetch): Promise<LoadedConfig> {
  try {
    const response = await fetchImpl(configUrl(), { cache: 'no-store' })
    if (!response.ok) throw new Error(`HTTP ${response.status}`)
    const body = (await response.json()) as { apiBaseUrl?: unknown }
    return { config: { apiBaseUrl: normaliseBaseUrl(body.apiBaseUrl) } }
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e)
    return {
      config: { apiBaseUrl: '' },
      warning: `config.json could not be read (${reason}); calling the API on this page's origin.`,
    }
  }
}
