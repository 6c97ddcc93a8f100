"""Benchmarks of the gateway itself: `python -m bench` (`make bench`).

Everything runs on loopback against an OpenAI-format upstream that answers at
once, so what is measured is the gateway: CPU and wall time per request, AWS
calls per request, cold start and memory, growth with session and plugin
count, and the same request mix through LiteLLM's proxy for comparison.
Method and latest figures: docs/performance.md.
"""
