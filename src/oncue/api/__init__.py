"""The AWS-compatible HTTP API: boto3 and the AWS CLI talk to oncue with ``endpoint_url``.

Step Functions (``AWSStepFunctions.*``), EventBridge (``AWSEvents.*``), the SQS message
actions (``AmazonSQS.*``) for the internal queues rule targets deliver to, and oncue's own
dead-letter actions (``OncueEvents.*``).

``oncue serve`` runs it; :func:`create_api` gives the ASGI app to embed it elsewhere.
"""

from oncue.api.backend import Backend
from oncue.api.events import EVENTS, ONCUE_EVENTS
from oncue.api.operations import Action, Param, Service
from oncue.api.server import SERVICES, ApiServer, create_api
from oncue.api.sqs import SQS
from oncue.api.stepfunctions import STEP_FUNCTIONS

__all__ = [
    "EVENTS",
    "ONCUE_EVENTS",
    "SERVICES",
    "SQS",
    "STEP_FUNCTIONS",
    "Action",
    "ApiServer",
    "Backend",
    "Param",
    "Service",
    "create_api",
]
