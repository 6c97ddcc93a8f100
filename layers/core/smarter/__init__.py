"""Smarter Serverless core: everything the Lambda functions share.

The modules each do one job: `config` (settings from the environment),
`models` (Pydantic models at the edges), `storage` (DynamoDB access),
`hosts` (which client a host name means), `auth` (API keys), `providers`
(LLM endpoints), `plugins` (plugin kinds and selection), `chat` (the prompt
and its tool-call loop), `journal` and `sessions` (what is kept), `envelope`
and `web` (how answers look over HTTP).
"""

API_VERSION = "smarter.sh/v1"
