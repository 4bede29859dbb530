"""The Pulumi program of oci-mlops: ``pulumi up --stack <name>`` deploys ``Pulumi.<name>.yaml``.

Pulumi runs this file with the project root or ``infra/`` as the working directory; paths are
therefore taken from this file's location, never from the cwd. The settings come from the
stack file through the same loader the CLI and the local runtime use; secret values come from
``pulumi config set --secret mlops-secrets:<key>`` (see ``mlops_infra.secrets``).

``mlops`` and ``mlops_infra`` are ordinary imports: both packages are installed into the project venv
(``pip install -e '.[infra]'``, into the venv Pulumi.yaml names); Pulumi, which runs this directory as a
script, also puts infra/ on ``sys.path``.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
from mlops.errors import MlopsError
from mlops.settings import load_stack
from mlops_infra.stack import deploy

PROJECT_DIR = Path(__file__).resolve().parent.parent


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
