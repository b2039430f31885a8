"""Policy Sandbox."""
