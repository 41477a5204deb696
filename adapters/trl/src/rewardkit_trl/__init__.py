"""rewardkit inside TRL (GRPOTrainer, RLOOTrainer)."""
