"""Does the port compute what the original computes: the pair (pair), the checker (check), differences
(compare), the verdict policy (tolerance, policy), reports (report) and many networks at once (sweep)."""
