import { describe, expect, it } from 'vitest'
import {
  checkJson,
  cleanMessage,
  findSyntaxErrorOffset,
  lineColumnToOffset,
  offsetFromMessage,
  offsetToLineColumn,
} from './jsonPosition'

describe('offsetToLineColumn', () => {
  const text = '{\n  "a": 1,\n  "b": x\n}'

  it('counts the first character as line 1, column 1', () => {
    expect(offsetToLineColumn(text, 0)).toEqual({ line: 1, column: 1 })
  })

  it('starts a new line after each newline', () => {
    expect(offsetToLineColumn(text, 2)).toEqual({ line: 2, column: 1 })
    expect(offsetToLineColumn(text, text.indexOf('x'))).toEqual({ line: 3, column: 8 })
  })

  it('points a newline at the end of its own line', () => {
    expect(offsetToLineColumn(text, 1)).toEqual({ line: 1, column: 2 })
  })

  it('clamps offsets outside the text', () => {
    expect(offsetToLineColumn(text, -5)).toEqual({ line: 1, column: 1 })
    expect(offsetToLineColumn(text, 999)).toEqual({ line: 4, column: 2 })
    expect(offsetToLineColumn('', 3)).toEqual({ line: 1, column: 1 })
  })

  it('treats CRLF line ends as one line break', () => {
    expect(offsetToLineColumn('{\r\n"a"', 3)).toEqual({ line: 2, column: 1 })
  })

  it('is the inverse of lineColumnToOffset', () => {
    for (let offset = 0; offset <= text.length; offset++) {
      const { line, column } = offsetToLineColumn(text, offset)
      expect(lineColumnToOffset(text, line, column)).toBe(offset)
    }
  })
})

describe('offsetFromMessage reads the position each engine reports', () => {
  const text = '{\n  "a": 1\n  "b": 2\n}'
  const atB = text.indexOf('"b"')

  it('V8: "at position N"', () => {
    expect(offsetFromMessage(`Expected ',' or '}' after property value in JSON at position ${atB}`, text)).toBe(atB)
  })

  it('newer V8: "(line L column C)"', () => {
    expect(
      offsetFromMessage(`Expected ',' or '}' after property value in JSON at position ${atB} (line 3 column 3)`, text),
    ).toBe(atB)
  })

  it('SpiderMonkey: "at line L column C of the JSON data"', () => {
    const message = "JSON.parse: expected ',' or '}' after property value in object at line 3 column 3 of the JSON data"
    expect(offsetFromMessage(message, text)).toBe(atB)
  })

  it('an unexpected end points after the last character', () => {
    expect(offsetFromMessage('Unexpected end of JSON input', '{"a":')).toBe(5)
    expect(offsetFromMessage('JSON.parse: unexpected end of data at line 1 column 6 of the JSON data', '{"a":')).toBe(5)
  })

  it('gives null when the message has no position (JavaScriptCore, V8 unexpected token)', () => {
    expect(offsetFromMessage("JSON Parse error: Expected '}'", text)).toBeNull()
    expect(offsetFromMessage(`Unexpected token 'x', "{"a": x}" is not valid JSON`, '{"a": x}')).toBeNull()
  })
})

describe('cleanMessage', () => {
  it('drops engine prefixes and position suffixes', () => {
    expect(cleanMessage("Expected ',' or '}' after property value in JSON at position 9 (line 2 column 2)")).toBe(
      "Expected ',' or '}' after property value",
    )
    expect(cleanMessage("JSON.parse: expected ',' or '}' after property value in object at line 3 column 3 of the JSON data")).toBe(
      "Expected ',' or '}' after property value in object",
    )
    expect(cleanMessage("JSON Parse error: Expected '}'")).toBe("Expected '}'")
    expect(cleanMessage(`Unexpected token 'x', "{"a": x}" is not valid JSON`)).toBe("Unexpected token 'x'")
    expect(cleanMessage(`Unexpected token ' ', ..."ture": tru }" is not valid JSON`)).toBe("Unexpected token ' '")
  })
})

describe('findSyntaxErrorOffset', () => {
  it('accepts valid JSON', () => {
    for (const text of ['{}', '[]', ' 0 ', '-1.5e+3', '"a\\n\\u00e9"', '{"a":[true,false,null,{"b":"c"}]}']) {
      expect(findSyntaxErrorOffset(text)).toBeNull()
    }
  })

  it('finds the first broken character', () => {
    expect(findSyntaxErrorOffset('{"a": x}')).toBe(6)
    expect(findSyntaxErrorOffset('{"a": 1,}')).toBe(8)
    expect(findSyntaxErrorOffset('{"a": tru }')).toBe(9)
    expect(findSyntaxErrorOffset("{'a': 1}")).toBe(1)
    expect(findSyntaxErrorOffset('[1 2]')).toBe(3)
    expect(findSyntaxErrorOffset('[1] x')).toBe(4)
    expect(findSyntaxErrorOffset('01')).toBe(1)
    expect(findSyntaxErrorOffset('"a\nb"')).toBe(2)
    expect(findSyntaxErrorOffset('"\\q"')).toBe(2)
    expect(findSyntaxErrorOffset('{"a": ')).toBe(6)
  })

  it('agrees with JSON.parse about what is valid', () => {
    const samples = ['{"a":1}', '{"a":1,}', '[1,]', '1.', '.5', '-', '"\\u12"', 'nul', '{"a" 1}', '[[[]]]', '\t{ }\n']
    for (const text of samples) {
      let valid = true
      try {
        JSON.parse(text)
      } catch {
        valid = false
      }
      expect(findSyntaxErrorOffset(text) === null, text).toBe(valid)
    }
  })
})

describe('checkJson', () => {
  it('returns the parsed value for valid JSON', () => {
    expect(checkJson('{"model": "m"}')).toEqual({ ok: true, value: { model: 'm' } })
  })

  it('says on which line and column the JSON breaks', () => {
    const result = checkJson('{\n  "model": "m",\n  "messages": [\n    {"role": "user" "content": "hi"}\n  ]\n}')
    expect(result).toMatchObject({ ok: false, line: 4, column: 21 })
  })

  it('locates an unexpected token even when the engine gives no position', () => {
    const result = checkJson('{\n  "stream": tru\n}')
    expect(result).toMatchObject({ ok: false, line: 2, column: 16 })
  })

  it('locates a missing end after the last character', () => {
    const result = checkJson('{\n  "a": [1, 2')
    expect(result).toMatchObject({ ok: false, line: 2, column: 13 })
  })

  it('calls an empty body empty', () => {
    expect(checkJson('  \n')).toMatchObject({ ok: false, message: 'The request body is empty', line: 1, column: 1 })
  })
})
