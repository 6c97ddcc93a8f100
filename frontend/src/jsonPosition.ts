/**
 * Where is this JSON broken? JSON.parse reports the place in a message whose
 * wording depends on the JavaScript engine:
 *   V8 (Chrome, Node):     "... in JSON at position 42"  (newer: "... (line 3 column 5)")
 *                          "Unexpected token 'x', "{"a": x}" is not valid JSON"  (no position at all)
 *                          "Unexpected end of JSON input"
 *   SpiderMonkey (Firefox): "JSON.parse: expected ',' ... at line 3 column 5 of the JSON data"
 *   JavaScriptCore (Safari): "JSON Parse error: Expected '}'"  (no position)
 * We read whatever position the message gives and, when it gives none, find the
 * first error with a small scanner of our own.
 */

export interface LineColumn {
  /** 1-based line number. */
  line: number
  /** 1-based column, counted in UTF-16 code units like the offset itself. */
  column: number
}

export type JsonCheck =
  | { ok: true; value: unknown }
  | { ok: false; message: string; offset: number; line: number; column: number }

/** Turn a character offset into a 1-based line and column. Offsets past the end point just after the last character. */
export function offsetToLineColumn(text: string, offset: number): LineColumn {
  const at = Math.max(0, Math.min(Math.trunc(offset), text.length))
  let line = 1
  let lineStart = 0
  for (let i = 0; i < at; i++) {
    if (text.charCodeAt(i) === 10 /* \n */) {
      line++
      lineStart = i + 1
    }
  }
  return { line, column: at - lineStart + 1 }
}

/** The inverse of offsetToLineColumn, for engines that report a line and column. */
export function lineColumnToOffset(text: string, line: number, column: number): number {
  let offset = 0
  for (let l = 1; l < line; l++) {
    const next = text.indexOf('\n', offset)
    if (next === -1) return text.length
    offset = next + 1
  }
  return Math.min(offset + Math.max(column, 1) - 1, text.length)
}

/** The error offset that an engine's JSON.parse message states, or null when it states none. */
export function offsetFromMessage(message: string, text: string): number | null {
  const lineColumn = /line (\d+) column (\d+)/i.exec(message)
  if (lineColumn) return lineColumnToOffset(text, Number(lineColumn[1]), Number(lineColumn[2]))
  const position = /position (\d+)/i.exec(message)
  if (position) return Math.min(Number(position[1]), text.length)
  if (/unexpected end|end of (json )?(data|input)|unexpected eof/i.test(message)) return text.length
  return null
}

/** The engine's message without the engine's prefix and position suffix, for showing next to our own line:column. */
export function cleanMessage(message: string): string {
  const cleaned = message
    .replace(/^JSON\.parse: /, '')
    .replace(/^JSON Parse error: /, '')
    .replace(/, (\.\.\.)?".*" is not valid JSON$/s, '')
    .replace(/ in JSON at position \d+.*$/s, '')
    .replace(/ at line \d+ column \d+ of the JSON data$/, '')
    .trim()
  if (!cleaned) return 'Invalid JSON'
  return cleaned.charAt(0).toUpperCase() + cleaned.slice(1)
}

class SyntaxStop {
  constructor(readonly at: number) {}
}

/** Offset of the first JSON syntax error in text, or null when text is valid JSON (RFC 8259). */
export function findSyntaxErrorOffset(text: string): number | null {
  const n = text.length
  let i = 0
  const fail = (at: number = i): never => {
    throw new SyntaxStop(at)
  }
  const isDigit = (at: number) => {
    const c = text.charCodeAt(at)
    return c >= 48 && c <= 57
  }
  const skipWhitespace = () => {
    while (i < n && ' \t\n\r'.includes(text[i])) i++
  }
  const literal = (word: string) => {
    for (const ch of word) {
      if (text[i] !== ch) fail()
      i++
    }
  }
  const string = () => {
    i++ // the opening quote
    for (;;) {
      if (i >= n) fail()
      const c = text.charCodeAt(i)
      if (c === 34 /* " */) {
        i++
        return
      }
      if (c < 0x20) fail()
      if (c === 92 /* \ */) {
        i++
        const escape = text[i] ?? ''
        if (escape === 'u') {
          for (let k = 1; k <= 4; k++) if (!/^[0-9a-fA-F]$/.test(text[i + k] ?? '')) fail(i + k)
          i += 5
        } else if (escape !== '' && '"\\/bfnrt'.includes(escape)) {
          i++
        } else {
          fail()
        }
      } else {
        i++
      }
    }
  }
  const number = () => {
    if (text[i] === '-') i++
    if (text[i] === '0') i++
    else if (isDigit(i)) while (isDigit(i)) i++
    else fail()
    if (text[i] === '.') {
      i++
      if (!isDigit(i)) fail()
      while (isDigit(i)) i++
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i++
      if (text[i] === '+' || text[i] === '-') i++
      if (!isDigit(i)) fail()
      while (isDigit(i)) i++
    }
  }
  const value = (): void => {
    skipWhitespace()
    const c = text[i]
    if (c === '{') object()
    else if (c === '[') array()
    else if (c === '"') string()
    else if (c === 't') literal('true')
    else if (c === 'f') literal('false')
    else if (c === 'n') literal('null')
    else if (c === '-' || isDigit(i)) number()
    else fail()
  }
  const object = () => {
    i++
    skipWhitespace()
    if (text[i] === '}') {
      i++
      return
    }
    for (;;) {
      skipWhitespace()
      if (text[i] !== '"') fail()
      string()
      skipWhitespace()
      if (text[i] !== ':') fail()
      i++
      value()
      skipWhitespace()
      if (text[i] === ',') {
        i++
        continue
      }
      if (text[i] === '}') {
        i++
        return
      }
      fail()
    }
  }
  const array = () => {
    i++
    skipWhitespace()
    if (text[i] === ']') {
      i++
      return
    }
    for (;;) {
      value()
      skipWhitespace()
      if (text[i] === ',') {
        i++
        continue
      }
      if (text[i] === ']') {
        i++
        return
      }
      fail()
    }
  }

  try {
    value()
    skipWhitespace()
    if (i < n) fail()
    return null
  } catch (e) {
    if (e instanceof SyntaxStop) return Math.min(e.at, n)
    if (e instanceof RangeError) return null // nested too deep for our recursion: leave it to the engine's message
    throw e
  }
}

/** Parse text as JSON; on failure say where, as a character offset and a line:column. */
export function checkJson(text: string): JsonCheck {
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch (e) {
    const raw = e instanceof Error ? e.message : String(e)
    if (text.trim() === '') {
      return { ok: false, message: 'The request body is empty', offset: 0, ...offsetToLineColumn(text, 0) }
    }
    const offset = offsetFromMessage(raw, text) ?? findSyntaxErrorOffset(text) ?? text.length
    return { ok: false, message: cleanMessage(raw), offset, ...offsetToLineColumn(text, offset) }
  }
}
