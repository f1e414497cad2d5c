"""Training: metrics callbacks, the runner and the one-job-at-a-time manager."""
