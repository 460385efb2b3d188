"""pgha.actions: what Pulumi's dynamic providers run on a live stack (rolling restarts, password rollout, the stanza
and first backup, deploys); the operations use them too."""
