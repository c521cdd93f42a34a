"""Adapters to RL training libraries (TRL, verifiers) and to the Inspect AI harness (`inspect_eval`): each in
its own module, importing its library lazily.

Nothing here is imported by `impress_sim.envs`; import the adapter you need, e.g.
`from impress_sim.adapters.trl import make_environment_class`.
"""
