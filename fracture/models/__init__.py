"""The networks a run can train, each taking one grey channel."""
