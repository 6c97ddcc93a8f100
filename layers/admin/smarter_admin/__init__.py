"""Administration on top of the core: the `smarter` CLI (`cli`, with its
command groups `plugin_cli` and `domains_cli`), manifests (`models`,
`manifests`) and domain provisioning (`domains`). No request function imports
it, and it ships only in the DomainsFunction's layer."""
