"""The base every layer shares: errors a user can fix, outputs written whole, paths, params, worker processes."""
