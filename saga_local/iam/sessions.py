"""Each principal's credentials: STS AssumeRole on its role, as Lambda, Step Functions and API Gateway do.

moto keeps every session it issues and never checks their expiry (AssumedRoleAccessKey looks the key up, not the
time), so one session per principal lasts the life of a local stack: nothing is refreshed. The sessions are
taken with the account's root credentials, as the AWS services take theirs with their own rights; the trust
policies name those services, which moto does not evaluate as principals.
"""

import threading
from dataclasses import dataclass
from typing import Any

# What each AWS service calls its sessions (the assumed-role ARN shows them): Lambda uses the function's name.
STEP_FUNCTIONS_SESSION = "StepFunctions"
API_GATEWAY_SESSION = "BackplaneAssumeRoleSession"
# AssumeRole's default duration: moto writes it into Expiration but never checks it.
SESSION_SECONDS = 3600


@dataclass(frozen=True)
class RoleCredentials:
    role_arn: str
    access_key_id: str
    secret_access_key: str
    session_token: str

    def environment(self) -> dict[str, str]:
        """The variables Lambda sets in an execution environment for the function's role."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }

    def client_arguments(self) -> dict[str, str]:
        """For boto3.client(...)."""
        return {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "aws_session_token": self.session_token,
        }


class RoleSessions:
    """One STS session per (role, session name), taken on first use with `sts` (a client with root credentials)."""

    def __init__(self, sts: Any) -> None:
        self._sts = sts
        self._sessions: dict[tuple[str, str], RoleCredentials] = {}
        self._lock = threading.Lock()

    def credentials(self, role_arn: str, session_name: str) -> RoleCredentials:
        if not role_arn.startswith("arn:") or ":role/" not in role_arn:
            raise ValueError(f"role_arn: {role_arn!r} is not an IAM role ARN")
        key = (role_arn, session_name[:64])
        with self._lock:
            found = self._sessions.get(key)
            if found is None:
                issued = self._sts.assume_role(
                    RoleArn=role_arn, RoleSessionName=key[1], DurationSeconds=SESSION_SECONDS
                )["Credentials"]
                found = self._sessions[key] = RoleCredentials(
                    role_arn, issued["AccessKeyId"], issued["SecretAccessKey"], issued["SessionToken"]
                )
        return found
