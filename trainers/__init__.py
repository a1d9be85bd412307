"""Trainers: trajectory collection and filtering, SFT, DPO, PPO, and recipes that chain them.

Nothing is exported yet: the trainers land in their own issues (part 1: data, SFT, DPO; part 2: PPO).
"""
