"""The embedded local default: every function as a real fdk process behind a gateway that serves the deployed spec."""
