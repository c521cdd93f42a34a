"""The model layer, the one way anything in impress-sim talks to a model.

- `settings`: `LLMSettings` (what shapes a request, and so its cache key) and the shared
  command-line model options;
- `transport`: the one litellm call (lazy import, preflight, one retry policy, usage counting,
  per-provider limits);
- `cache`: the response cache on disk (SQLite), keyed by the full request;
- `chat`: the LangChain chat-model adapter agents act through (tool calls, the text protocol);
- `replay`: the offline reference policy, a chat model that replays a world's trajectory;
- `textformat`: tools offered as text (ReAct `Action:` lines) for models without native tools.

`agents`, `judge` and `envs` (LLM NPCs) import from here; this package imports none of them.
"""
