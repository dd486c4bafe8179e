"""Directory services: the ``Directory`` port and one module per kind of directory.

``base.py`` holds the protocol, ``ldap.py`` (LDAP / Active Directory, ldap3) and ``static.py``
(a list kept in Postroom) implement it, and ``registry.py`` picks one by the directory's type.
Microsoft Entra ID (Graph ``/users``) and Google Workspace (Admin SDK ``users.list``) fit the
same protocol: a paged listing of users with their primary address and a stable ID.
"""
