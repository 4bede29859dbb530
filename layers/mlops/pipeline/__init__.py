"""Build and deploy pipelines: the OCI DevOps specs, validated, and a faithful local runner."""

from mlops.pipeline.buildspec import BuildSpec, load_build_spec, parse_build_spec
from mlops.pipeline.deployspec import apply_devops_settings, load_deploy_pipeline, parse_deploy_pipeline
from mlops.pipeline.engine import EngineProbe, detect_container_engine, engine_command_in
from mlops.pipeline.results import BuildResult, StepResult, format_report
from mlops.pipeline.runner import BuildRunner
from mlops.pipeline.specfile import SpecError

__all__ = [
    "BuildResult",
    "BuildRunner",
    "BuildSpec",
    "EngineProbe",
    "SpecError",
    "StepResult",
    "apply_devops_settings",
    "detect_container_engine",
    "engine_command_in",
    "format_report",
    "load_build_spec",
    "load_deploy_pipeline",
    "parse_build_spec",
    "parse_deploy_pipeline",
]
