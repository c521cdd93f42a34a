"""Scenario generation: a multi-stage LLM pipeline that turns a taxonomy cell into a checked world.

understanding -> ideation -> drafting -> repair -> quality control -> pilot -> acceptance into a pack
(docs/generation.md). Generated worlds are YAML only: model output is never executed.
"""
