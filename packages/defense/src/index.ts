// The defense: connection priorities, subnet rules, source checks, and the LVS baselines.
