"""moto's IAM check, made to enforce the actions of the template's roles.

moto authenticates and authorizes every request once `INITIAL_NO_AUTH_ACTION_COUNT` requests have been served
(the stack turns that on after provisioning, with moto's enable_iam_authentication: CloudFormation acts with its
own rights). As shipped, that check
cannot serve this stack, for reasons these patches address:

- moto evaluates a statement's Resource against the request's resource, which it knows only for SQS, IAM and STS
  ("*" for every other service): every Allow scoped to a table, a function or a state machine matches nothing,
  so a role whose policies all name their resources (every SAM policy template, every connector) is denied all.
- it names an action after the API operation, and IAM does not always: Lambda's Invoke is lambda:InvokeFunction,
  and a DynamoDB transaction needs the action of each of its items (PutItem, UpdateItem, ConditionCheckItem...).
- it answers a denial as IAM's XML, whatever the service speaks: a DynamoDB or Step Functions client then reads
  the error code "403" instead of AccessDeniedException (and a mapping template reading `__type` finds nothing).
- credentials it does not know are refused: the CLI, the tests and the stack's own tools use any credentials.
"""

import json
from collections.abc import Sequence
from functools import wraps
from typing import Any

from saga_local.core.patching import Change, Kind, Patch, Replace

# IAM's name for an action, where it is not "<signing name>:<operation>" (the Service Authorization Reference).
_IAM_ACTION_NAMES = {
    "lambda:Invoke": "lambda:InvokeFunction",
    "lambda:InvokeWithResponseStream": "lambda:InvokeFunction",
}
_TRANSACT_ITEM_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}
# Protocols whose errors are JSON with __type: AWS answers AccessDeniedException, 400 for the JSON protocols
# (DynamoDB, Step Functions, SQS, ...: told by the request's Content-Type), 403 for Lambda's REST-JSON.
_REST_JSON_SIGNING_NAMES = {"lambda": 403}
_ALLOW_ALL = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'


def _resources_changes() -> Sequence[Change]:
    from moto.iam.access_control import IAMPolicyStatement

    plain = IAMPolicyStatement.is_action_permitted

    @wraps(plain)
    def is_action_permitted(self: Any, action: str, resource: str = "*", *args: Any, **kwargs: Any) -> Any:
        statement = self._statement
        if resource == "*" and statement.get("Effect") == "Allow" and statement.get("Resource") not in (None, "*"):
            # moto does not know what this request touches: an Allow is read as covering it.
            return plain(IAMPolicyStatement({**statement, "Resource": "*"}), action, resource, *args, **kwargs)
        return plain(self, action, resource, *args, **kwargs)

    return [Replace(IAMPolicyStatement, "is_action_permitted", is_action_permitted)]


IAM_UNKNOWN_RESOURCES = Patch(
    name="iam-unknown-resources",
    kind=Kind.GAP,
    replaces="moto.iam.access_control.IAMPolicyStatement.is_action_permitted: a statement's Resource matched "
    "against the request's resource, which moto knows for SQS, IAM and STS only (`*` for every other service), "
    "so an Allow naming a table, function or state machine never applies",
    because="every policy of the template names its resources (SAM policy templates, connectors): for the "
    "actions of each role to be enforced, an Allow must apply when moto cannot tell the resource (a Deny scoped "
    "to a resource then does not, as before)",
    changes=_resources_changes,
)


def iam_actions(action: str, body: bytes | str | None) -> list[str]:
    """The IAM actions one request needs: a DynamoDB transaction is authorized as each of its items' actions
    (TransactWriteItems and TransactGetItems are not IAM actions), other renamed operations by their IAM name."""
    if action in ("dynamodb:TransactWriteItems", "dynamodb:TransactGetItems"):
        try:
            items = json.loads(body or b"{}").get("TransactItems", [])
            kinds = {kind for item in items for kind in item}
            return sorted(_TRANSACT_ITEM_ACTIONS[kind] for kind in kinds if kind in _TRANSACT_ITEM_ACTIONS)
        except (ValueError, AttributeError, TypeError):
            return [action]  # not a request DynamoDB would run: checked as named, moto answers its error
    return [_IAM_ACTION_NAMES.get(action, action)]


def _action_names_changes() -> Sequence[Change]:
    from moto.iam.access_control import IAMRequestBase

    plain_init = IAMRequestBase.__init__
    plain_permitted = IAMRequestBase.check_action_permitted

    @wraps(plain_init)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        plain_init(self, *args, **kwargs)
        self._iam_actions = iam_actions(self._action, self._body)

    @wraps(plain_permitted)
    def check_action_permitted(self: Any, resource: str) -> None:
        for action in self._iam_actions:  # each must be allowed; a denial names the one refused
            self._action = action
            plain_permitted(self, resource)

    return [
        Replace(IAMRequestBase, "__init__", init),
        Replace(IAMRequestBase, "check_action_permitted", check_action_permitted),
    ]


IAM_ACTION_NAMES = Patch(
    name="iam-action-names",
    kind=Kind.GAP,
    replaces="moto.iam.access_control.IAMRequestBase.__init__, check_action_permitted: the action checked is "
    "`<signing name>:<API operation>`: Lambda's Invoke as lambda:Invoke, a DynamoDB transaction as "
    "dynamodb:TransactWriteItems (not an IAM action)",
    because="IAM checks lambda:InvokeFunction (what the state machine's connector allows) and each item's action "
    "of a transaction (what a function's DynamoDBCrudPolicy allows: the inventory reserves in one transaction)",
    changes=_action_names_changes,
)


def _error_format_changes() -> Sequence[Change]:
    from moto.core.exceptions import AccessDeniedError, JsonRESTError
    from moto.iam.access_control import IAMRequest

    class SnsAuthorizationError(AccessDeniedError):
        def __init__(self, message: str) -> None:
            super(AccessDeniedError, self).__init__("AuthorizationError", message)

    plain_signature = IAMRequest._raise_signature_does_not_match
    plain_invalid_key = IAMRequest._raise_invalid_access_key

    def json_error(request: Any, error_type: str, message: str) -> None:
        """Raise `error_type` as the request's JSON protocol writes it; return if it is not a JSON protocol."""
        rest_json_status = _REST_JSON_SIGNING_NAMES.get(request._service)
        if rest_json_status is not None or request._headers.get("Content-Type", "").startswith(
            "application/x-amz-json"
        ):
            error = JsonRESTError(error_type, message)
            error.code = rest_json_status or 400
            raise error

    def raise_access_denied(self: Any) -> None:
        message = f"User: {self._access_key.arn} is not authorized to perform: {self._action}"
        json_error(self, "AccessDeniedException", message)
        if self._service == "sns":
            raise SnsAuthorizationError(message)
        raise AccessDeniedError(user_arn=self._access_key.arn, action=self._action)

    def raise_signature_does_not_match(self: Any) -> None:
        json_error(self, "InvalidSignatureException", "The request signature we calculated does not match the "
                   "signature you provided. Check your AWS Secret Access Key and signing method.")  # fmt: skip
        plain_signature(self)

    def raise_invalid_access_key(self: Any, reason: str) -> None:
        json_error(self, "UnrecognizedClientException", "The security token included in the request is invalid.")
        plain_invalid_key(self, reason)

    return [
        Replace(IAMRequest, "_raise_access_denied", raise_access_denied),
        Replace(IAMRequest, "_raise_signature_does_not_match", raise_signature_does_not_match),
        Replace(IAMRequest, "_raise_invalid_access_key", raise_invalid_access_key),
    ]


IAM_ERROR_FORMAT = Patch(
    name="iam-access-denied-format",
    kind=Kind.GAP,
    replaces="moto.iam.access_control.IAMRequest._raise_access_denied (and _raise_signature_does_not_match, "
    "_raise_invalid_access_key): IAM's XML errors (AccessDenied, SignatureDoesNotMatch, InvalidClientTokenId, "
    "403) whatever the protocol of the service called",
    because="AWS's JSON services answer AccessDeniedException, InvalidSignatureException, "
    "UnrecognizedClientException (HTTP 400; Lambda 403) and SNS AuthorizationError: functions, the state "
    "machine's error names and the API's mapping of a refused StartSyncExecution read the code",
    changes=_error_format_changes,
)


def _account_root_changes() -> Sequence[Change]:
    from botocore.credentials import Credentials
    from moto.iam import access_control

    class AccountRoot:
        """Credentials IAM does not know: the account's root user, whom no identity policy restricts."""

        def __init__(self, account_id: str, partition: str) -> None:
            self.arn = f"arn:{partition}:iam::{account_id}:root"

        def create_credentials(self) -> Credentials:  # not called: root requests are not checked
            raise NotImplementedError

        def collect_policies(self) -> list[str]:
            return [_ALLOW_ALL]

    plain_create = access_control.create_access_key
    plain_signature = access_control.IAMRequestBase.check_signature
    plain_permitted = access_control.IAMRequestBase.check_action_permitted

    @wraps(plain_create)
    def create_access_key(account_id: str, partition: str, access_key_id: str, headers: dict[str, str]) -> Any:
        try:
            return plain_create(account_id, partition, access_key_id, headers)
        except access_control.CreateAccessKeyFailure as failure:
            if failure.reason != "InvalidId":  # a known key with a wrong session token stays an error
                raise
            return AccountRoot(account_id, partition)

    @wraps(plain_signature)
    def check_signature(self: Any) -> None:
        if not isinstance(self._access_key, AccountRoot):
            plain_signature(self)

    @wraps(plain_permitted)
    def check_action_permitted(self: Any, resource: str) -> None:
        if not isinstance(self._access_key, AccountRoot):
            plain_permitted(self, resource)

    return [
        Replace(access_control, "create_access_key", create_access_key),
        Replace(access_control.IAMRequestBase, "check_signature", check_signature),
        Replace(access_control.IAMRequestBase, "check_action_permitted", check_action_permitted),
    ]


IAM_ACCOUNT_ROOT = Patch(
    name="iam-unknown-keys-as-root",
    kind=Kind.SETTING,
    replaces="moto.iam.access_control.create_access_key (and IAMRequestBase.check_signature, "
    "check_action_permitted): with IAM enforced, an access key that is neither an IAM user's nor from STS is "
    "refused (InvalidClientTokenId)",
    because="the developer's CLI, the tests and the stack's tools call the endpoint with any credentials, as the "
    "account's root user (whom no identity policy restricts); the principals of the template get STS "
    "credentials for their roles, which are checked",
    changes=_account_root_changes,
)
