"""The Integration View console: the dashboard's screens in the browser, served at ``/console``.

Plain HTML, CSS and ES modules in ``static/`` (no build step, nothing from other hosts); each
screen is one GraphQL query to ``/graphql`` with the key the browser keeps in sessionStorage.
"""
