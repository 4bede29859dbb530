"""Pure spec builders: stack settings in, plain dicts out, for Pulumi and the local runtime alike."""

from mlops.spec.functions import (
    CORE_FUNCTIONS,
    MAX_CONFIG_BYTES,
    FunctionSpec,
    cohort_key,
    function_spec,
    function_specs,
    inference_function_name,
    validate_config,
)
from mlops.spec.gateway import ALL_SCOPES, deployment_spec, local_function_ids

__all__ = [
    "ALL_SCOPES", "CORE_FUNCTIONS", "MAX_CONFIG_BYTES", "FunctionSpec", "cohort_key", "deployment_spec",
    "function_spec", "function_specs", "inference_function_name", "local_function_ids", "validate_config",
]
