"""Users, their roles per tenant, the first administrator, and API tokens."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from postroom.db.models import ApiToken, Membership, Tenant, User
from postroom.db.types import utcnow
from postroom.domain.naming import clean_text, is_encodable, is_storable, name_key
from postroom.errors import AccessDenied, Conflict, FieldError, InvalidInput, NotAuthenticated, NotFound
from postroom.security import passwords, tokens
from postroom.services.access import Actor, Role

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
EMAIL_LENGTH = 254
DISPLAY_NAME_LENGTH = 200
TOKEN_NAME_LENGTH = 100


def clean_email(value: str) -> str:
    email = value.strip()
    if (
        not _EMAIL.fullmatch(email)
        or max(len(email), len(name_key(email))) > EMAIL_LENGTH  # the key is stored too
        or not is_encodable(email)
        or any(unicodedata.category(ch) == "Cc" for ch in email)  # NUL among them
    ):
        raise InvalidInput(FieldError("email", "must be an e-mail address such as anna@example.com"))
    return email


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        raise InvalidInput(FieldError("role", "must be admin or user")) from None


def create_user(
    session: Session,
    email: str,
    password: str,
    *,
    display_name: str = "",
    superadmin: bool = False,
) -> User:
    email = clean_email(email)
    passwords.check_password_strength(password)
    if not is_encodable(password):
        raise InvalidInput(FieldError("password", "must be valid Unicode text: it contains a lone surrogate"))
    display_name = clean_text(display_name, "display_name", DISPLAY_NAME_LENGTH)
    if session.scalar(select(User).where(User.email_key == name_key(email))):
        raise Conflict(f"a user with e-mail {email!r} already exists")
    user = User(
        email=email,
        email_key=name_key(email),
        display_name=display_name,
        password_hash=passwords.hash_password(password),
        is_superadmin=superadmin,
    )
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, email_or_id: str) -> User:
    key = email_or_id.strip()
    if not is_storable(key):
        raise NotFound("user", email_or_id)
    user = session.scalar(select(User).where((User.email_key == name_key(key)) | (User.id == key)))
    if user is None:
        raise NotFound("user", email_or_id)
    return user


def set_membership(session: Session, user: User, tenant: Tenant, role: Role) -> Membership:
    membership = session.get(Membership, (user.id, tenant.id))
    if membership is None:
        membership = Membership(user_id=user.id, tenant_id=tenant.id, role=role.value)
        session.add(membership)
    else:
        membership.role = role.value
    session.flush()
    return membership


def list_users(session: Session, tenant: Tenant | None = None) -> list[User]:
    query = select(User).order_by(User.email_key)
    if tenant is not None:
        query = query.join(Membership).where(Membership.tenant_id == tenant.id)
    return list(session.scalars(query))


@dataclass(frozen=True)
class FirstAdmin:
    user: User
    generated_password: str | None  # shown once, never stored


def ensure_first_admin(session: Session, email: str, password: str | None) -> FirstAdmin | None:
    """Create the first administrator when there are no users yet; None when users exist."""
    if session.scalar(select(User.id).limit(1)) is not None:
        return None
    generated = None if password else passwords.generate_password()
    user = create_user(session, email, password or generated or "", superadmin=True)
    return FirstAdmin(user, generated)


def authenticate_password(session: Session, email: str, password: str) -> User:
    key = name_key(email.strip())
    user = session.scalar(select(User).where(User.email_key == key)) if is_storable(key) else None
    if (
        user is None
        or user.disabled
        or not is_encodable(password)
        or not passwords.verify_password(user.password_hash, password)
    ):
        raise NotAuthenticated("wrong e-mail or password")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    return user


def create_token(
    session: Session, user: User, name: str, *, expires_in_days: int | None = None
) -> tuple[ApiToken, str]:
    """A new API token for ``user``; the plaintext is returned once and only its hash is kept."""
    name = clean_text(name, "name", TOKEN_NAME_LENGTH)
    if not name:
        raise InvalidInput(FieldError("name", "must not be empty: name the token, e.g. 'backup script'"))
    if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
        raise InvalidInput(FieldError("expires_in_days", "must be between 1 and 3650, or empty for never"))
    new = tokens.new_token()
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    token = ApiToken(id=new.token_id, user_id=user.id, name=name, secret_hash=new.secret_hash, expires_at=expires_at)
    session.add(token)
    session.flush()
    return token, new.plaintext


def authenticate_token(session: Session, plaintext: str) -> User:
    token_id, secret = tokens.parse_token(plaintext)
    token = session.get(ApiToken, token_id)
    if token is None or not tokens.secret_matches(secret, token.secret_hash):
        raise NotAuthenticated("unknown API token: create one with `postroom token create`")
    now = utcnow()
    if token.revoked_at is not None:
        raise NotAuthenticated(f"API token {token.name!r} was revoked; create a new one")
    if token.expires_at is not None and token.expires_at <= now:
        raise NotAuthenticated(f"API token {token.name!r} expired on {token.expires_at:%Y-%m-%d}")
    user = session.get(User, token.user_id)
    if user is None or user.disabled:
        raise NotAuthenticated("the user of this API token is disabled")
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        token.last_used_at = now
    return user


def list_tokens(session: Session, user: User) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at)))


def revoke_token(session: Session, actor: Actor, token_id: str) -> ApiToken:
    token = session.get(ApiToken, token_id.strip()) if is_storable(token_id) else None
    if token is None or (not actor.superadmin and token.user_id != actor.user_id):
        raise NotFound("API token", token_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    return token


def require_superadmin(actor: Actor) -> None:
    if not actor.superadmin:
        raise AccessDenied("only a system administrator can do this")


def user_to_dict(session: Session, user: User) -> dict[str, object]:
    tenants = {t.id: t.name for t in session.scalars(select(Tenant))}
    return {
        "id": user.id,
        "email": user.email,
        "display_name": user.display_name,
        "superadmin": user.is_superadmin,
        "disabled": user.disabled,
        "roles": {tenants[m.tenant_id]: m.role for m in user.memberships if m.tenant_id in tenants},
        "created_at": user.created_at.isoformat(),
    }


def token_to_dict(token: ApiToken) -> dict[str, object]:
    return {
        "id": token.id,
        "name": token.name,
        "created_at": token.created_at.isoformat(),
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        "revoked": token.revoked_at is not None,
    }
