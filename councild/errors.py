"""Every error councild raises on purpose, in one flat module."""

from __future__ import annotations


class CouncildError(Exception):
    """Base of all councild errors."""


class ConfigError(CouncildError):
    """The configuration is invalid; `problems` lists (key path, reason) pairs."""

    def __init__(self, path: str, problems: list[tuple[str, str]],
                 files: list[str] | None = None) -> None:
        self.path = path
        self.problems = problems
        # The file each problem is in, where a configuration spans files (chamber + session).
        self.files = files if files is not None and len(files) == len(problems) else None
        lines = [f"{self.file_of(i)}: {key}: {reason}" for i, (key, reason) in enumerate(problems)]
        super().__init__("\n".join(lines))

    def file_of(self, index: int) -> str:
        return self.files[index] if self.files is not None else self.path


class FloorError(CouncildError):
    """A floor command is not allowed in the current state; the state is unchanged.

    `code` is stable and machine-readable (it goes into API error replies); the message is
    for people.
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


class NotSupportedError(CouncildError):
    """The device or protocol cannot do what was asked."""


class ProtocolError(CouncildError):
    """Bytes on a wire did not make sense."""


class LocalProtocolError(ProtocolError):
    """We were asked to send something the protocol cannot express."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol does not allow; counted and logged, never fatal."""


class ConnectionLostError(CouncildError):
    """The connection to a peer went away while something was waiting on it."""


class OperationTimeoutError(CouncildError):
    """A peer did not answer in time."""


class AuthenticationError(CouncildError):
    """A peer refused our credentials (OBS password, bridge secret, API token)."""
