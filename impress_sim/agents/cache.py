"""The response cache lives in `impress_sim.llm_cache` (shared with the judge); re-exported here."""

from impress_sim.llm_cache import ResponseCache, default_cache_path, request_key

__all__ = ["ResponseCache", "default_cache_path", "request_key"]
