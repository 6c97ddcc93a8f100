/**
 * jsdom cannot lay out CodeMirror, so the unit tests swap it for a textarea
 * with the same props and handle; the real editor is covered in Chromium by
 * tests/e2e/test_page.py.
 */
import { forwardRef, useImperativeHandle, useRef } from 'react'
import type { CodeEditorHandle } from '../components/CodeEditor'

interface Props {
  value: string
  onChange: (value: string) => void
  errorOffset: number | null
  onSubmit: () => void
  label: string
  autoFocus?: boolean
}

export const CodeEditor = forwardRef<CodeEditorHandle, Props>(function TextareaEditor({ value, onChange, onSubmit, label, autoFocus }, ref) {
  const area = useRef<HTMLTextAreaElement>(null)
  useImperativeHandle(ref, () => ({
    focusAt: (offset) => {
      area.current?.focus()
      area.current?.setSelectionRange(offset, offset)
    },
    focus: () => area.current?.focus(),
    getText: () => area.current?.value ?? value,
  }))
  return (
    <textarea
      ref={area}
      data-testid="editor"
      aria-label={label}
      autoFocus={autoFocus}
      value={value}
      onChange={(e) => onChange(e.target.value)}
      onKeyDown={(e) => {
        if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
          e.preventDefault()
          onSubmit()
        }
      }}
    />
  )
})
