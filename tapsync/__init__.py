"""tapsync: product-analytics and experimentation configuration kept in git.

Read ``../shared/design/ARCHITECTURE.md`` for the shape of the package: manifests become a
desired :class:`~tapsync.model.State`, providers read a live one, the pure planner diffs
them into a :class:`~tapsync.changes.Plan`, and only the executor writes.
"""

__version__ = "0.1.0"
