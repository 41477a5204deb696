"""rewardkit inside verl."""
