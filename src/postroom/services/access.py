"""Who is asking, and what they may see: tenant isolation and roles in one place."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from postroom.db.models import Membership, Tenant, User
from postroom.domain.naming import is_storable
from postroom.errors import AccessDenied, NotFound


class Role(StrEnum):
    ADMIN = "admin"
    USER = "user"


@dataclass(frozen=True)
class Actor:
    """The caller. ``superadmin`` sees every tenant; others only the tenants they are members of."""

    user_id: str | None
    email: str
    superadmin: bool = False
    roles: dict[str, Role] = field(default_factory=dict)

    @classmethod
    def local_admin(cls) -> Actor:
        """The CLI on the server: whoever can read the data directory is an administrator."""
        return cls(user_id=None, email="local administrator (CLI)", superadmin=True)

    @classmethod
    def for_user(cls, session: Session, user: User) -> Actor:
        rows = session.scalars(select(Membership).where(Membership.user_id == user.id))
        return cls(user.id, user.email, user.is_superadmin, {m.tenant_id: Role(m.role) for m in rows})

    def role_in(self, tenant_id: str) -> Role | None:
        return Role.ADMIN if self.superadmin else self.roles.get(tenant_id)


def tenant_for(session: Session, actor: Actor, key: str, *, need: Role = Role.USER) -> Tenant:
    """The tenant named or identified by ``key``, if ``actor`` may see it; otherwise NotFound.

    A tenant the actor has no role in is reported as not found, never as forbidden, so that tenant
    names do not leak. A visible tenant where the actor's role is too low gives AccessDenied.
    """
    if not is_storable(key):
        raise NotFound("tenant", key)
    tenant = session.scalar(select(Tenant).where((Tenant.name == key.strip().lower()) | (Tenant.id == key)))
    role = actor.role_in(tenant.id) if tenant else None
    if tenant is None or role is None:
        raise NotFound("tenant", key)
    if need is Role.ADMIN and role is not Role.ADMIN:
        raise AccessDenied(f"this needs the admin role in tenant {tenant.name!r}; you have the {role} role")
    return tenant
