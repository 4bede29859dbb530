"""The Pulumi program of oci-mlops: ``pulumi up --stack <name>`` deploys ``Pulumi.<name>.yaml``.

Pulumi runs this file with the project root or ``infra/`` as the working directory; paths are
therefore taken from this file's location, never from the cwd. The settings come from the
stack file through the same loader the CLI and the local runtime use; secret values come from
``pulumi config set --secret mlops-secrets:<key>`` (see ``mlops_infra.secrets``).
"""

from __future__ import annotations

import sys
from pathlib import Path

INFRA_DIR = Path(__file__).resolve().parent
PROJECT_DIR = INFRA_DIR.parent

if str(INFRA_DIR) not in sys.path:
    sys.path.insert(0, str(INFRA_DIR))
try:
    import mlops  # noqa: F401  (installed into the project venv: pip install -e '.[infra]')
except ModuleNotFoundError:
    sys.path.insert(0, str(PROJECT_DIR / "layers"))

import pulumi  # noqa: E402
from mlops.errors import MlopsError  # noqa: E402
from mlops.settings import load_stack  # noqa: E402
from mlops_infra.stack import deploy  # noqa: E402


def main() -> None:
    try:
        settings = load_stack(pulumi.get_stack(), PROJECT_DIR)
        outputs = deploy(settings, PROJECT_DIR)
    except MlopsError as exc:
        # one line naming the key to fix, not a Python traceback
        raise pulumi.RunError(exc.message) from None
    for key, value in outputs.items():
        pulumi.export(key, value)


main()
