/**
 * The request body editor: CodeMirror 6 with JSON highlighting, line numbers,
 * its own undo history and a mark on the line where the JSON breaks. The
 * document lives in CodeMirror; the page hears about changes at most every
 * DEBOUNCE_MS for large bodies, so typing in a 2 MB body stays instant.
 */
import { defaultKeymap, history, historyKeymap, isolateHistory } from '@codemirror/commands'
import { json } from '@codemirror/lang-json'
import { bracketMatching, HighlightStyle, syntaxHighlighting } from '@codemirror/language'
import { EditorState, RangeSetBuilder, StateEffect, StateField } from '@codemirror/state'
import { Decoration, EditorView, highlightActiveLine, keymap, lineNumbers, type DecorationSet } from '@codemirror/view'
import { tags } from '@lezer/highlight'
import { forwardRef, useEffect, useImperativeHandle, useRef } from 'react'

export interface CodeEditorHandle {
  /** Put the caret at a character offset and scroll it into view. */
  focusAt: (offset: number) => void
  focus: () => void
  /** The text right now, even if onChange has not been told yet. */
  getText: () => string
}

interface Props {
  value: string
  onChange: (value: string) => void
  /** Offset where the JSON breaks, if it does. */
  errorOffset: number | null
  /** Ctrl+Enter / Cmd+Enter. */
  onSubmit: () => void
  label: string
  /** Take the focus when the editor appears (after sign-in). */
  autoFocus?: boolean
}

/** Bodies up to this size report every keystroke; bigger ones are debounced. */
const IMMEDIATE_CHARS = 64 * 1024
const DEBOUNCE_MS = 250

/** Colours come from CSS variables, so the light and dark themes share one style. */
const jsonHighlight = HighlightStyle.define([
  { tag: tags.propertyName, color: 'var(--syntax-property)' },
  { tag: tags.string, color: 'var(--syntax-string)' },
  { tag: tags.number, color: 'var(--syntax-number)' },
  { tag: [tags.bool, tags.null], color: 'var(--syntax-keyword)' },
  { tag: tags.invalid, color: 'var(--bad)' },
])

const setErrorLine = StateEffect.define<number | null>()
const errorLine = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(marks, tr) {
    marks = marks.map(tr.changes)
    for (const effect of tr.effects) {
      if (!effect.is(setErrorLine)) continue
      const builder = new RangeSetBuilder<Decoration>()
      if (effect.value !== null && effect.value <= tr.state.doc.length) {
        const line = tr.state.doc.lineAt(effect.value)
        builder.add(line.from, line.from, Decoration.line({ class: 'cm-error-line' }))
      }
      marks = builder.finish()
    }
    return marks
  },
  provide: (field) => EditorView.decorations.from(field),
})

/** Replace only what differs, so the caret and the undo history stay sensible. */
function minimalChange(from: string, to: string) {
  let start = 0
  const max = Math.min(from.length, to.length)
  while (start < max && from.charCodeAt(start) === to.charCodeAt(start)) start++
  let end = 0
  while (end < max - start && from.charCodeAt(from.length - 1 - end) === to.charCodeAt(to.length - 1 - end)) end++
  return { from: start, to: from.length - end, insert: to.slice(start, to.length - end) }
}

export const CodeEditor = forwardRef<CodeEditorHandle, Props>(function CodeEditor(
  { value, onChange, errorOffset, onSubmit, label, autoFocus },
  ref,
) {
  const host = useRef<HTMLDivElement>(null)
  const view = useRef<EditorView | null>(null)
  const reported = useRef(value)
  const timer = useRef<number | undefined>(undefined)
  const callbacks = useRef({ onChange, onSubmit })
  callbacks.current = { onChange, onSubmit }

  const flush = () => {
    window.clearTimeout(timer.current)
    timer.current = undefined
    const text = view.current?.state.doc.toString() ?? reported.current
    if (text !== reported.current) {
      reported.current = text
      callbacks.current.onChange(text)
    }
    return text
  }

  useEffect(() => {
    const editor = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc: value,
        extensions: [
          lineNumbers(),
          history(),
          highlightActiveLine(),
          bracketMatching(),
          json(),
          syntaxHighlighting(jsonHighlight),
          errorLine,
          keymap.of([
            {
              key: 'Mod-Enter',
              run: () => {
                flush()
                callbacks.current.onSubmit()
                return true
              },
            },
            ...defaultKeymap,
            // No indentWithTab: Tab must move focus out of the editor, not trap the keyboard.
            ...historyKeymap,
          ]),
          EditorView.contentAttributes.of({
            'aria-label': label,
            'aria-multiline': 'true',
            role: 'textbox',
            'data-testid': 'editor',
            // Focusable for axe as well as for people: the scroller around it overflows at 375 px.
            tabindex: '0',
            spellcheck: 'false',
            autocapitalize: 'off',
            autocorrect: 'off',
          }),
          EditorView.updateListener.of((update) => {
            if (!update.docChanged) return
            window.clearTimeout(timer.current)
            if (update.state.doc.length <= IMMEDIATE_CHARS) flush()
            else timer.current = window.setTimeout(flush, DEBOUNCE_MS)
          }),
        ],
      }),
    })
    view.current = editor
    if (autoFocus) editor.focus()
    return () => {
      window.clearTimeout(timer.current)
      editor.destroy()
      view.current = null
    }
    // The editor is created once; later values arrive through the effect below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [])

  // A value set by the page (template, Format, a control, a restored request) goes in as one undoable change.
  useEffect(() => {
    const editor = view.current
    if (!editor || value === reported.current) return
    const current = editor.state.doc.toString()
    reported.current = value
    // Its own undo step, never merged with typing or another replacement made a moment before.
    if (current !== value) editor.dispatch({ changes: minimalChange(current, value), annotations: isolateHistory.of('full') })
  }, [value])

  useEffect(() => {
    view.current?.dispatch({ effects: setErrorLine.of(errorOffset) })
  }, [errorOffset, value])

  useImperativeHandle(ref, () => ({
    focusAt(offset: number) {
      const editor = view.current
      if (!editor) return
      const at = Math.min(offset, editor.state.doc.length)
      editor.dispatch({ selection: { anchor: at }, scrollIntoView: true })
      editor.focus()
    },
    focus: () => view.current?.focus(),
    getText: flush,
  }))

  return <div className={`editor${errorOffset !== null ? ' has-error' : ''}`} ref={host} />
})
