"""What the course contains: the networks (registry), the training runs (experiments), where each comes from
(provenance), and the layer-shape printouts (summary)."""
