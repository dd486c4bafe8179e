"""REST API routers, one module per resource. Handlers are thin: they open one transaction and
call ``postroom.services``."""
