"""oci-mlops: the model lifecycle on Oracle Cloud, serverless, and the same on a laptop."""

__version__ = "0.1.0"
