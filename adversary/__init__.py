"""Adversary: perturbation operators, the perturbation wrapper env, adversary policies, min-max training.

Nothing is exported yet: the adversary lands in its own issue, on top of the env core and the agents.
"""
