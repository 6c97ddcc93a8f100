"""Smarter Serverless core: the code every request function shares.

Sub-packages, each importing only those below it:

- `edge`     HTTP glue: resolver, exception handler, envelope, journaled run
- `llm`      the chat domain: prompt request, tool loop, providers, plugins
- `tenancy`  hosts, API keys, account secrets: who may reach what
- `store`    DynamoDB, S3 and Secrets Manager: config, journal, sessions, usage
- base modules `config`, `errors`, `cache`, `schema`, imported by all

The admin CLI and provisioning live in the separate `smarter_admin` package.
"""

API_VERSION = "smarter.sh/v1"
