"""Sign in for a token, and manage one's own API tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from postroom.db.models import User
from postroom.errors import FieldError, InvalidInput, NotAuthenticated
from postroom.services import users
from postroom.web.deps import ActorDep, RuntimeDep

router = APIRouter(tags=["auth"])


class PasswordLogin(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str
    password: str
    token_name: str = Field(default="api", description="A name to recognise the token by later.")
    expires_in_days: int | None = None


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    expires_in_days: int | None = None


def _user(session: Any, actor_user_id: str | None) -> User:
    if actor_user_id is None:
        raise NotAuthenticated("API tokens belong to users")
    return users.get_user(session, actor_user_id)


@router.post("/auth/token", status_code=201, summary="Exchange e-mail and password for a new API token")
def login(body: PasswordLogin, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        user = users.authenticate_password(session, body.email, body.password)
        try:
            token, plaintext = users.create_token(session, user, body.token_name, expires_in_days=body.expires_in_days)
        except InvalidInput as exc:  # the field is called token_name here
            raise InvalidInput(
                [FieldError("token_name" if e.field == "name" else e.field, e.message) for e in exc.errors]
            ) from None
        return {**users.token_to_dict(token), "token": plaintext}


@router.get("/me", summary="Who the token belongs to, and their roles")
def me(actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        return users.user_to_dict(session, _user(session, actor.user_id))


@router.get("/tokens", summary="Your API tokens (never their values)")
def list_tokens(actor: ActorDep, runtime: RuntimeDep) -> list[dict[str, Any]]:
    with runtime.transaction() as session:
        return [users.token_to_dict(t) for t in users.list_tokens(session, _user(session, actor.user_id))]


@router.post("/tokens", status_code=201, summary="Create an API token; its value is shown only in this answer")
def create_token(body: TokenIn, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        user = _user(session, actor.user_id)
        token, plaintext = users.create_token(session, user, body.name, expires_in_days=body.expires_in_days)
        return {**users.token_to_dict(token), "token": plaintext}


@router.delete("/tokens/{token_id}", summary="Revoke an API token")
def revoke_token(token_id: str, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        return users.token_to_dict(users.revoke_token(session, actor, token_id))
