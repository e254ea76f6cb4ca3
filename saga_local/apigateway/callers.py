"""Who may call the local API: IAM principals in moto's IAM and STS, as API Gateway's `AWS_IAM` authorization
sees them.

`moto_principals` finds an access key's owner (its secret, session token, ARN, policies) in moto's backends, in
this process; `moto_allows` evaluates its policies with moto's own IAM policy code; `create_callers` makes the
local callers `make local` hands out (IAM users, and a role session with a token), each allowed to invoke the API.
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from saga_local.apigateway.sigv4 import Principal, PrincipalLookup

__all__ = ["CALLERS", "create_callers", "moto_allows", "moto_principals"]

# (name, kind): the first is what the README's examples use.
CALLERS = (("storefront", "user"), ("back-office", "user"), ("fulfilment", "role"))
SESSION_SECONDS = 12 * 3600  # a role's longest session: a local stack stays up a working day


def moto_principals(account_id: str, partition: str = "aws") -> PrincipalLookup:
    """An access key id -> its principal in moto's IAM (users' active keys) and STS (assumed roles)."""

    def lookup(access_key_id: str) -> Principal | None:
        from moto.iam.access_control import AssumedRoleAccessKey, IAMUserAccessKey
        from moto.iam.models import iam_backends
        from moto.sts.models import sts_backends

        iam = iam_backends[account_id][partition]
        for user in iam.users.values():
            for key in user.access_keys:
                if key.access_key_id == access_key_id and key.status == "Active":
                    user_policies: list[Any] = list(
                        IAMUserAccessKey(account_id, partition, access_key_id, {}).collect_policies()
                    )
                    return Principal(
                        access_key_id=access_key_id,
                        secret_access_key=key.secret_access_key,
                        arn=user.arn,
                        account_id=account_id,
                        user_id=user.id,
                        policies=user_policies,
                    )
        for session in sts_backends[account_id][partition].assumed_roles:
            if session.access_key_id == access_key_id:
                role = iam.get_role_by_arn(session.role_arn)
                token = {"X-Amz-Security-Token": session.session_token}
                policies = AssumedRoleAccessKey(account_id, partition, access_key_id, token).collect_policies()
                expires = session.expiration
                return Principal(
                    access_key_id=access_key_id,
                    secret_access_key=session.secret_access_key,
                    arn=session.arn,
                    account_id=account_id,
                    user_id=f"{role.id}:{session.session_name}",
                    session_token=session.session_token,
                    expires_at=expires if expires.tzinfo else expires.replace(tzinfo=UTC),
                    policies=policies,
                )
        return None

    return lookup


def moto_allows(policies: Sequence[Any], action: str, resource: str) -> bool:
    """IAM's rule: an explicit Deny wins, else some Allow is needed (moto's statement matching)."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    allowed = False
    for policy in policies:
        result = IAMPolicy(policy).is_action_permitted(action, resource)
        if result == PermissionResult.DENIED:
            return False
        allowed = allowed or result == PermissionResult.PERMITTED
    return allowed


def create_callers(iam: Any, sts: Any, invoke_resources: Sequence[str]) -> list[dict[str, str]]:
    """The local callers, each with a policy allowing execute-api:Invoke on `invoke_resources` (ARN patterns):
    [{Name, Arn, AccessKeyId, SecretAccessKey[, SessionToken, Expiration]}]."""
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": list(invoke_resources)}],
        }
    )
    callers = []
    for name, kind in CALLERS:
        if kind == "user":
            arn = iam.create_user(UserName=name)["User"]["Arn"]
            iam.put_user_policy(UserName=name, PolicyName="invoke-order-api", PolicyDocument=policy)
            key = iam.create_access_key(UserName=name)["AccessKey"]
            callers.append(
                {"Name": name, "Arn": arn, "AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}
            )
            continue
        account = iam.get_user(UserName=CALLERS[0][0])["User"]["Arn"].split(":")[4]
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}
            ],
        }
        role_arn = iam.create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), MaxSessionDuration=SESSION_SECONDS
        )["Role"]["Arn"]
        iam.put_role_policy(RoleName=name, PolicyName="invoke-order-api", PolicyDocument=policy)
        assumed = sts.assume_role(RoleArn=role_arn, RoleSessionName=f"{name}-local", DurationSeconds=SESSION_SECONDS)
        credentials = assumed["Credentials"]
        expiration = credentials["Expiration"]
        callers.append(
            {
                "Name": name,
                "Arn": assumed["AssumedRoleUser"]["Arn"],
                "AccessKeyId": credentials["AccessKeyId"],
                "SecretAccessKey": credentials["SecretAccessKey"],
                "SessionToken": credentials["SessionToken"],
                "Expiration": expiration.astimezone(UTC).isoformat()
                if isinstance(expiration, datetime)
                else str(expiration),
            }
        )
    return callers
