"""Full-catalog evaluation: metrics, baselines, reports."""
