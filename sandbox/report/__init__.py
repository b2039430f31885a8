"""Policy-analysis outputs: summary statistics, figures and reports from a results store."""
