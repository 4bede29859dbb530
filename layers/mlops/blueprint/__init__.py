"""The stack's blueprint: which functions it has (with their config maps) and the API Gateway route
specification, derived from the stack settings as plain dicts for Pulumi and the local runtime alike.

Import the modules (``mlops.blueprint.functions``, ``mlops.blueprint.gateway``); this package face stays empty
so that importing one of them does not load the other.
"""
