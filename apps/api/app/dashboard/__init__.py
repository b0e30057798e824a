"""The web dashboard: sign-in sessions and the pages (plain ES modules and CSS in `static/`).

Kept free of imports so `security` can use `dashboard.sessions` without a cycle; the app
factory mounts it with `dashboard.routes.install`.
"""
