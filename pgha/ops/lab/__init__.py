"""The Swarm lab: engines in containers on this machine, and the faults of a whole host."""
