"""Request dependencies: the runtime, and who the caller is (an API token, or a connector's license)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from postroom.errors import NotAuthenticated
from postroom.runtime import Runtime
from postroom.services.access import Actor
from postroom.services.users import authenticate_token

_bearer = HTTPBearer(auto_error=False, description="An API token: `postroom token create` or POST /api/v1/auth/token")


def get_runtime(request: Request) -> Runtime:
    runtime = request.app.state.runtime
    assert isinstance(runtime, Runtime)
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_actor(
    runtime: RuntimeDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Actor:
    if credentials is None:
        raise NotAuthenticated("send an API token as 'Authorization: Bearer pr_…'")
    with runtime.transaction() as session:
        user = authenticate_token(session, credentials.credentials)
        return Actor.for_user(session, user)


ActorDep = Annotated[Actor, Depends(get_actor)]


_license = HTTPBearer(
    auto_error=False,
    scheme_name="ConnectorLicense",
    description="A connector's license secret (the `secret` of its Sync-license.lic): prc_…",
)


def get_license_secret(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_license)]) -> str:
    """The connector's license secret; the route checks it in its own transaction
    (``services.connectors.authenticate``), so a revocation takes effect on the next request."""
    if credentials is None:
        raise NotAuthenticated("send the connector's license secret as 'Authorization: Bearer prc_…'")
    return credentials.credentials


LicenseSecretDep = Annotated[str, Depends(get_license_secret)]
