import { forwardRef, useImperativeHandle, useRef, type KeyboardEvent } from 'react'

export interface JsonEditorHandle {
  /** Put the caret at a character offset and scroll it into view. */
  focusAt: (offset: number) => void
}

interface Props {
  value: string
  onChange: (value: string) => void
  /** 1-based line to mark as broken, if any. */
  errorLine: number | null
  /** Ctrl+Enter / Cmd+Enter. */
  onSubmit: () => void
  label: string
}

const LINE_HEIGHT = 20
const PADDING = 12

/** A plain textarea with line numbers and a band on the line where the JSON breaks. */
export const JsonEditor = forwardRef<JsonEditorHandle, Props>(function JsonEditor(
  { value, onChange, errorLine, onSubmit, label },
  ref,
) {
  const textarea = useRef<HTMLTextAreaElement>(null)
  const frame = useRef<HTMLDivElement>(null)
  const gutter = useRef<HTMLDivElement>(null)
  const lineCount = value.split('\n').length

  function syncScroll() {
    const area = textarea.current
    if (!area) return
    if (gutter.current) gutter.current.scrollTop = area.scrollTop
    frame.current?.style.setProperty('--scroll-top', `${area.scrollTop}px`)
  }

  useImperativeHandle(ref, () => ({
    focusAt(offset: number) {
      const area = textarea.current
      if (!area) return
      area.focus()
      area.setSelectionRange(offset, offset)
      const line = value.slice(0, offset).split('\n').length
      const top = (line - 1) * LINE_HEIGHT
      if (top < area.scrollTop || top > area.scrollTop + area.clientHeight - 2 * LINE_HEIGHT) {
        area.scrollTop = Math.max(0, top - area.clientHeight / 2)
      }
      syncScroll()
    },
  }))

  function keyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault()
      onSubmit()
    }
  }

  return (
    <div className={`editor${errorLine ? ' has-error' : ''}`} ref={frame}>
      <div className="editor-gutter" ref={gutter} aria-hidden="true">
        {Array.from({ length: lineCount }, (_, i) => (
          <div key={i} className={i + 1 === errorLine ? 'gutter-line error' : 'gutter-line'}>
            {i + 1}
          </div>
        ))}
      </div>
      <div className="editor-body">
        {errorLine !== null && (
          <div
            className="editor-error-band"
            style={{ top: `calc(${PADDING + (errorLine - 1) * LINE_HEIGHT}px - var(--scroll-top, 0px))` }}
            aria-hidden="true"
          />
        )}
        <textarea
          ref={textarea}
          data-testid="editor"
          aria-label={label}
          className="editor-textarea"
          value={value}
          onChange={(e) => onChange(e.target.value)}
          onScroll={syncScroll}
          onKeyDown={keyDown}
          wrap="off"
          spellCheck={false}
          autoCapitalize="off"
          autoComplete="off"
          autoCorrect="off"
        />
      </div>
    </div>
  )
})
