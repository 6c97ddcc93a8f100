import type { ConsoleTab } from './console/ConsolePage'

/** Which view the page shows, kept in the URL's hash so a reload or a link lands on it: #playground, #console/keys. */
export type Route = { view: 'playground' } | { view: 'console'; tab: ConsoleTab }

const TAB_IDS: ConsoleTab[] = ['overview', 'clients', 'keys', 'journal', 'manifests']

export function parseRoute(hash: string): Route {
  const [view, tab] = hash.replace(/^#\/?/, '').split('/')
  if (view === 'console') return { view: 'console', tab: TAB_IDS.includes(tab as ConsoleTab) ? (tab as ConsoleTab) : 'overview' }
  return { view: 'playground' }
}

export function routeHash(route: Route): string {
  return route.view === 'console' ? `#console/${route.tab}` : '#playground'
}
