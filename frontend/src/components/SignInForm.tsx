import { useState, type FormEvent } from 'react'

interface Props {
  onSignIn: (apiKey: string) => Promise<void>
  error: string | null
  apiBaseUrl: string
}

export function SignInForm({ onSignIn, error, apiBaseUrl }: Props) {
  const [apiKey, setApiKey] = useState('')
  const [busy, setBusy] = useState(false)

  async function submit(event: FormEvent) {
    event.preventDefault()
    const key = apiKey.trim()
    if (!key || busy) return
    setBusy(true)
    try {
      await onSignIn(key)
    } finally {
      setBusy(false)
    }
  }

  return (
    <main className="signin">
      <form className="card signin-card" onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">Sign in</h1>
        <p className="muted">
          Use an API key of your Smarter account. The key stays in this browser tab only and is sent as a bearer
          token to {apiBaseUrl || 'this site'}.
        </p>
        <details className="key-help" data-testid="key-help">
          <summary>Where do I get a key?</summary>
          <p>
            The operator of this gateway creates keys with the admin CLI:{' '}
            <code>smarter apikey create &lt;name&gt;</code>, which prints the key once. Use an account-wide key (no{' '}
            <code>--client</code>): the playground's passthrough and the console's key and manifest pages refuse a key
            limited to some clients. Signed in, you can create more keys in Console → Keys. Running the stack yourself?{' '}
            <code>make run</code> prints a line <code>API key: …</code> for the demo account.
          </p>
        </details>
        <label htmlFor="api-key" className="field-label">
          API key
        </label>
        <input
          id="api-key"
          data-testid="api-key-input"
          className="input mono"
          type="password"
          autoComplete="off"
          spellCheck={false}
          placeholder="Paste your API key"
          value={apiKey}
          onChange={(e) => setApiKey(e.target.value)}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? 'signin-error' : undefined}
          autoFocus
        />
        {error && (
          <p id="signin-error" data-testid="signin-error" className="form-error" role="alert">
            {error}
          </p>
        )}
        <button data-testid="sign-in" className="button primary block" type="submit" disabled={busy || !apiKey.trim()}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  )
}
