"""Serving: API keys and cohorts (authorizer), payloads and models (inference), prediction records."""
