import { describe, expect, it } from 'vitest'
import { parseRoute, routeHash } from './route'

describe('the hash route', () => {
  it('opens the playground by default and a console tab by name', () => {
    expect(parseRoute('')).toEqual({ view: 'playground' })
    expect(parseRoute('#console')).toEqual({ view: 'console', tab: 'overview' })
    expect(parseRoute('#console/keys')).toEqual({ view: 'console', tab: 'keys' })
    expect(parseRoute('#console/<script>')).toEqual({ view: 'console', tab: 'overview' })
    expect(routeHash({ view: 'console', tab: 'journal' })).toBe('#console/journal')
  })
})
