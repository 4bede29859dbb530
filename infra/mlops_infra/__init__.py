"""The Pulumi program of oci-mlops as ComponentResources: typed stack settings in, OCI resources out.

``stack.deploy(settings, project_dir)`` wires every component; ``preview.plan_stack`` runs the
same program offline under Pulumi mocks (``mlops infra plan``).
"""

from .devops import Ci, CiArgs, Delivery, DeliveryArgs
from .functions import Functions, FunctionsArgs
from .gateway import ApiGateway, GatewayArgs
from .iam import Iam, IamArgs
from .network import Network, NetworkArgs
from .notifications import Notifications, NotificationsArgs
from .observability import Observability, ObservabilityArgs
from .storage import Storage, StorageArgs
from .vault import Vault, VaultArgs

__all__ = [
    "ApiGateway",
    "Ci",
    "CiArgs",
    "Delivery",
    "DeliveryArgs",
    "Functions",
    "FunctionsArgs",
    "GatewayArgs",
    "Iam",
    "IamArgs",
    "Network",
    "NetworkArgs",
    "Notifications",
    "NotificationsArgs",
    "Observability",
    "ObservabilityArgs",
    "Storage",
    "StorageArgs",
    "Vault",
    "VaultArgs",
]
