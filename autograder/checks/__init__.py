"""Building blocks for graded checks: the Check type and comparison helpers."""
