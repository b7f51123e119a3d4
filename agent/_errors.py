"""The agent's exceptions, all inside the project's tree (:mod:`schemas` ``IxoError``).

``TransientError`` subclasses mean "retry the request later" (it resumes from its checkpoint);
``PermanentError`` subclasses mean "retrying will not help".
"""

from __future__ import annotations

from schemas import PermanentError, TransientError


class ModelUnavailable(TransientError):  # noqa: N818 - part of the public vocabulary
    """The language model could not be reached, timed out or was overloaded (after retries)."""


class ModelRejected(PermanentError):  # noqa: N818
    """The language model refused the request (bad key, unknown model, malformed request)."""


class AgentConfigError(PermanentError):
    """An agent configuration that cannot be built (unknown node, tool or store...)."""


class StaleCheckpoint(TransientError):  # noqa: N818
    """Another run of the same request wrote a newer checkpoint; this run stops."""


class StepLimitExceeded(PermanentError):  # noqa: N818
    """A run went through more graph steps than its limit (a routing loop)."""


class ToolError(PermanentError):
    """A tool could not do what was asked; the message goes back to the model as the result."""
