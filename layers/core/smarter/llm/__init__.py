"""The chat domain, which knows nothing of HTTP: the prompt request
(`messages`), the tool-call loop (`chat`), the providers it calls (`providers`,
`offline`) and the plugin-kind interface with selection (`plugins`)."""
