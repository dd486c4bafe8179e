"""Members of a tenant: change a member's role, or take a member out of the tenant.

A tenant always keeps at least one administrator, so nobody can lock a tenant out of its own
configuration by a role change or a removal. The user account itself stays (it may be a member
of other tenants; ``postroom user`` manages accounts).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from postroom.db.models import Membership, Tenant, User
from postroom.errors import Conflict, NotFound
from postroom.services.access import Role
from postroom.services.users import get_user


def get_member(session: Session, tenant: Tenant, key: str) -> tuple[User, Membership]:
    """A user with a role in ``tenant``, by ID or e-mail; a user of other tenants only is not found."""
    try:
        user = get_user(session, key)
    except NotFound:
        raise NotFound("user", key) from None
    membership = session.get(Membership, (user.id, tenant.id))
    if membership is None:
        raise NotFound("user", key)
    return user, membership


def _other_admins(session: Session, tenant: Tenant, user: User) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(
            Membership.tenant_id == tenant.id,
            Membership.role == Role.ADMIN.value,
            Membership.user_id != user.id,
        )
    )
    return int(count or 0)


def _last_admin(user: User, tenant: Tenant) -> Conflict:
    return Conflict(
        f"{user.email} is the last administrator of tenant {tenant.name!r}; make someone else an administrator first"
    )


def change_role(session: Session, tenant: Tenant, key: str, role: Role) -> Membership:
    """Give a member another role; the tenant's last administrator stays one."""
    user, membership = get_member(session, tenant, key)
    if membership.role == Role.ADMIN and role is not Role.ADMIN and not _other_admins(session, tenant, user):
        raise _last_admin(user, tenant)
    membership.role = role.value
    session.flush()
    return membership


def remove_member(session: Session, tenant: Tenant, key: str) -> User:
    """Take a member out of the tenant (the account stays); never its last administrator."""
    user, membership = get_member(session, tenant, key)
    if membership.role == Role.ADMIN and not _other_admins(session, tenant, user):
        raise _last_admin(user, tenant)
    session.delete(membership)
    session.flush()
    session.expire(user, ["memberships"])
    return user
