"""`foreshock rehearse`: how long each statement takes and each lock is held at production size, measured on
synthetic data shaped like production (scale/), optionally under a synthetic workload (load/)."""
