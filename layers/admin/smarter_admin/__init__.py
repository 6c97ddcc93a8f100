"""Administration on top of the core: the `smarter` CLI (`cli`, with its
command groups `plugin_cli` and `domains_cli`, its printing in `output` and its
one error path in `failures`), manifests (`models`, `manifests`) and domain
provisioning (`domains`). No request function imports it, and it ships only in
the DomainsFunction's layer, which loads `domains` alone (not Typer or Rich)."""
